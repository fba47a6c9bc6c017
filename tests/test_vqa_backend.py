"""The pretrained VQA backend, offline: tiny random ViLT and BLIP VQA models of the real classes.

Weights are random, so only the plumbing is tested (loading, top-k, scores, errors), not quality.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from multimodal_core.backends import loading
from multimodal_core.backends.vqa import PretrainedVQA, load_vqa
from multimodal_core.errors import ModelUnavailableError

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "is", "there", "a", "dog",
         "cat", "what", "color", "yes", "no", "red", "blue", "two", "?"]  # fmt: skip
LABELS = ["yes", "no", "dog", "cat", "red", "blue", "two"]


def _tokenizer(**kwargs: object):
    from transformers import BertTokenizer

    # vocab_file= is ignored by transformers 5 (an all-[UNK] tokenizer); vocab= works offline.
    return BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)}, model_max_length=32, **kwargs)


@pytest.fixture(scope="module")
def tiny_vilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random ViltForQuestionAnswering with its processor, saved to a folder."""
    import torch
    from transformers import (
        ViltConfig,
        ViltForQuestionAnswering,
        ViltImageProcessor,
        ViltProcessor,
    )

    torch.manual_seed(0)
    config = ViltConfig(
        vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, image_size=32, patch_size=8, max_position_embeddings=32,
        num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
        label2id={a: i for i, a in enumerate(LABELS)},
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("tiny-vilt")
    ViltForQuestionAnswering(config).save_pretrained(folder)
    image_processor = ViltImageProcessor(size={"shortest_edge": 32}, size_divisor=8)
    ViltProcessor(image_processor, _tokenizer()).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_blip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random BlipForQuestionAnswering with its processor, saved to a folder."""
    import torch
    from transformers import (
        BlipConfig,
        BlipForQuestionAnswering,
        BlipImageProcessor,
        BlipProcessor,
    )

    torch.manual_seed(0)
    text = dict(vocab_size=len(WORDS), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=40, bos_token_id=5,
                sep_token_id=3, pad_token_id=0)  # fmt: skip
    vision = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                  num_attention_heads=2, image_size=32, patch_size=8)  # fmt: skip
    model = BlipForQuestionAnswering(
        BlipConfig(text_config=text, vision_config=vision, projection_dim=16)
    )
    folder = tmp_path_factory.mktemp("tiny-blip-vqa")
    model.save_pretrained(folder)
    processor = BlipProcessor(
        BlipImageProcessor(size={"height": 32, "width": 32}), _tokenizer(bos_token="[DEC]")
    )
    processor.save_pretrained(folder)
    return folder


def test_vilt_returns_top_k_from_its_labels(tiny_vilt: Path) -> None:
    model = load_vqa(str(tiny_vilt))
    assert isinstance(model, PretrainedVQA) and model.model_type == "vilt"
    image = np.random.default_rng(0).random((48, 64, 3), dtype=np.float32)
    result = model.answer(image, "is there a dog?", k=5)
    assert result.score_kind == "sigmoid" and len(result.answers) == 5
    assert all(a in LABELS and 0.0 <= p <= 1.0 for a, p in result.answers)
    scores = [p for _, p in result.answers]
    assert scores == sorted(scores, reverse=True)
    assert len(model.answer(image, "what color?", k=3).answers) == 3


def test_blip_returns_beams_with_probabilities(tiny_blip: Path) -> None:
    import torch

    model = load_vqa(str(tiny_blip)).to("cpu", torch.float32).eval()
    assert model.model_type == "blip" and "model" in model.components
    result = model.answer(np.zeros((32, 40, 3), np.float32), "is there a cat?", k=3)
    assert result.score_kind == "sequence probability"
    assert 1 <= len(result.answers) <= 3
    assert all(isinstance(a, str) and "[DEC]" not in a for a, _ in result.answers)
    assert all(0.0 <= p <= 1.0 for _, p in result.answers)
    scores = [p for _, p in result.answers]
    assert scores == sorted(scores, reverse=True)
    with pytest.raises(ValueError, match="k must be"):
        model.answer(np.zeros((32, 32, 3), np.float32), "is there a cat?", k=0)


def test_offline_missing_model_fails_fast_with_a_sentence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="cannot be reached") as caught:
        load_vqa("dandelin/vilt-b32-finetuned-vqa")
    assert time.perf_counter() - start < 10
    assert "built-in model" in str(caught.value)


def test_unreachable_hub_is_not_waited_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setattr(loading, "hub_reachable", lambda timeout=2.0: False)
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="cannot be reached"):
        load_vqa("Salesforce/blip-vqa-base")
    assert time.perf_counter() - start < 10


def test_a_folder_of_another_kind_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ModelUnavailableError):
        load_vqa(str(tmp_path))
