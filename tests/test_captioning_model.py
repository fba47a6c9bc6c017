"""Show, Attend and Tell on a tiny config: shapes, gradients, checkpoint round trip, vocabulary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from multimodal_core.decoding import greedy_decode
from multimodal_core.models.show_attend_tell import (
    EncoderMemory,
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


@pytest.mark.parametrize("n_images", [2, 4])  # 6 rows: one pass; 12 > 8 rows: in chunks
def test_beams_share_an_images_memory_and_step_like_copies_of_it(n_images: int) -> None:
    torch.manual_seed(1)
    model = ShowAttendTell(tiny_config()).eval()
    shared = model.encode(torch.rand(n_images, 3, 32, 32)).repeat_interleave(3)
    assert shared.features.shape[0] == n_images and shared.beams == 3  # rows b*3+j: image b
    tokens = torch.randint(4, 11, (n_images * 3,))
    with torch.no_grad():
        state = model.init_state(shared)
        state.h.add_(torch.randn_like(state.h))  # beams of one image differ after a step
        out = model.step(tokens, state, shared)
        for image in range(n_images):  # the reference: each image alone, its memory copied
            rows = torch.arange(3 * image, 3 * image + 3)
            copied = EncoderMemory(
                shared.features[[image] * 3], shared.keys[[image] * 3]
            )  # beams 1: a memory row per decoding row
            alone = model.step(tokens[rows], state.index_select(rows), copied)
            assert torch.allclose(out.attention[rows], alone.attention, atol=1e-6)
            assert torch.allclose(out.logits[rows], alone.logits, atol=1e-5)
            first = model.init_state(shared.index_select(rows)).h[0]
            assert torch.allclose(model.init_state(copied).h[0], first)

    # Dropping whole images keeps the sharing; any other choice of rows gets a row each.
    kept = shared.index_select(torch.tensor([3, 4, 5]))
    assert kept.beams == 3 and torch.equal(kept.features, shared.features[1:2])
    picked = shared.index_select(torch.tensor([4, 0, 5]))
    assert picked.beams == 1 and torch.equal(picked.features, shared.features[[1, 0, 1]])
    misaligned = shared.index_select(torch.tensor([1, 2, 3]))
    assert misaligned.beams == 1 and torch.equal(misaligned.keys, shared.keys[[0, 0, 1]])


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
    assert loaded.encoder.cnn[0].weight.is_contiguous(memory_format=torch.channels_last)
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
