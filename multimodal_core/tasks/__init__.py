"""The public, typed API of each task, called by the tabs, the CLI, the evaluation and the benches.

Task modules declare their models in the shared hub when imported; :data:`TASK_MODULES` names
them so that the status can list every model before any tab has been used.
"""

import importlib

TASK_MODULES: tuple[str, ...] = (
    "captioning",
    "vqa",
    "text_to_image",
    "localization",
    "voice_to_face",
    "sound",
)


def import_all() -> None:
    """Import every task module, registering its models in the hub."""
    for name in TASK_MODULES:
        importlib.import_module(f"multimodal_core.tasks.{name}")
