"""What the shared core holds, where, and which library versions serve it."""

from __future__ import annotations

import platform
from dataclasses import asdict
from importlib import metadata

import torch

from multimodal_core import hub, tasks
from multimodal_core.settings import get_settings

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
