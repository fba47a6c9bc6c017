"""Greedy and beam-search decoding, written once over a captioner's public step API.

Any model with ``encode(images) -> memory``, ``init_state(memory) -> state`` and
``step(tokens, state, memory) -> StepOutput(logits, state, attention)`` (memory with
``repeat_interleave(k)``, memory and state with ``index_select(rows)``) and a ``config`` holding
``pad_id``, ``start_id``, ``end_id``, ``unk_id`` and ``max_length`` can be decoded here. The tab,
the CLI, the evaluation and the bench all call these two functions.

Beam search keeps, for B images, k "alive" beams as one batch of B*k rows per step, and a pool of
k finished hypotheses per image (the tensor2tensor scheme): each step scores the B x k x V
extensions, takes the 2k best per image, moves those that end with <end> into the pool (ranked by
the length-normalised score) and keeps the k best others alive. It stops when no alive beam can
beat the pool or at ``max_length``; then unfinished beams compete with finished ones, so a model
that never says <end> still gets k hypotheses. An image whose pool can no longer change leaves the
batch (its rows are no longer stepped), so a batch costs what its captions need, not k rows of
every image until the longest caption ends. Beams that do not exist (k larger than the number
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


def _ban_bias(vocab_size: int, banned: list[int], device: torch.device) -> torch.Tensor:
    """(V,) zeros with -inf at the banned tokens: added to logits before the softmax."""
    bias = torch.zeros(vocab_size, device=device)
    bias[banned] = NEG_INF
    return bias


def _log_probs(logits: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """log softmax over the allowed tokens only (banned ones get -inf): (R, V) float32."""
    return torch.log_softmax(logits.float() + bias, dim=-1)


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
    memory = model.encode(images)
    state = model.init_state(memory)
    b = images.shape[0]
    bias = _ban_bias(config.vocab_size, banned_tokens(config), images.device)
    tokens = torch.full((b,), config.start_id, dtype=torch.long, device=images.device)
    done = torch.zeros(b, dtype=torch.bool, device=images.device)
    steps_tokens, steps_lp, steps_att = [], [], []
    for _ in range(max_length):
        out = model.step(tokens, state, memory)
        log_probs = _log_probs(out.logits, bias)  # (B, V)
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
    b = images.shape[0]
    bias = _ban_bias(config.vocab_size, banned_tokens(config), device)
    memory = model.encode(images).repeat_interleave(k)  # rows b*k + j
    state = model.init_state(memory)
    batch_rows = torch.arange(b, device=device)[:, None]  # (B, 1)
    row_offsets = batch_rows * k  # (B, 1): first row of each image

    # Alive beams: cumulative scores (B, k). Per step only back-pointers are kept: each alive
    # beam's parent (the alive beam it extends, one step earlier), its token, its cumulative
    # score, and the attention of the step; histories are rebuilt once at the end.
    alive_score = torch.full((b, k), NEG_INF, device=device)
    alive_score[:, 0] = 0.0  # only one real beam at the start: no duplicates
    parents: list[torch.Tensor] = []  # (B, k) each
    tokens_hist: list[torch.Tensor] = []  # (B, k)
    scores_hist: list[torch.Tensor] = []  # (B, k)
    att_hist: list[torch.Tensor] = []  # (B, k, N): attention of step t for each previous beam
    last = torch.full((b * k,), config.start_id, dtype=torch.long, device=device)

    # Finished pool, k per image: normalised and total scores, the step of <end> and the alive
    # beam (of the step before) that it ends.
    fin_norm = torch.full((b, k), NEG_INF, device=device)
    fin_score = torch.full((b, k), NEG_INF, device=device)
    fin_step = torch.zeros((b, k), dtype=torch.long, device=device)
    fin_parent = torch.zeros((b, k), dtype=torch.long, device=device)
    max_penalty = float(_length_penalty(max_length, alpha))

    searching = torch.arange(b, device=device)  # images still in the batch
    local_offsets = row_offsets  # row of each searching image's beam 0
    for t in range(max_length):
        out = model.step(last, state, memory)  # rows of the searching images only
        vocab = out.logits.shape[-1]
        log_probs = _log_probs(out.logits, bias).view(-1, k, vocab)
        attention = out.attention.float().view(-1, k, out.attention.shape[-1])
        if len(searching) < b:  # images that left have no candidates (-inf) and no attention
            log_probs = log_probs.new_full((b, k, vocab), NEG_INF).index_copy(
                0, searching, log_probs
            )
            attention = attention.new_zeros((b, *attention.shape[1:])).index_copy(
                0, searching, attention
            )
        att_hist.append(attention)
        cand = (alive_score[:, :, None] + log_probs).view(b, k * vocab)
        top_score, top_idx = cand.topk(min(2 * k, k * vocab), dim=1)  # (B, 2k)
        origin = top_idx // vocab  # (B, 2k): which alive beam it extends
        token = top_idx % vocab
        is_end = token == config.end_id

        if bool(is_end.any()):  # finished candidates join the pool, ranked by normalised score
            new_norm = torch.where(is_end, top_score / _length_penalty(t + 1, alpha), NEG_INF)
            fin_norm, keep = torch.cat([fin_norm, new_norm], 1).topk(k, dim=1)  # of (B, 3k)
            fin_score = torch.cat([fin_score, top_score], 1).gather(1, keep)
            fin_step = torch.cat([fin_step, torch.full_like(origin, t)], 1).gather(1, keep)
            fin_parent = torch.cat([fin_parent, origin], 1).gather(1, keep)
            # The k best unfinished candidates stay alive.
            alive_score, pick = torch.where(is_end, NEG_INF, top_score).topk(k, dim=1)
            parent, alive_token = origin.gather(1, pick), token.gather(1, pick)  # (B, k)
        else:  # no <end> among the 2k: the first k stay alive (slices; no gather needed)
            alive_score, parent, alive_token = top_score[:, :k], origin[:, :k], token[:, :k]
        parents.append(parent)
        tokens_hist.append(alive_token)
        scores_hist.append(alive_score)
        if len(searching) < b:  # per-step indexing only once images have left
            parent, alive_token = parent[searching], alive_token[searching]
        state = out.state.index_select((local_offsets + parent).view(-1))
        last = alive_token.reshape(-1)

        # An image is done when its pool is full and no alive beam can still beat it: log probs
        # only fall, so the best any alive beam can reach is score / max_length**alpha (and no
        # later <end> can enter the pool either). Done images leave the batch; their alive beams
        # can no longer win and are dropped (-inf) so the rebuild never reads past their end.
        done = fin_norm[:, -1] >= alive_score[:, 0] / max_penalty  # (B,)
        if bool(done.all()):
            break
        if len(searching) == 1:
            continue  # not all done: the one image left is not
        stay = ~(done if len(searching) == b else done[searching])
        if not bool(stay.all()):
            keep = (local_offsets[stay] + torch.arange(k, device=device)).view(-1)
            state, memory, last = state.index_select(keep), memory.index_select(keep), last[keep]
            searching = searching[stay]
            local_offsets = row_offsets[: len(searching)]
            alive_score = torch.where(done[:, None], NEG_INF, alive_score)

    # Unfinished beams compete too (a model that never says <end> still gets k answers).
    steps = len(tokens_hist)
    all_norm = torch.cat([fin_norm, alive_score / _length_penalty(steps, alpha)], 1)  # (B, 2k)
    best_norm, choice = all_norm.topk(k, dim=1)  # (B, k)
    from_pool = choice < k
    pool_idx = choice.clamp(max=k - 1)
    alive_idx = (choice - k).clamp(min=0)
    score = torch.where(from_pool, fin_score.gather(1, pool_idx), alive_score.gather(1, alive_idx))
    end_step = torch.where(from_pool, fin_step.gather(1, pool_idx), steps)  # <end>'s step
    last_beam = torch.where(from_pool, fin_parent.gather(1, pool_idx), alive_idx)
    return _backtrack(
        best_norm, score, from_pool, end_step, last_beam, parents, tokens_hist, scores_hist,
        att_hist,
    )  # fmt: skip


def _backtrack(
    best_norm: torch.Tensor,
    score: torch.Tensor,
    from_pool: torch.Tensor,
    end_step: torch.Tensor,
    last_beam: torch.Tensor,
    parents: list[torch.Tensor],
    tokens_hist: list[torch.Tensor],
    scores_hist: list[torch.Tensor],
    att_hist: list[torch.Tensor],
) -> list[list[Hypothesis]]:
    """Rebuild each chosen hypothesis by following its back-pointers.

    The histories are a few numbers per step, so the walk runs over Python lists (a handful of
    tensor operations per step cost more than the whole walk) and one advanced index then
    gathers every hypothesis's attention rows. ``last_beam`` is the alive beam each hypothesis
    ends on, at the step before ``end_step`` (``end_step`` = the number of steps when it never
    ended); ``att_hist[t]`` holds step t's attention per alive beam of step t - 1.
    """
    b, k = best_norm.shape
    parents_l = torch.stack(parents).tolist()  # (T, B, k)
    tokens_l = torch.stack(tokens_hist).tolist()
    scores_l = torch.stack(scores_hist).tolist()
    norm_l, score_l, pool_l = best_norm.tolist(), score.tolist(), from_pool.tolist()
    end_l, beam_l = end_step.tolist(), last_beam.tolist()
    chosen, att_steps, att_images, att_beams = [], [], [], []
    for i in range(b):
        for j in range(k):
            if norm_l[i][j] == NEG_INF:
                continue  # a beam that never existed
            path, beam = [], beam_l[i][j]  # path[t]: the alive beam after step t
            for t in range(end_l[i][j] - 1, -1, -1):
                path.append(beam)
                beam = parents_l[t][i][beam]
            path.reverse()
            words = [tokens_l[t][i][p] for t, p in enumerate(path)]
            cumulative = [scores_l[t][i][p] for t, p in enumerate(path)]
            inputs = [parents_l[t][i][p] for t, p in enumerate(path)]  # beams the steps read
            if pool_l[i][j]:  # the <end> token: its step, and the beam it extends
                cumulative.append(score_l[i][j])
                inputs.append(beam_l[i][j])
            att_steps += range(len(inputs))
            att_images += [i] * len(inputs)
            att_beams += inputs
            log_probs = [c - p for c, p in zip(cumulative, [0.0, *cumulative[:-1]], strict=True)]
            chosen.append((i, words, score_l[i][j], norm_l[i][j], log_probs, pool_l[i][j]))
    attention = torch.stack(att_hist)[att_steps, att_images, att_beams].cpu()  # (rows, N)
    results: list[list[Hypothesis]] = [[] for _ in range(b)]
    row = 0
    for i, words, total, norm, log_probs, finished in chosen:
        n = len(log_probs)
        hyp = Hypothesis(words, total, norm, log_probs, attention[row : row + n], finished)
        results[i].append(hyp)
        row += n
    return results
