"""Pretrained CLIP (Radford et al. 2021) through transformers: one space for any photo and any
words, for the Search tab's pretrained choice and its zero-shot classification.

The Hub id comes from settings (``MMC_CLIP_MODEL``); a local folder with the same files works too
(the tests build a tiny random CLIPModel there). Only ``CLIPModel`` with ``CLIPProcessor`` is
built, never remote code. With no network the load fails at once with one sentence (see
:func:`multimodal_core.backends.loading.hub_reachable`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from multimodal_core import hub
from multimodal_core.backends.loading import load_pretrained
from multimodal_core.settings import get_settings

BATCH = 32  # pictures per forward pass: a 100-picture gallery in four


class ClipSpace(hub.ModelWrapper):
    """A transformers CLIPModel and its processor: unit embeddings of pictures and texts."""

    def __init__(self, model: Any, processor: Any, model_id: str) -> None:
        self.model = model
        self.processor = processor
        self.model_id = model_id

    def _param(self) -> torch.Tensor:
        return next(self.model.parameters())

    @torch.inference_mode()
    def embed_pictures(self, pictures: Sequence[np.ndarray]) -> torch.Tensor:
        """RGB pictures (H, W, 3), uint8 or float in [0, 1] -> (N, E) unit vectors (CPU)."""
        param = self._param()
        out = []
        for i in range(0, len(pictures), BATCH):
            chunk = [_uint8(p) for p in pictures[i : i + BATCH]]
            pixels = self.processor(images=chunk, return_tensors="pt")["pixel_values"]
            pixels = pixels.to(param.device, param.dtype)
            features = self.model.get_image_features(pixel_values=pixels)
            out.append(F.normalize(_tensor(features).float(), dim=-1).cpu())
        return torch.cat(out) if out else torch.zeros((0, self.model.config.projection_dim))

    @torch.inference_mode()
    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Texts -> (N, E) unit vectors (CPU); longer texts are cut at CLIP's 77 tokens."""
        param = self._param()
        inputs = self.processor(text=list(texts), return_tensors="pt", padding=True,
                                truncation=True)  # fmt: skip
        inputs = {k: v.to(param.device) for k, v in inputs.items() if k != "pixel_values"}
        features = self.model.get_text_features(**inputs)
        return F.normalize(_tensor(features).float(), dim=-1).cpu()

    @property
    def logit_scale(self) -> float:
        """CLIP's learned temperature (100 for the released models): cosine -> logit."""
        return float(self.model.logit_scale.detach().exp().float().clamp(max=100.0))


def _tensor(features: Any) -> torch.Tensor:
    """transformers 5 may return an output object where 4 returned the tensor."""
    if isinstance(features, torch.Tensor):
        return features
    return features.pooler_output if hasattr(features, "pooler_output") else features[0]


def _uint8(picture: np.ndarray) -> np.ndarray:
    if picture.dtype == np.uint8:
        return picture
    return (np.clip(picture, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def load_clip(model_id: str | None = None) -> ClipSpace:
    """CLIP from ``model_id`` (default: the ``clip_model`` setting), on the CPU. Raises
    ModelUnavailableError with one sentence when it cannot be had; never waits on the Hub."""
    model_id = model_id or get_settings().clip_model
    model, processor, _ = load_pretrained(
        "CLIP", model_id, "MMC_CLIP_MODEL", {"clip": "CLIPModel"}, "CLIPProcessor"
    )
    return ClipSpace(model, processor, model_id)
