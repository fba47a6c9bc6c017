"""A task's model choices, declared once: the tab's radio, the CLI's ``--model``, the HTTP
endpoint's ``model`` argument and the default that ``MMC_PRESET`` picks all read it.

Every choice has a short key (``"builtin"``, ``"blip"``), the same kind of key in every task.
"""

from __future__ import annotations

from dataclasses import dataclass

from multimodal_core.errors import InputError
from multimodal_core.settings import PRESET_CHOICES, get_settings


@dataclass(frozen=True)
class ModelChoice:
    """One way a task can answer."""

    key: str
    """What the tab, the CLI and the endpoint take, e.g. ``"builtin"``."""
    label: str
    """Shown in the tab, e.g. "Built-in: Show, Attend and Tell (synthetic world, offline)"."""
    models: tuple[str, ...]
    """The hub models it runs (the zero-shot localizer runs two)."""
    pretrained: bool = False
    """Whether its models come from the Hugging Face Hub (so may need the internet)."""


@dataclass(frozen=True)
class ModelChoices:
    """A task's choices, in the order the tab lists them, and which one each preset picks."""

    choices: tuple[ModelChoice, ...]
    presets: dict[str, str]
    """``MMC_PRESET`` value -> the key it picks; every preset must name one."""

    def __post_init__(self) -> None:
        keys = [choice.key for choice in self.choices]
        if len(set(keys)) != len(keys):
            raise ValueError(f"model choice keys must be unique: {keys}")
        if set(self.presets) != set(PRESET_CHOICES):
            raise ValueError(f"presets must name a choice for each of {PRESET_CHOICES}")
        if not set(self.presets.values()) <= set(keys):
            raise ValueError(f"a preset names no declared choice: {self.presets}")
        if self.get(self.presets["builtin"]).pretrained:
            raise ValueError("the builtin preset must pick a built-in model (it works offline)")

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(choice.key for choice in self.choices)

    def get(self, key: str) -> ModelChoice:
        """The choice called ``key``; InputError (one sentence) for any other."""
        for choice in self.choices:
            if choice.key == key:
                return choice
        raise InputError(f"Unknown model {key!r}; choose one of: {', '.join(self.keys)}.")

    def default(self) -> str:
        """The key that the configured ``MMC_PRESET`` picks."""
        return self.presets[get_settings().preset]

    def labelled(self) -> list[tuple[str, str]]:
        """(label, key) pairs, as a Gradio radio or dropdown takes them."""
        return [(choice.label, choice.key) for choice in self.choices]
