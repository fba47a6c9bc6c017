"""Errors whose message is meant for the person using the app.

They live in a module without torch or gradio so that the UI layer can catch them
without importing either.
"""


class InputError(ValueError):
    """An upload or a text that cannot be used; the message is one sentence for the user."""


class ModelUnavailableError(RuntimeError):
    """A model could not be loaded; only the tabs that need it are affected."""
