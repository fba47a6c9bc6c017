"""Checkpoints of the built-in models, written and read in one place.

A released checkpoint is the Hub convention, ``config.json`` + ``model.safetensors`` (plus a
model's own JSON files, such as a vocabulary), in a local folder or a Hub repository. Every model
file gets it by subclassing :class:`PretrainedModel` and its config by subclassing
:class:`ConfigMixin`; this module holds no model.

Written here rather than taken from ``huggingface_hub.PyTorchModelHubMixin``: that mixin loads
non-strictly by default, drops unknown config keys silently, and has no option to store a float32
model's weights as float16, which is how the checkpoints are shipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from safetensors.torch import load_file, save_file
from torch import nn

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"

C = TypeVar("C", bound="ConfigMixin")
M = TypeVar("M", bound="PretrainedModel")


def resolve_file(path_or_repo: str | os.PathLike, filename: str) -> str:
    """A local checkpoint file, or the same file downloaded from a Hub repository."""
    if Path(path_or_repo).is_dir():
        path = Path(path_or_repo) / filename
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing")
        return str(path)
    from huggingface_hub import hf_hub_download

    return hf_hub_download(str(path_or_repo), filename)


def read_json(path_or_repo: str | os.PathLike, filename: str) -> Any:
    """A JSON file of a checkpoint folder or Hub repository."""
    return json.loads(Path(resolve_file(path_or_repo, filename)).read_text(encoding="utf-8"))


def write_json(directory: str | os.PathLike, filename: str, values: Any, indent: int = 2) -> None:
    """Write ``values`` to ``directory/filename`` as the shipped files have it: a final newline."""
    text = json.dumps(values, indent=indent) + "\n"
    (Path(directory) / filename).write_text(text, encoding="utf-8")


class ConfigMixin:
    """The JSON round trip of a ``<Name>Config`` dataclass; its ``__post_init__`` validates."""

    def to_dict(self) -> dict[str, Any]:
        """The fields in declaration order, tuples as lists (what JSON can hold)."""
        values = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}

    @classmethod
    def from_dict(cls: type[C], values: Mapping[str, Any]) -> C:
        """Strict: an unknown key is an error, never silently dropped (it may be a typo, or a
        setting of a newer version of the model that this code would ignore)."""
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys: {unknown}")
        return cls(**values)


class PretrainedModel(nn.Module):
    """An ``nn.Module`` built from ``self.config`` with ``save_pretrained`` / ``from_pretrained``.

    A subclass names its config class in ``config_class`` and may set ``memory_format``; one
    that releases only a part of itself (a GAN's generator) overrides ``_released_module`` and
    ``_from_config``. Loading is strict: an unknown config key, or a weight that is missing,
    unexpected or of the wrong shape, raises.
    """

    config_class: ClassVar[type[ConfigMixin]]
    # The layout from_pretrained puts 4-D weights in; None keeps the one they were built with.
    memory_format: ClassVar[torch.memory_format | None] = None
    config: ConfigMixin

    def _released_module(self) -> nn.Module:
        """The module whose weights a checkpoint holds: the whole model unless a part of it is
        needed for training alone."""
        return self

    @classmethod
    def _from_config(cls: type[M], config: ConfigMixin) -> M:
        """The model that a released checkpoint's weights fill."""
        return cls(config)

    def save_pretrained(
        self, directory: str | os.PathLike, dtype: torch.dtype = torch.float16
    ) -> None:
        """Write config.json and model.safetensors, floating tensors as ``dtype`` (float16 by
        default: half the size on disk); integer buffers keep their dtype."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_json(directory, CONFIG_NAME, self.config.to_dict())
        state = {
            k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
            for k, v in self._released_module().state_dict().items()
        }
        save_file(state, str(directory / WEIGHTS_NAME), metadata={"format": "pt"})

    @classmethod
    def from_pretrained(
        cls: type[M], path_or_repo: str | os.PathLike, map_location: str = "cpu"
    ) -> M:
        """Load a checkpoint folder or Hub repository; every key must match. Returns eval mode."""
        model = cls._from_config(cls.config_class.from_dict(read_json(path_or_repo, CONFIG_NAME)))
        module = model._released_module()
        state = load_file(resolve_file(path_or_repo, WEIGHTS_NAME), device=map_location)
        # load_state_dict copies each tensor into the model's own, so float16 weights on disk
        # load in the dtypes the model was built with (float32).
        module.load_state_dict(state, strict=True)
        return model.to(map_location, memory_format=cls.memory_format).eval()
