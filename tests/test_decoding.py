"""Greedy and beam search on tiny random captioners: exactness against exhaustive search."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from multimodal_core.decoding import beam_search, greedy_decode
from multimodal_core.models.show_attend_tell import ShowAttendTell, ShowAttendTellConfig

WORDS = (4, 5, 6)  # three words; with <end> (2) the only tokens a caption may hold
END = 2


def tiny_model(
    seed: int = 0, vocab_size: int = 7, max_length: int = 3, sharpen: float = 3.0
) -> ShowAttendTell:
    """A random captioner; ``sharpen`` scales the output layer so the distributions are peaky."""
    torch.manual_seed(seed)
    config = ShowAttendTellConfig(
        vocab_size=vocab_size,
        image_size=32,
        encoder_channels=(4, 8),
        encoder_dim=8,
        embed_dim=8,
        attention_dim=8,
        decoder_dim=16,
        max_length=max_length,
    )
    model = ShowAttendTell(config).eval()
    with torch.no_grad():
        model.decoder.out.weight.mul_(sharpen)
        model.decoder.out.bias.normal_(0, 1.0)
    return model


def allowed_log_probs(logits: torch.Tensor) -> torch.Tensor:
    """Log probabilities renormalised over <end> and the words (what a caption may contain)."""
    mask = torch.full_like(logits, float("-inf"))
    mask[:, [END, *range(4, logits.shape[1])]] = 0.0
    return torch.log_softmax(logits + mask, dim=-1)


def exhaustive(
    model: ShowAttendTell, image: torch.Tensor, max_length: int
) -> list[tuple[tuple[int, ...], float]]:
    """Every caption of at most ``max_length`` tokens (ended, or cut there) with its log prob."""
    memory = model.encode(image[None])
    results = []
    vocab = range(4, model.config.vocab_size)
    for n in range(max_length + 1):
        for words in itertools.product(vocab, repeat=n):
            # cut at the limit (no <end>), or ended before it
            tokens = list(words) if n == max_length else [*words, END]
            state = model.init_state(memory)
            prev = torch.tensor([model.config.start_id])
            total = 0.0
            for tok in tokens:
                out = model.step(prev, state, memory)
                total += float(allowed_log_probs(out.logits)[0, tok])
                state, prev = out.state, torch.tensor([tok])
            results.append((tuple(words), total))
    return sorted(results, key=lambda r: -r[1])


@torch.inference_mode()
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_large_beam_equals_exhaustive_ranking(seed: int) -> None:
    model = tiny_model(seed)
    image = torch.rand(3, 32, 32)
    truth = exhaustive(model, image, max_length=3)
    assert len(truth) == 1 + 3 + 9 + 27
    hyps = beam_search(model, image[None], beam_size=60, max_length=3)[
        0
    ]  # k > 40 possible captions
    assert len(hyps) == len(truth)
    assert [tuple(h.tokens) for h in hyps] == [words for words, _ in truth]
    for h, (_, lp) in zip(hyps, truth, strict=True):
        assert h.log_prob == pytest.approx(lp, abs=1e-5)


@torch.inference_mode()
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_small_beam_never_beats_exhaustive_best(k: int) -> None:
    for seed in range(4):
        model = tiny_model(seed)
        image = torch.rand(3, 32, 32)
        best = exhaustive(model, image, max_length=3)[0][1]
        hyps = beam_search(model, image[None], beam_size=k, max_length=3)[0]
        assert len(hyps) == k
        assert hyps[0].log_prob <= best + 1e-5


@torch.inference_mode()
@pytest.mark.parametrize("alpha", [0.0, 0.7])
def test_scores_sorted_and_sum_of_token_log_probs(alpha: float) -> None:
    model = tiny_model(3, vocab_size=12, max_length=8, sharpen=1.0)
    images = torch.rand(4, 3, 32, 32)
    for hyps in beam_search(model, images, beam_size=5, alpha=alpha):
        assert len(hyps) == 5
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        for h in hyps:
            assert h.log_prob == pytest.approx(sum(h.token_log_probs), abs=1e-4)
            length = len(h.token_log_probs)
            assert h.score == pytest.approx(h.log_prob / length**alpha, abs=1e-4)
            assert length == len(h.tokens) + (1 if h.finished else 0)
            assert h.attention.shape == (length, model.config.num_regions)
            assert torch.allclose(h.attention.sum(-1), torch.ones(length), atol=1e-5)
            assert all(t >= 4 for t in h.tokens)  # never <pad>, <start>, <unk> or <end> inside


@torch.inference_mode()
def test_beam_one_equals_greedy() -> None:
    for seed in range(5):
        model = tiny_model(seed, vocab_size=10, max_length=6, sharpen=1.5)
        images = torch.rand(3, 3, 32, 32)
        greedy = greedy_decode(model, images)
        beams = beam_search(model, images, beam_size=1)
        for g, (b,) in zip(greedy, beams, strict=True):
            assert g.tokens == b.tokens
            assert g.log_prob == pytest.approx(b.log_prob, abs=1e-5)
            assert g.finished == b.finished
            assert torch.allclose(g.attention, b.attention, atol=1e-6)


@torch.inference_mode()
def test_no_end_returns_k_unfinished() -> None:
    model = tiny_model(0, vocab_size=10, max_length=5)
    with torch.no_grad():
        model.decoder.out.bias[END] = -1e4  # <end> is (practically) never chosen
    images = torch.rand(2, 3, 32, 32)
    for hyps in beam_search(model, images, beam_size=4):
        assert len(hyps) == 4
        assert all(not h.finished and len(h.tokens) == 5 for h in hyps)
    assert all(not g.finished and len(g.tokens) == 5 for g in greedy_decode(model, images))


@torch.inference_mode()
def test_beam_larger_than_vocabulary() -> None:
    model = tiny_model(1, vocab_size=6, max_length=1)  # two words + <end>, one step
    hyps = beam_search(model, torch.rand(1, 3, 32, 32), beam_size=10)[0]
    assert len(hyps) == 3  # [], [4], [5]: every caption there is, once
    assert sorted(tuple(h.tokens) for h in hyps) == [(), (4,), (5,)]
    assert math.isclose(sum(math.exp(h.log_prob) for h in hyps), 1.0, abs_tol=1e-5)


@torch.inference_mode()
def test_batched_equals_one_at_a_time() -> None:
    model = tiny_model(4, vocab_size=12, max_length=7, sharpen=1.0)
    images = torch.rand(5, 3, 32, 32)
    batched = beam_search(model, images, beam_size=3, alpha=0.7)
    for i in range(5):
        alone = beam_search(model, images[i : i + 1], beam_size=3, alpha=0.7)[0]
        assert [h.tokens for h in alone] == [h.tokens for h in batched[i]]
        for a, b in zip(alone, batched[i], strict=True):
            assert a.score == pytest.approx(b.score, abs=1e-4)


def test_bad_arguments() -> None:
    model = tiny_model(0)
    images = torch.rand(1, 3, 32, 32)
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(model, images, beam_size=0)
    with pytest.raises(ValueError, match="alpha"):
        beam_search(model, images, alpha=-1.0)
