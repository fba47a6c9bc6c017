"""What the shared core holds, where, and which library versions serve it; first, in words, what
each tab's models can do on this machine."""

from __future__ import annotations

import importlib
import platform
from dataclasses import asdict, dataclass
from importlib import metadata

import torch

from multimodal_core import hub, registry, tasks
from multimodal_core.settings import get_settings
from multimodal_core.tasks import availability

LIBRARIES = ("torch", "gradio", "transformers", "diffusers", "librosa", "numpy")
STATUS_COLUMNS = ["model", "task", "state", "device", "dtype", "memory (MB)", "load (s)", "error"]


def model_rows() -> list[list]:
    """One row per registered model, in :data:`STATUS_COLUMNS` order."""
    tasks.import_all()
    return [list(asdict(row).values()) for row in hub.status()]


def environment() -> dict[str, str]:
    """Device, preset and library versions (read from metadata: importing transformers is slow)."""
    device = hub.default_hub().device
    facts = {
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else "none",
        "preset": get_settings().preset,
        "python": platform.python_version(),
    }
    for name in LIBRARIES:
        try:
            facts[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            facts[name] = "not installed"
    return facts


@dataclass(frozen=True)
class ChoiceState:
    """One model choice of one tab, in words."""

    tab: str
    choice: str
    state: str
    """"ready", "loads on first use", "downloads on first use", "needs internet" or
    "failed: <why>"."""


def _in_words(
    names: tuple[str, ...],
    rows: dict[str, hub.ModelStatus],
    found: dict[str, availability.Availability],
) -> str:
    """One choice's state from the hub's rows and the start-up probe's answer."""
    failed = [rows[name].error for name in names if rows[name].state == "failed"]
    if failed:
        return f"failed: {failed[0]}"
    if all(rows[name].state == "loaded" for name in names):
        return "ready"
    if any(name in found and not found[name].loads for name in names):
        return availability.NEEDS_INTERNET
    if any(name in found and found[name].how == "downloads" for name in names):
        return "downloads on first use"
    return "loads on first use"


def choice_states() -> list[ChoiceState]:
    """Every model choice of every tab, in the app's order, with its state in words."""
    tasks.import_all()
    found = availability.result()
    rows = {row.name: row for row in hub.status()}
    states = []
    for family in registry.FAMILIES:
        choices = getattr(
            importlib.import_module(f"multimodal_core.tasks.{family.name}"), "CHOICES", None
        )
        for choice in () if choices is None else choices.choices:
            state = _in_words(choice.models, rows, found)
            states.append(ChoiceState(family.title, choice.label, state))
    return states
