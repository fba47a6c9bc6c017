"""Loading pretrained transformers models without ever waiting on an unreachable Hub.

Every pretrained backend goes through :func:`load_pretrained`: a local folder or a cached copy
loads offline; a model that is neither gives one sentence pointing to the built-in model.
transformers is imported only here, inside the call.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from multimodal_core.errors import ModelUnavailableError

logger = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}


def hub_reachable(timeout: float = 2.0) -> bool:
    """False when HF_HUB_OFFLINE is set or the Hub's host does not accept a connection."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        return False
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:
        return False


def load_pretrained(
    kind: str,
    model_id: str,
    setting: str,
    model_classes: Mapping[str, str],
    processor_class: str = "AutoProcessor",
) -> tuple[Any, Any, str]:
    """(model in eval mode, processor, model_type) from a Hub id or a local folder, on the CPU.

    ``model_classes`` maps the config's ``model_type`` to the transformers class to build;
    other types are refused. ``kind`` and ``setting`` name the model in the sentences.
    """
    local = Path(model_id).is_dir()
    local_only = local or not hub_reachable()
    try:
        import transformers

        config = transformers.AutoConfig.from_pretrained(model_id, local_files_only=local_only)
        if config.model_type not in model_classes:
            supported = " or ".join(model_classes)
            raise ModelUnavailableError(
                f"The {kind} model's type {config.model_type!r} is not supported; "
                f"choose a {supported} model ({setting})."
            )
        model_class = getattr(transformers, model_classes[config.model_type])
        processor = getattr(transformers, processor_class).from_pretrained(
            model_id, local_files_only=local_only
        )
        model = model_class.from_pretrained(model_id, local_files_only=local_only)
    except ModelUnavailableError:
        raise
    except (OSError, ValueError) as error:
        logger.info("cannot load %s: %s", model_id, error)
        if local_only and not local:
            raise ModelUnavailableError(
                f"The pretrained {kind} model {model_id} is not on this machine and the "
                "Hugging Face Hub cannot be reached; use the built-in model, or connect to the "
                "internet once to download it."
            ) from error
        raise ModelUnavailableError(
            f"The pretrained {kind} model {model_id} could not be loaded "
            f"({type(error).__name__}); check {setting} or use the built-in model."
        ) from error
    logger.info("loaded pretrained %s model %s (%s)", kind, model_id, config.model_type)
    return model.eval(), processor, config.model_type
