"""The metrics that evaluations and trainings share (a training validates with the figure its
evaluation reports): captions, localization maps, the world classifier, VQA accuracy.

BLEU and CIDEr come from pycocoevalcap (the COCO caption evaluation code); its Bleu scorer prints
to stdout, which would break ``--json`` output, so every call here runs with stdout captured.
The world's captions are already lower case and space separated, so the Java PTB tokenizer is not
needed.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from multimodal_core.models.vqa import QuestionVocabulary, StackedAttentionVQA
    from multimodal_core.models.world_classifier import WorldClassifier
    from multimodal_core.world.qa_stores import QABatch

CIOU_CUTS = np.linspace(0.0, 1.0, 21)  # the success curve's cIoU cuts (as in LVS's code)
PEAK_SUPPRESSION = 24  # px: a second peak must lie this far from the first (objects >= 33 apart)


def caption_scores(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]]
) -> dict[str, float]:
    """Corpus BLEU-1..4 and CIDEr-D of one hypothesis per image against all its references."""
    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError("need one hypothesis per reference list, and at least one")
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    # pycocoevalcap wants dicts of lists; an empty hypothesis would crash its BLEU: use one token.
    res = {i: [h if h.strip() else "<empty>"] for i, h in enumerate(hypotheses)}
    gts = {i: list(refs) for i, refs in enumerate(references)}
    with contextlib.redirect_stdout(io.StringIO()):
        bleu, _ = Bleu(4).compute_score(gts, res)
        cider, _ = Cider().compute_score(gts, res)
    scores = {f"bleu{n}": float(b) for n, b in enumerate(bleu, start=1)}
    scores["cider"] = float(cider)
    return scores


def precision_recall_f1(true_positive: int, predicted: int, actual: int) -> dict[str, float]:
    """Micro precision, recall and F1 from counts (0 where undefined)."""
    precision = true_positive / predicted if predicted else 0.0
    recall = true_positive / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


# ----- localization maps ---------------------------------------------------------------------


def box_mask(box: tuple[int, int, int, int] | np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W) bool of a box (x0, y0, x1, y1), x1 and y1 exclusive."""
    x0, y0, x1, y1 = (int(v) for v in box)
    mask = np.zeros((height, width), dtype=bool)
    mask[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = True
    return mask


def ciou(heat: np.ndarray, truth: np.ndarray, threshold: float) -> float:
    """Senocak et al.'s consensus IoU of one map in [0, 1] against a ground-truth weight map.

    A = pixels where ``heat >= threshold``; cIoU = sum_{A} g / (sum g + |A outside G|), with
    G the pixels where g > 0. For a 0/1 box this is the IoU of A and the box; an empty A gives 0.
    """
    truth = np.asarray(truth, dtype=np.float64)
    if truth.sum() <= 0:
        raise ValueError("the ground truth marks no pixel")
    active = np.asarray(heat) >= threshold
    return float(truth[active].sum() / (truth.sum() + np.count_nonzero(active & (truth <= 0))))


def success_curve(cious: np.ndarray | list[float]) -> np.ndarray:
    """Share of samples whose cIoU reaches each cut of :data:`CIOU_CUTS`."""
    values = np.asarray(cious, dtype=np.float64)
    return np.array([(values >= cut).mean() for cut in CIOU_CUTS])


def ciou_at(cious: np.ndarray | list[float], cut: float = 0.5) -> float:
    """The share of samples with cIoU >= ``cut`` (what Senocak et al. report as "cIoU")."""
    return float((np.asarray(cious) >= cut).mean())


def auc(cious: np.ndarray | list[float]) -> float:
    """Area under the success curve over cIoU cuts 0..1 (trapezoids)."""
    curve = success_curve(cious)
    return float(np.sum((curve[1:] + curve[:-1]) / 2 * np.diff(CIOU_CUTS)))


def argmax_yx(heat: np.ndarray) -> tuple[int, int]:
    """(row, column) of a map's maximum."""
    row, col = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return int(row), int(col)


def in_box(point: tuple[int, int], box: tuple[int, int, int, int] | np.ndarray) -> bool:
    row, col = point
    x0, y0, x1, y1 = (int(v) for v in box)
    return x0 <= col < x1 and y0 <= row < y1


def two_peaks(heat: np.ndarray, radius: int = PEAK_SUPPRESSION) -> list[tuple[int, int]]:
    """The map's maximum and the highest point at least ``radius`` pixels away from it."""
    first = argmax_yx(heat)
    rows, cols = np.indices(heat.shape)
    far = (rows - first[0]) ** 2 + (cols - first[1]) ** 2 >= radius**2
    rest = np.where(far, heat, -np.inf)
    return [first, argmax_yx(rest)] if np.isfinite(rest).any() else [first]


def peaks_on_both(heat: np.ndarray, boxes: list) -> bool:
    """Whether the two strongest peaks fall one in each of two boxes."""
    peaks = two_peaks(heat)
    if len(peaks) < 2:
        return False
    a, b = boxes
    return (in_box(peaks[0], a) and in_box(peaks[1], b)) or (
        in_box(peaks[0], b) and in_box(peaks[1], a)
    )


def centre_prior(height: int, width: int, sigma: float = 0.25) -> np.ndarray:
    """A Gaussian around the picture's centre (sigma as a fraction of the side), peak 1."""
    ys = (np.arange(height) + 0.5) / height - 0.5
    xs = (np.arange(width) + 0.5) / width - 0.5
    return np.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * sigma**2))


# ----- the world classifier --------------------------------------------------------------------


@torch.inference_mode()
def judge_scores(
    model: WorldClassifier, images: torch.Tensor, objects: torch.Tensor, backgrounds: torch.Tensor
) -> dict[str, float]:
    """Set accuracy (top-k classes == the k true ones), mean per-object recall in the top-k,
    background accuracy."""
    was_training = model.training
    model.eval()
    set_hits, object_hits, n_objects, bg_hits = 0, 0, 0, 0
    for start in range(0, len(images), 256):
        out = model(images[start : start + 256])
        truth = objects[start : start + 256]
        for logits, target in zip(out.object_logits, truth, strict=True):
            k = int(target.sum())
            top = set(logits.topk(k).indices.tolist())
            wanted = set(target.nonzero().flatten().tolist())
            set_hits += top == wanted
            object_hits += len(top & wanted)
            n_objects += k
        bg_hits += int((out.background_logits.argmax(1) == backgrounds[start : start + 256]).sum())
    model.train(was_training)
    n = len(images)
    return {
        "set_acc": set_hits / n,
        "object_recall": object_hits / n_objects,
        "background_acc": bg_hits / n,
    }


# ----- visual question answering -------------------------------------------------------------


@torch.inference_mode()
def vqa_accuracy(
    model: StackedAttentionVQA, vocab: QuestionVocabulary, batches: Sequence[QABatch]
) -> dict:
    """Overall and per-type accuracy (and ``n``) of the model's top answer."""
    was_training = model.training
    model.eval()
    right: dict[str, list[int]] = {}
    for b in batches:
        out = model(b.images, vocab.encode_batch(b.questions), b.image_index)
        hits = (out.logits.argmax(-1) == b.answers).tolist()
        for qtype, hit in zip(b.types, hits, strict=True):
            right.setdefault(qtype, []).append(int(hit))
    model.train(was_training)
    every = [h for hits in right.values() for h in hits]
    result = {"acc": float(np.mean(every)) if every else 0.0, "n": len(every)}
    result["per_type"] = {t: round(float(np.mean(h)), 4) for t, h in sorted(right.items())}
    return result


# ----- cross-modal retrieval -----------------------------------------------------------------


def retrieval_ranks(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(Q, Q) scores of every query against every item, query i's true item in column i ->
    (Q,) 1-based ranks of the true items. Items scored equal to the true one are ties broken at
    random (identical captions score identically; the content oracle ties whole groups)."""
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1]:
        raise ValueError(f"need a square score matrix, got shape {scores.shape}")
    true = np.diag(scores)[:, None]
    higher = (scores > true).sum(1)
    ties = (scores == true).sum(1) - 1  # other items scored exactly as the true one
    return 1 + higher + rng.integers(0, ties + 1)


def retrieval_scores(ranks: np.ndarray) -> dict[str, float]:
    """Median rank and recall at 1, 5 and 10 (the share of queries whose true item ranks
    within k), as the Recipe1M protocol reports them."""
    ranks = np.asarray(ranks)
    return {
        "medr": float(np.median(ranks)),
        **{f"r{k}": float((ranks <= k).mean()) for k in (1, 5, 10)},
    }
