"""Pretrained visual question answering (ViLT, or BLIP VQA as a second choice) via transformers.

The Hub ids come from settings (``MMC_VQA_MODEL``, ``MMC_VQA_MODEL_ALT``); a local folder with the
same files works too (the tests build tiny random models there). With no network the load fails
at once with one sentence instead of waiting on the Hub (see
:func:`multimodal_core.backends.loading.hub_reachable`). transformers is imported inside the
functions: it takes seconds to import, and the app starts without it.

The two families give top-k answers differently, and each says what its numbers mean:
- ViLT classifies over a fixed answer list with one sigmoid per answer (it was trained with
  soft VQA scores and binary cross-entropy), so its top-k are the k highest sigmoid scores; they
  need not sum to one.
- BLIP generates the answer as text; its top-k are k beams, each with the probability of its
  whole answer (the exponential of the summed token log probabilities).
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

MAX_ANSWER_TOKENS = 10  # VQA answers are one to three words
MODEL_TYPES = ("vilt", "blip")


@dataclass(frozen=True)
class PretrainedAnswer:
    """The top answers, best first, with scores in [0, 1] and what the scores are."""

    answers: list[tuple[str, float]]
    score_kind: str  # "sigmoid" (ViLT) or "sequence probability" (BLIP beams)


class PretrainedVQA(hub.ModelWrapper):
    """A transformers VQA model and its processor, behind one ``answer`` call."""

    def __init__(self, model: Any, processor: Any, model_id: str, model_type: str) -> None:
        if model_type not in MODEL_TYPES:
            raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")
        self.model = model
        self.processor = processor
        self.model_id = model_id
        self.model_type = model_type

    def _inputs(self, image: np.ndarray, question: str) -> dict[str, torch.Tensor]:
        pixels = (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)
        inputs = self.processor(images=pixels, text=question, return_tensors="pt")
        param = next(self.model.parameters())
        return {
            k: v.to(param.device, param.dtype) if v.is_floating_point() else v.to(param.device)
            for k, v in inputs.items()
        }

    @torch.inference_mode()
    def answer(self, image: np.ndarray, question: str, k: int = 5) -> PretrainedAnswer:
        """The ``k`` best answers to ``question`` about an RGB image (H, W, 3) float in [0, 1]."""
        if not 1 <= k <= 10:
            raise ValueError(f"k must be between 1 and 10, got {k}")
        inputs = self._inputs(image, question)
        if self.model_type == "vilt":
            logits = self.model(**inputs).logits[0].float()  # (num_labels,)
            scores, indices = torch.sigmoid(logits).topk(min(k, logits.shape[-1]))
            labels = self.model.config.id2label
            answers = [
                (str(labels[int(i)]), float(s)) for s, i in zip(scores, indices, strict=True)
            ]
            return PretrainedAnswer(answers, "sigmoid")
        out = self.model.generate(
            pixel_values=inputs["pixel_values"],
            input_ids=inputs["input_ids"],
            attention_mask=inputs.get("attention_mask"),
            max_new_tokens=MAX_ANSWER_TOKENS,
            num_beams=k,
            num_return_sequences=k,
            length_penalty=0.0,  # sequences_scores = the summed log probability of each beam
            output_scores=True,
            return_dict_in_generate=True,
            do_sample=False,
        )
        texts = self.processor.batch_decode(out.sequences, skip_special_tokens=True)
        best: dict[str, float] = {}
        for text, score in zip(texts, out.sequences_scores.tolist(), strict=True):
            text = text.strip()
            best[text] = max(best.get(text, 0.0), float(np.exp(score)))  # beams may repeat text
        answers = sorted(best.items(), key=lambda item: -item[1])
        return PretrainedAnswer(answers, "sequence probability")


def load_vqa(model_id: str) -> PretrainedVQA:
    """Load a ViLT or BLIP VQA model from a Hub id or a local folder, on the CPU.

    Raises ModelUnavailableError with one sentence when it cannot be had (offline and not
    cached, or an unknown id); it never waits on an unreachable Hub.
    """
    model, processor, model_type = load_pretrained(
        "VQA",
        model_id,
        "MMC_VQA_MODEL",
        {"vilt": "ViltForQuestionAnswering", "blip": "BlipForQuestionAnswering"},
    )
    return PretrainedVQA(model, processor, model_id, model_type)
