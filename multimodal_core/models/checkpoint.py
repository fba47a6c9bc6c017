"""Where a built-in checkpoint's files are: a local folder, or the same files in a Hub repository.

Every model file writes and reads the Hub convention, ``config.json`` + ``model.safetensors``;
this module is the one place that finds those files (it holds no model).
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def resolve_file(path_or_repo: str | os.PathLike, filename: str) -> str:
    """A local checkpoint file, or the same file downloaded from a Hub repository."""
    if Path(path_or_repo).is_dir():
        path = Path(path_or_repo) / filename
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing")
        return str(path)
    from huggingface_hub import hf_hub_download

    return hf_hub_download(str(path_or_repo), filename)
