"""The localization metrics: cIoU and AUC as Senocak et al. 2018 define them, pointing, peaks."""

from __future__ import annotations

import numpy as np
import pytest

from multimodal_core.evaluate.metrics import (
    auc,
    box_mask,
    centre_prior,
    ciou,
    ciou_at,
    in_box,
    peaks_on_both,
    success_curve,
    two_peaks,
)

BOX = (10, 20, 40, 60)  # x0, y0, x1, y1 (exclusive)


def test_ciou_of_a_perfect_map_is_one() -> None:
    truth = box_mask(BOX, 64, 64)
    assert truth.sum() == 30 * 40
    assert ciou(truth.astype(float), truth, 0.5) == 1.0


def test_ciou_of_an_empty_map_is_zero() -> None:
    truth = box_mask(BOX, 64, 64)
    assert ciou(np.zeros((64, 64)), truth, 0.5) == 0.0


def test_ciou_is_the_iou_for_a_box() -> None:
    truth = box_mask(BOX, 64, 64)
    heat = box_mask((10, 20, 40, 40), 64, 64).astype(float)  # upper half of the box
    assert ciou(heat, truth, 0.5) == pytest.approx(0.5)
    whole = np.ones((64, 64))
    assert ciou(whole, truth, 0.5) == pytest.approx(truth.sum() / truth.size)
    bigger = box_mask((0, 20, 40, 60), 64, 64).astype(float)  # 10 extra columns outside
    assert ciou(bigger, truth, 0.5) == pytest.approx(1200 / (1200 + 400))


def test_ciou_weights_consensus_maps() -> None:
    truth = np.zeros((4, 4))
    truth[0, :2] = [1.0, 0.5]  # two annotators agree on one pixel, one on the other
    heat = np.zeros((4, 4))
    heat[0, 0] = 1.0
    assert ciou(heat, truth, 0.5) == pytest.approx(1.0 / 1.5)
    with pytest.raises(ValueError):
        ciou(heat, np.zeros((4, 4)), 0.5)


def test_success_rate_and_auc() -> None:
    assert ciou_at([1.0, 0.6, 0.5, 0.2]) == 0.75
    assert auc([1.0] * 5) == pytest.approx(1.0)
    # Every sample "reaches" the cut 0, so even all-zero cIoUs keep the first half step.
    assert auc([0.0] * 5) == pytest.approx(0.025)
    curve = success_curve([0.5])
    assert curve[0] == 1.0 and curve[10] == 1.0 and curve[11] == 0.0
    assert auc([0.5]) == pytest.approx(0.525)  # trapezoids over 21 cuts: 0.5 + half a step


def test_pointing_and_peaks() -> None:
    assert in_box((20, 10), BOX) and not in_box((20, 40), BOX) and not in_box((60, 10), BOX)
    heat = np.zeros((64, 64))
    heat[30, 20] = 1.0  # inside BOX
    heat[31, 22] = 0.9  # same object: suppressed
    heat[5, 55] = 0.5  # another object
    peaks = two_peaks(heat)
    assert peaks == [(30, 20), (5, 55)]
    assert peaks_on_both(heat, [BOX, (50, 0, 64, 10)])
    assert not peaks_on_both(heat, [BOX, (0, 0, 5, 5)])


def test_centre_prior_peaks_in_the_middle() -> None:
    prior = centre_prior(64, 64)
    assert prior.shape == (64, 64) and prior.max() <= 1.0
    assert prior[32, 32] > prior[0, 0] and prior[31, 31] == pytest.approx(prior[32, 32])
