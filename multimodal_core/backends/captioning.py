"""Pretrained captioning (BLIP, or GIT as a second choice) through transformers.

The Hub ids come from settings (``MMC_CAPTION_MODEL``, ``MMC_CAPTION_MODEL_ALT``); a local folder
with the same files works too (the tests build a tiny random BLIP there). With no network the
load fails at once with one sentence instead of waiting on the Hub: when ``HF_HUB_OFFLINE`` is set
or the Hub's host does not answer within two seconds, only the local cache is consulted.
transformers is imported inside the functions: it takes seconds to import, and the app starts
without it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from multimodal_core import hub
from multimodal_core.backends.loading import load_pretrained

logger = logging.getLogger(__name__)

MAX_NEW_TOKENS = 30  # COCO-style captions are 8-15 words; 30 word pieces leave room


@dataclass(frozen=True)
class PretrainedCaption:
    """One beam: the text, its total log probability, HF's length-normalised score
    (``log_prob / n_tokens`` with the default length_penalty 1.0), and every generated token
    (word pieces, <end> included) with its log probability."""

    text: str
    log_prob: float
    score: float
    tokens: list[str]
    token_log_probs: list[float]


class PretrainedCaptioner(hub.ModelWrapper):
    """A transformers captioning model and its processor, behind one ``caption`` call."""

    def __init__(self, model: Any, processor: Any, model_id: str) -> None:
        self.model = model
        self.processor = processor
        self.model_id = model_id

    @torch.inference_mode()
    def caption(
        self, image: np.ndarray, beam_size: int = 5, max_new_tokens: int = MAX_NEW_TOKENS
    ) -> list[PretrainedCaption]:
        """``beam_size`` captions of an RGB image (H, W, 3) float in [0, 1], best first."""
        if not 1 <= beam_size <= 10:
            raise ValueError(f"beam_size must be between 1 and 10, got {beam_size}")
        pixels = (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)
        inputs = self.processor(images=pixels, return_tensors="pt")
        param = next(self.model.parameters())
        pixel_values = inputs["pixel_values"].to(param.device, param.dtype)
        extra = {"num_beams": beam_size, "num_return_sequences": beam_size} if beam_size > 1 else {}
        out = self.model.generate(
            pixel_values=pixel_values,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            output_scores=True,
            return_dict_in_generate=True,
            **extra,
        )
        # Log probability of each generated token: (k, new_tokens).
        token_lp = self.model.compute_transition_scores(
            out.sequences,
            out.scores,
            getattr(out, "beam_indices", None),
            normalize_logits=beam_size == 1,  # beam search already stores log-softmax scores
        )
        generated = out.sequences[:, -token_lp.shape[1] :]  # (k, new_tokens)
        config = self.model.generation_config
        end_ids = (
            config.eos_token_id if isinstance(config.eos_token_id, list) else [config.eos_token_id]
        )
        pad_id = config.pad_token_id
        captions = []
        for row in range(generated.shape[0]):
            ids, lps = [], []
            for token, lp in zip(generated[row].tolist(), token_lp[row].tolist(), strict=True):
                if token == pad_id and token not in end_ids:
                    break
                ids.append(token)
                lps.append(float(lp))
                if token in end_ids:
                    break
            total = float(sum(lps))
            if getattr(out, "sequences_scores", None) is not None:
                score = float(out.sequences_scores[row])
            else:
                score = total / max(len(lps), 1)
            text = self.processor.decode(ids, skip_special_tokens=True).strip()
            pieces = self.processor.tokenizer.convert_ids_to_tokens(ids)
            captions.append(PretrainedCaption(text, total, score, pieces, lps))
        captions.sort(key=lambda c: -c.score)
        return captions


def load_captioner(model_id: str) -> PretrainedCaptioner:
    """Load a BLIP or GIT captioner from a Hub id or a local folder, on the CPU.

    Raises ModelUnavailableError with one sentence when it cannot be had (offline and not
    cached, or an unknown id); it never waits on an unreachable Hub.
    """
    model, processor, _ = load_pretrained(
        "captioning",
        model_id,
        "MMC_CAPTION_MODEL",
        {"blip": "BlipForConditionalGeneration", "git": "GitForCausalLM"},
    )
    return PretrainedCaptioner(model, processor, model_id)
