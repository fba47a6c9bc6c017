"""Greedy and beam-search decoding, written once over a captioner's public step API.

Any model with ``encode(images) -> memory``, ``init_state(memory) -> state`` and
``step(tokens, state, memory) -> StepOutput(logits, state, attention)`` (memory with
``repeat_interleave(k)``, state with ``index_select(rows)``) and a ``config`` holding
``pad_id``, ``start_id``, ``end_id``, ``unk_id`` and ``max_length`` can be decoded here. The tab,
the CLI, the evaluation and the bench all call these two functions.

Beam search keeps, for B images, k "alive" beams as one batch of B*k rows per step, and a pool of
k finished hypotheses per image (the tensor2tensor scheme): each step scores the B x k x V
extensions, takes the 2k best per image, moves those that end with <end> into the pool (ranked by
the length-normalised score) and keeps the k best others alive. It stops when no alive beam can
beat the pool or at ``max_length``; then unfinished beams compete with finished ones, so a model
that never says <end> still gets k hypotheses. Beams that do not exist (k larger than the number
of possible sequences) are dropped, never returned with a score of -inf.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

NEG_INF = float("-inf")


@dataclass
class Hypothesis:
    """One decoded caption.

    tokens: generated word ids, <end> excluded. token_log_probs: log P of every generated token,
    <end> included when ``finished`` (so their sum is ``log_prob``). attention:
    (len(token_log_probs), N), the attention map that produced each of those tokens. score:
    ``log_prob / length ** alpha`` with length = len(token_log_probs), the ranking value.
    """

    tokens: list[int]
    log_prob: float
    score: float
    token_log_probs: list[float]
    attention: torch.Tensor
    finished: bool


def banned_tokens(config: Any) -> list[int]:
    """Tokens a caption never contains: <pad>, <start>, <unk>."""
    return [config.pad_id, config.start_id, config.unk_id]


def _log_probs(logits: torch.Tensor, banned: list[int]) -> torch.Tensor:
    """log softmax over the allowed tokens only (banned ones get -inf): (R, V) float32."""
    logits = logits.float().clone()
    logits[:, banned] = NEG_INF
    return torch.log_softmax(logits, dim=-1)


def _length_penalty(length: torch.Tensor | int, alpha: float) -> torch.Tensor | float:
    return (
        length**alpha
        if alpha != 0.0
        else (torch.ones_like(length) if torch.is_tensor(length) else 1.0)
    )


@torch.inference_mode()
def greedy_decode(
    model: Any, images: torch.Tensor, max_length: int | None = None
) -> list[Hypothesis]:
    """The most probable next token at every step, for a batch of images (B, 3, H, W)."""
    config = model.config
    max_length = max_length or config.max_length
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    banned = banned_tokens(config)
    memory = model.encode(images)
    state = model.init_state(memory)
    b = images.shape[0]
    tokens = torch.full((b,), config.start_id, dtype=torch.long, device=images.device)
    done = torch.zeros(b, dtype=torch.bool, device=images.device)
    steps_tokens, steps_lp, steps_att = [], [], []
    for _ in range(max_length):
        out = model.step(tokens, state, memory)
        log_probs = _log_probs(out.logits, banned)  # (B, V)
        lp, tokens = log_probs.max(dim=-1)
        steps_tokens.append(tokens)
        steps_lp.append(lp)
        steps_att.append(out.attention.float())
        state = out.state
        done = done | (tokens == config.end_id)
        if bool(done.all()):
            break
    all_tokens = torch.stack(steps_tokens, 1).tolist()  # (B, T)
    all_lp = torch.stack(steps_lp, 1).tolist()
    all_att = torch.stack(steps_att, 1).cpu()  # (B, T, N)
    hyps = []
    for i in range(b):
        seq = all_tokens[i]
        finished = config.end_id in seq
        length = seq.index(config.end_id) + 1 if finished else len(seq)
        lps = all_lp[i][:length]
        total = float(sum(lps))
        hyps.append(
            Hypothesis(
                seq[: length - 1] if finished else seq,
                total,
                total,
                lps,
                all_att[i, :length],
                finished,
            )
        )
    return hyps


@torch.inference_mode()
def beam_search(
    model: Any,
    images: torch.Tensor,
    beam_size: int = 5,
    max_length: int | None = None,
    alpha: float = 0.0,
) -> list[list[Hypothesis]]:
    """Up to ``beam_size`` hypotheses per image, best first by ``log_prob / length ** alpha``.

    images: (B, 3, H, W). alpha = 0 ranks by total log probability (which favours short captions);
    alpha about 0.7 favours longer, more informative ones.
    """
    config = model.config
    max_length = max_length or config.max_length
    if not 1 <= beam_size <= 100:
        raise ValueError(f"beam_size must be between 1 and 100, got {beam_size}")
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    k, device = beam_size, images.device
    banned = banned_tokens(config)
    b = images.shape[0]
    memory = model.encode(images).repeat_interleave(k)  # rows b*k + j
    state = model.init_state(memory)
    n_regions = memory.features.shape[1]
    vocab = None

    # Alive beams: (B, k) scores; (B, k, t) tokens and token log probs; (B, k, t, N) attention.
    alive_score = torch.full((b, k), NEG_INF, device=device)
    alive_score[:, 0] = 0.0  # only one real beam at the start: no duplicates
    alive_tokens = torch.empty((b, k, 0), dtype=torch.long, device=device)
    alive_lp = torch.empty((b, k, 0), device=device)
    alive_att = torch.empty((b, k, 0, n_regions), device=device)
    last = torch.full((b * k,), config.start_id, dtype=torch.long, device=device)

    # Finished pool, k per image, padded to max_length.
    fin_norm = torch.full((b, k), NEG_INF, device=device)
    fin_score = torch.full((b, k), NEG_INF, device=device)
    fin_len = torch.zeros((b, k), dtype=torch.long, device=device)
    fin_tokens = torch.zeros((b, k, max_length), dtype=torch.long, device=device)
    fin_lp = torch.zeros((b, k, max_length), device=device)
    fin_att = torch.zeros((b, k, max_length, n_regions), device=device)

    batch_rows = torch.arange(b, device=device)[:, None]  # (B, 1)
    for t in range(max_length):
        out = model.step(last, state, memory)
        log_probs = _log_probs(out.logits, banned)  # (B*k, V)
        vocab = log_probs.shape[-1]
        cand = (alive_score[:, :, None] + log_probs.view(b, k, vocab)).view(b, k * vocab)
        n_cand = min(2 * k, k * vocab)
        top_score, top_idx = cand.topk(n_cand, dim=1)  # (B, 2k)
        origin = top_idx // vocab  # (B, 2k) which alive beam
        token = top_idx % vocab
        token_lp = log_probs.view(b, k, vocab)[batch_rows, origin, token]  # (B, 2k)
        att = out.attention.float().view(b, k, n_regions)[batch_rows, origin]  # (B, 2k, N)
        # Every candidate's full history, (B, 2k, t+1) / (B, 2k, t+1, N).
        cand_tokens = torch.cat([alive_tokens[batch_rows, origin], token[:, :, None]], 2)
        cand_lp = torch.cat([alive_lp[batch_rows, origin], token_lp[:, :, None]], 2)
        cand_att = torch.cat([alive_att[batch_rows, origin], att[:, :, None]], 2)
        is_end = token == config.end_id

        # Finished candidates join the pool, ranked by normalised score.
        length = t + 1
        if bool(is_end.any()):
            new_norm = torch.where(is_end, top_score / _length_penalty(length, alpha), NEG_INF)
            pad = max_length - length
            pool_norm = torch.cat([fin_norm, new_norm], 1)  # (B, 3k)
            fin_norm, keep = pool_norm.topk(k, dim=1)  # (B, k)
            fin_tokens = torch.cat([fin_tokens, _pad(cand_tokens, pad)], 1)[batch_rows, keep]
            fin_lp = torch.cat([fin_lp, _pad(cand_lp, pad)], 1)[batch_rows, keep]
            fin_att = torch.cat([fin_att, _pad(cand_att, pad)], 1)[batch_rows, keep]
            fin_score = torch.cat([fin_score, top_score], 1)[batch_rows, keep]
            new_len = torch.full_like(top_score, length, dtype=torch.long)
            fin_len = torch.cat([fin_len, new_len], 1)[batch_rows, keep]

        # The k best unfinished candidates stay alive.
        alive_cand = torch.where(is_end, NEG_INF, top_score)
        alive_score, pick = alive_cand.topk(k, dim=1)  # (B, k)
        alive_tokens = cand_tokens[batch_rows, pick]
        alive_lp = cand_lp[batch_rows, pick]
        alive_att = cand_att[batch_rows, pick]
        rows = (batch_rows * k + origin[batch_rows, pick]).view(-1)  # (B*k,) rows of the old batch
        state = out.state.index_select(rows)
        last = alive_tokens[:, :, -1].reshape(-1)

        # Stop when, for every image, the pool is full and no alive beam can still beat it:
        # log probs only fall, so the best any alive beam can reach is score / max_length**alpha.
        best_alive = alive_score.max(dim=1).values / _length_penalty(max_length, alpha)
        if bool(((fin_norm[:, -1] > best_alive) | (best_alive == NEG_INF)).all()):
            break

    # Unfinished beams compete too (a model that never says <end> still gets k answers).
    length = alive_tokens.shape[2]
    pad = max_length - length
    all_norm = torch.cat([fin_norm, alive_score / _length_penalty(length, alpha)], 1)  # (B, 2k)
    all_score = torch.cat([fin_score, alive_score], 1)
    all_len = torch.cat([fin_len, torch.full_like(fin_len, length)], 1)
    all_tokens = torch.cat([fin_tokens, _pad(alive_tokens, pad)], 1)
    all_lp = torch.cat([fin_lp, _pad(alive_lp, pad)], 1)
    all_att = torch.cat([fin_att, _pad(alive_att, pad)], 1).cpu()
    order = all_norm.argsort(dim=1, descending=True)[:, :k].tolist()
    norm_l, score_l, len_l = all_norm.tolist(), all_score.tolist(), all_len.tolist()
    tokens_l, lp_l = all_tokens.tolist(), all_lp.tolist()

    results: list[list[Hypothesis]] = []
    for i in range(b):
        hyps = []
        for j in order[i]:
            if norm_l[i][j] == NEG_INF:
                continue  # a beam that never existed
            n = len_l[i][j]
            finished = j < k
            words = tokens_l[i][j][: n - 1] if finished else tokens_l[i][j][:n]
            hyps.append(
                Hypothesis(
                    words, score_l[i][j], norm_l[i][j], lp_l[i][j][:n], all_att[i, j, :n], finished
                )
            )
        results.append(hyps)
    return results


def _pad(x: torch.Tensor, n: int) -> torch.Tensor:
    """Pad dim 2 (time) of a (B, C, T, ...) tensor with n zeros at the end."""
    if n == 0:
        return x
    shape = list(x.shape)
    shape[2] = n
    return torch.cat([x, x.new_zeros(shape)], 2)
