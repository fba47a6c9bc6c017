"""The pretrained captioning backend, offline: a tiny random BLIP of the real classes.

Weights are random, so only the plumbing is tested (loading, beams, scores, errors), not quality.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from multimodal_core.backends.captioning import PretrainedCaptioner, load_captioner
from multimodal_core.errors import ModelUnavailableError

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "a", "dog", "cat", "on", "the",
         "left", "right", "red", "background", "##s"]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_blip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random BlipForConditionalGeneration with its processor, saved to a folder."""
    import torch
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    torch.manual_seed(0)
    vocab = {w: i for i, w in enumerate(WORDS)}
    tokenizer = BertTokenizer(vocab=vocab, bos_token="[DEC]", model_max_length=32)
    text = dict(vocab_size=len(WORDS), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=40, bos_token_id=5,
                sep_token_id=3, pad_token_id=0)  # fmt: skip
    vision = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                  num_attention_heads=2, image_size=32, patch_size=8)  # fmt: skip
    model = BlipForConditionalGeneration(
        BlipConfig(text_config=text, vision_config=vision, projection_dim=16)
    )
    folder = tmp_path_factory.mktemp("tiny-blip")
    model.save_pretrained(folder)
    processor = BlipProcessor(BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer)
    processor.save_pretrained(folder)
    return folder


def test_beams_come_back_sorted_with_scores(tiny_blip: Path) -> None:
    captioner = load_captioner(str(tiny_blip))
    assert isinstance(captioner, PretrainedCaptioner)
    image = np.random.default_rng(0).random((48, 64, 3), dtype=np.float32)
    beams = captioner.caption(image, beam_size=3, max_new_tokens=6)
    assert len(beams) == 3
    assert [b.score for b in beams] == sorted((b.score for b in beams), reverse=True)
    for beam in beams:
        assert isinstance(beam.text, str) and "[DEC]" not in beam.text
        assert 1 <= len(beam.tokens) == len(beam.token_log_probs) <= 6
        assert beam.log_prob == pytest.approx(sum(beam.token_log_probs), abs=1e-4)
        assert all(lp <= 1e-6 for lp in beam.token_log_probs)


def test_greedy_and_device_moves(tiny_blip: Path) -> None:
    import torch

    captioner = load_captioner(str(tiny_blip)).to("cpu", torch.float32).eval()
    (only,) = captioner.caption(np.zeros((32, 32, 3), np.float32), beam_size=1, max_new_tokens=5)
    assert only.log_prob == pytest.approx(sum(only.token_log_probs), abs=1e-4)
    assert only.score == pytest.approx(only.log_prob / len(only.token_log_probs), abs=1e-4)
    with pytest.raises(ValueError, match="beam_size"):
        captioner.caption(np.zeros((32, 32, 3), np.float32), beam_size=11)


def test_offline_missing_model_fails_fast_with_a_sentence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="cannot be reached") as caught:
        load_captioner("Salesforce/blip-image-captioning-base")
    assert time.perf_counter() - start < 10
    assert "built-in model" in str(caught.value)
