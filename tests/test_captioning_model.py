"""Show, Attend and Tell on a tiny config: shapes, gradients, checkpoint round trip, vocabulary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from multimodal_core.decoding import greedy_decode
from multimodal_core.models.show_attend_tell import (
    ShowAttendTell,
    ShowAttendTellConfig,
    Vocabulary,
)


def tiny_config(**overrides: object) -> ShowAttendTellConfig:
    values = dict(
        vocab_size=11,
        image_size=32,
        encoder_channels=(4, 8),
        encoder_dim=8,
        embed_dim=8,
        attention_dim=8,
        decoder_dim=16,
        max_length=6,
    )
    values.update(overrides)
    return ShowAttendTellConfig(**values)


def test_forward_shapes_no_nans_and_every_parameter_learns() -> None:
    torch.manual_seed(0)
    config = tiny_config()
    model = ShowAttendTell(config)
    images = torch.rand(3, 3, 32, 32)
    captions = torch.tensor([[1, 4, 5, 6, 2], [1, 7, 2, 0, 0], [1, 8, 9, 2, 0]])
    out = model(images, captions)
    assert out.logits.shape == (3, 4, config.vocab_size)
    assert out.attention.shape == (3, 4, config.num_regions) == (3, 4, 64)
    assert torch.isfinite(out.loss) and torch.isfinite(out.logits).all()
    assert torch.allclose(out.attention.sum(-1), torch.ones(3, 4), atol=1e-5)
    assert out.loss > out.cross_entropy  # the attention regulariser is on
    out.loss.backward()
    missing = [
        n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0
    ]
    assert missing == []


def test_rejects_wrong_inputs() -> None:
    model = ShowAttendTell(tiny_config())
    with pytest.raises(ValueError, match="expected images of shape"):
        model.encode(torch.rand(1, 3, 31, 32))
    with pytest.raises(ValueError, match="captions must be"):
        model(torch.rand(2, 3, 32, 32), torch.tensor([[1, 2]]))


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"vocab_size": 4}, "vocab_size"),
        ({"image_size": 30}, "divisible"),
        ({"dropout": 1.0}, "dropout"),
        ({"end_id": 1}, "distinct"),
        ({"decoder_dim": 0}, "decoder_dim"),
    ],
)
def test_config_validation(overrides: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tiny_config(**overrides)


def test_save_load_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(1)
    # from_pretrained returns a channels_last model: compare like with like, bit for bit.
    model = ShowAttendTell(tiny_config()).to(memory_format=torch.channels_last).eval()
    model.save_pretrained(tmp_path, dtype=torch.float32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    loaded = ShowAttendTell.from_pretrained(tmp_path)
    assert loaded.config == model.config and not loaded.training
    images = torch.rand(2, 3, 32, 32)
    captions = torch.tensor([[1, 4, 5, 2], [1, 6, 2, 0]])
    with torch.no_grad():
        assert torch.equal(model(images, captions).logits, loaded(images, captions).logits)
    assert [h.tokens for h in greedy_decode(model, images)] == [
        h.tokens for h in greedy_decode(loaded, images)
    ]


def test_float16_checkpoint_is_close_and_half_the_size(tmp_path: Path) -> None:
    torch.manual_seed(2)
    model = ShowAttendTell(tiny_config()).eval()
    model.save_pretrained(tmp_path / "full", dtype=torch.float32)
    model.save_pretrained(tmp_path / "half")
    full = (tmp_path / "full" / "model.safetensors").stat().st_size
    half = (tmp_path / "half" / "model.safetensors").stat().st_size
    assert half < 0.6 * full
    loaded = ShowAttendTell.from_pretrained(tmp_path / "half")
    assert next(loaded.parameters()).dtype == torch.float32
    images = torch.rand(2, 3, 32, 32)
    captions = torch.tensor([[1, 4, 5, 2], [1, 6, 2, 0]])
    with torch.no_grad():
        assert torch.allclose(
            model(images, captions).logits, loaded(images, captions).logits, atol=1e-2
        )


def test_load_is_strict(tmp_path: Path) -> None:
    ShowAttendTell(tiny_config()).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["surprise"] = 1
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="surprise"):
        ShowAttendTell.from_pretrained(tmp_path)
    del config["surprise"]
    config["decoder_dim"] = 32  # weights no longer fit
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(RuntimeError, match="size mismatch"):
        ShowAttendTell.from_pretrained(tmp_path)


def test_vocabulary(tmp_path: Path) -> None:
    vocab = Vocabulary.build(["A dog on the left.", "a cat above a dog"])
    assert vocab.words[:4] == ["<pad>", "<start>", "<end>", "<unk>"]
    ids = vocab.encode("a dog on the piano")
    assert ids[0] == 1 and ids[-1] == 2 and ids[-2] == 3  # piano is unknown
    assert vocab.decode(ids) == ["a", "dog", "on", "the", "<unk>"]
    assert len(vocab.encode("a dog on the left", max_length=3)) == 4  # <start> a dog <end>
    vocab.save(tmp_path)
    assert Vocabulary.from_pretrained(tmp_path).words == vocab.words
    with pytest.raises(ValueError, match="start with"):
        Vocabulary(["a", "b"])


def test_region_head_adds_its_loss_and_learns() -> None:
    torch.manual_seed(3)
    model = ShowAttendTell(tiny_config(region_classes=5, region_loss_weight=0.5))
    images = torch.rand(2, 3, 32, 32)
    captions = torch.tensor([[1, 4, 5, 2], [1, 6, 2, 0]])
    labels = torch.randint(0, 5, (2, model.config.num_regions))
    out = model(images, captions, labels)
    assert out.region_loss is not None and torch.isfinite(out.region_loss)
    assert out.loss > out.cross_entropy + 0.5 * out.region_loss - 1e-4
    out.loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match="region_classes"):
        ShowAttendTell(tiny_config())(images, captions, labels)
