"""Evaluate the built-in sound-source localizer on held-out world scenes.

``python -m multimodal_core.evaluate localization [--json]``. Every test picture holds 2-4
objects that could sound (distinct classes) plus 0-2 silent ones, and the clip of one of them
(sometimes with a quieter off-screen source and background noise), so knowing *what* sounds is
not enough: the map must say *where*. Reported, for the model and for three baselines that
look at no sound at all (a centre prior, the whole picture, and the box of a random
sound-capable object in the picture, which scores cIoU without localising anything):

- pointing accuracy: the map's maximum falls inside the sounding object's box;
- cIoU at 0.5 and AUC, as Senocak et al. 2018 define them: the map, scaled to [0, 1], is cut at
  a threshold into "the source" A; cIoU = sum_{i in A} g_i / (sum_i g_i + |A \\ G|) with g the
  box (one annotator: cIoU is the IoU of A and the box); "cIoU" is the share of pictures with
  cIoU >= 0.5 and AUC the area under that share as the cIoU cut goes from 0 to 1;
- the swap test: the same picture with the sound of another sound-capable object in it (no
  noise, no second source): the maximum must move into that object's box;
- mixtures: the sounds of two objects in the picture at equal level; the share whose two
  strongest peaks fall one in each of the two boxes.

The human table comes first (unless ``--json``); the last line is one JSON object.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

CIOU_CUTS = np.linspace(0.0, 1.0, 21)  # the success curve's cIoU cuts (as in LVS's code)
PEAK_SUPPRESSION = 24  # px: a second peak must lie this far from the first (objects >= 33 apart)


# ----- metrics ------------------------------------------------------------------------------


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
