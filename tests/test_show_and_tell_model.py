"""Show and Tell on a tiny config: shapes, gradients, the step API that decoding drives,
checkpoint round trip and strict loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from multimodal_core.decoding import banned_tokens, beam_search, greedy_decode
from multimodal_core.models.show_and_tell import ShowAndTell, ShowAndTellConfig

CAPTIONS = torch.tensor([[1, 4, 5, 6, 2], [1, 7, 2, 0, 0], [1, 8, 9, 2, 0]])


def tiny_config(**overrides: object) -> ShowAndTellConfig:
    values = dict(
        vocab_size=11, image_size=32, encoder_channels=(4, 8), encoder_dim=8, embed_dim=8,
        decoder_dim=16, max_length=6, image_dim=16,
    )  # fmt: skip
    values.update(overrides)
    return ShowAndTellConfig(**values)


def test_forward_shapes_no_nans_and_every_parameter_learns() -> None:
    torch.manual_seed(0)
    config = tiny_config(region_classes=5)
    model = ShowAndTell(config)
    images = torch.rand(3, 3, 32, 32)
    labels = torch.randint(0, 5, (3, config.grid_size**2))
    out = model(images, CAPTIONS, labels)
    assert out.logits.shape == (3, 4, config.vocab_size)
    assert out.attention.shape == (3, 4, 1) and not out.attention.any()  # no attention
    assert torch.isfinite(out.loss) and torch.isfinite(out.logits).all()
    assert out.region_loss is not None
    total = out.cross_entropy + out.region_loss  # weight 1.0
    assert float(out.loss.detach()) == pytest.approx(float(total.detach()), abs=1e-5)
    out.loss.backward()
    missing = [
        n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0
    ]
    assert missing == []
    with pytest.raises(ValueError, match="region_classes"):
        ShowAndTell(tiny_config())(images, CAPTIONS, labels)


def test_a_frozen_encoder_gets_no_gradient_and_keeps_its_statistics() -> None:
    torch.manual_seed(2)
    model = ShowAndTell(tiny_config(freeze_encoder=True)).train()
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    assert model.training and not model.encoder.training and model.dropout.training
    model(torch.rand(3, 3, 32, 32), CAPTIONS).loss.backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert model.image_vector.weight.grad.abs().sum() > 0  # the image pathway still learns
    after = model.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # batch-norm statistics too


def test_the_image_vector_sees_a_small_object_through_the_maximum() -> None:
    """A bright patch in one corner (one region of the grid) must move the image vector more
    than a mean over the whole grid alone would let it: the maximum carries it."""
    torch.manual_seed(3)
    model = ShowAndTell(tiny_config()).eval()
    plain = torch.full((1, 3, 32, 32), 0.5)
    spotted = plain.clone()
    spotted[:, :, :8, :8] = 1.0
    with torch.no_grad():
        memory = model.encode(torch.cat([plain, spotted]))
        vectors = model.image_vectors(memory)
        pooled = model.image_norm(
            torch.cat([memory.features.amax(1), memory.features.mean(1)], dim=1)
        )
    assert not torch.allclose(vectors[0], vectors[1])
    d = model.config.encoder_dim
    max_shift = (pooled[1, :d] - pooled[0, :d]).abs().mean()
    mean_shift = (pooled[1, d:] - pooled[0, d:]).abs().mean()
    assert max_shift > mean_shift


def test_teacher_forcing_equals_stepping_and_the_image_is_read_once() -> None:
    """``forward`` (one LSTM call over the sequence) gives the logits that ``init_state`` and
    ``step`` give one token at a time, as decoding drives them; a step never reads the image."""
    torch.manual_seed(1)
    model = ShowAndTell(tiny_config()).eval()
    images = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        forced = model(images, CAPTIONS).logits
        memory = model.encode(images)
        state = model.init_state(memory)
        other = model.encode(torch.rand(3, 3, 32, 32))  # another picture's memory
        for t in range(CAPTIONS.shape[1] - 1):
            out = model.step(CAPTIONS[:, t], state, memory)
            assert out.attention.shape == (3, 1)
            assert torch.allclose(out.logits, forced[:, t], atol=1e-5)
            assert torch.equal(model.step(CAPTIONS[:, t], state, other).logits, out.logits)
            state = out.state
        assert not torch.allclose(model.init_state(other).h, model.init_state(memory).h)


def test_memory_rows_for_beams() -> None:
    torch.manual_seed(2)
    model = ShowAndTell(tiny_config()).eval()
    memory = model.encode(torch.rand(2, 3, 32, 32))
    beams = memory.repeat_interleave(3)  # rows b*3+j read image b
    assert beams.features.shape[0] == 6
    assert torch.equal(beams.features[3:], memory.features[[1, 1, 1]])
    picked = beams.index_select(torch.tensor([4, 0]))
    assert torch.equal(picked.features, memory.features[[1, 0]])


def peaky_model(seed: int) -> ShowAndTell:
    """A random model whose output layer is scaled so its distributions are peaky, as a trained
    model's are (the attention model's decoding tests do the same)."""
    torch.manual_seed(seed)
    model = ShowAndTell(tiny_config(vocab_size=10)).eval()
    with torch.no_grad():
        model.out.weight.mul_(1.5)
        model.out.bias.normal_(0, 1.0)
    return model


@torch.inference_mode()
def endings_passed(model: ShowAndTell, image: torch.Tensor, tokens: list[int]) -> list:
    """(words, log prob) of every caption that stops early on greedy's path where <end> was the
    second choice: the only other hypotheses a beam of one keeps (decoding takes 2k candidates)."""
    config = model.config
    banned = banned_tokens(config)
    memory = model.encode(image[None])
    state, prev, total, endings = model.init_state(memory), config.start_id, 0.0, []
    for i, token in enumerate(tokens):
        out = model.step(torch.tensor([prev]), state, memory)
        logits = out.logits[0].clone()
        logits[banned] = float("-inf")
        log_probs = torch.log_softmax(logits, -1)
        if int(log_probs.topk(2).indices[1]) == config.end_id:
            endings.append((tokens[:i], total + float(log_probs[config.end_id])))
        total += float(log_probs[token])
        state, prev = out.state, token
    return endings


def test_beam_size_one_is_greedy_unless_an_ending_it_passed_scores_higher() -> None:
    """A beam of one walks greedy's path, so it returns greedy's caption, except where an early
    <end> that was the second choice on that path has a higher log prob (decoding keeps those
    in its pool of finished captions): the only way the two may differ."""
    same = better = 0
    for seed in range(8):
        model = peaky_model(seed)
        images = torch.rand(3, 3, 32, 32)
        greedy = greedy_decode(model, images)
        for image, g, (b,) in zip(images, greedy, beam_search(model, images, 1), strict=True):
            path = g.tokens + ([model.config.end_id] if g.finished else [])
            words, log_prob = max(
                [(g.tokens, g.log_prob), *endings_passed(model, image, path)], key=lambda e: e[1]
            )
            assert b.tokens == words and b.log_prob == pytest.approx(log_prob, abs=1e-5)
            if b.tokens == g.tokens:
                same += 1
                assert b.finished == g.finished
                assert b.token_log_probs == pytest.approx(g.token_log_probs, abs=1e-5)
            else:
                better += 1
    assert same >= 12 and better >= 1  # both cases were seen


def test_beams_are_sorted_with_a_one_column_attention() -> None:
    model = peaky_model(0)
    for hyps in beam_search(model, torch.rand(4, 3, 32, 32), beam_size=3):
        assert len(hyps) == 3
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        for h in hyps:
            assert h.attention.shape == (len(h.token_log_probs), 1) and not h.attention.any()
            assert h.log_prob == pytest.approx(sum(h.token_log_probs), abs=1e-4)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"vocab_size": 4}, "vocab_size"),
        ({"image_size": 30}, "divisible"),
        ({"dropout": 1.0}, "dropout"),
        ({"end_id": 1}, "distinct"),
        ({"decoder_dim": 0}, "positive"),
        ({"freeze_encoder": True, "region_classes": 3}, "frozen encoder"),
        ({"image_dim": 0}, "positive"),
    ],
)
def test_config_validation(overrides: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tiny_config(**overrides)


def test_save_load_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(4)
    model = ShowAndTell(tiny_config()).to(memory_format=torch.channels_last).eval()
    model.save_pretrained(tmp_path, dtype=torch.float32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    loaded = ShowAndTell.from_pretrained(tmp_path)
    assert loaded.config == model.config and not loaded.training
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(images, CAPTIONS[:2]).logits, loaded(images, CAPTIONS[:2]).logits)
    assert [h.tokens for h in greedy_decode(model, images)] == [
        h.tokens for h in greedy_decode(loaded, images)
    ]


def test_load_is_strict(tmp_path: Path) -> None:
    ShowAndTell(tiny_config()).save_pretrained(tmp_path)
    config_file, weights_file = tmp_path / "config.json", tmp_path / "model.safetensors"
    config = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**config, "attention_dim": 8}))  # the other model's key
    with pytest.raises(ValueError, match="attention_dim"):
        ShowAndTell.from_pretrained(tmp_path)
    config_file.write_text(json.dumps({**config, "decoder_dim": 32}))  # weights no longer fit
    with pytest.raises(RuntimeError, match="size mismatch"):
        ShowAndTell.from_pretrained(tmp_path)
    config_file.write_text(json.dumps(config))
    weights = load_file(str(weights_file))
    save_file({**weights, "decoder.attention.score.bias": torch.zeros(1)}, str(weights_file))
    with pytest.raises(RuntimeError, match="Unexpected key"):
        ShowAndTell.from_pretrained(tmp_path)
    del weights["out.bias"]
    save_file(weights, str(weights_file))
    with pytest.raises(RuntimeError, match="Missing key"):
        ShowAndTell.from_pretrained(tmp_path)
