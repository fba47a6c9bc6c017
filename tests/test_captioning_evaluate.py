"""The captioning evaluation's claim reader and metrics, checked on the world's true references."""

from __future__ import annotations

import math

import pytest

from multimodal_core.evaluate.captioning import ClaimTally, read_claims
from multimodal_core.evaluate.metrics import caption_scores, precision_recall_f1
from multimodal_core.world import language
from multimodal_core.world.splits import scene_in_split


def test_every_reference_is_read_as_true() -> None:
    """References are true by construction: the reader must find no false claim in them."""
    tally = ClaimTally()
    for index in range(60):
        scene = scene_in_split("train", index, size=64)
        for caption in language.captions(scene):
            tally.add(caption, scene)
    summary = tally.summary()
    assert summary["object_precision"] == 1.0
    assert summary["count_acc"] == 1.0
    assert summary["position_acc"] == 1.0 and tally.positions_stated > 20
    assert summary["relation_acc"] == 1.0 and tally.relations_stated > 5
    assert summary["background_acc"] == 1.0


def test_claims_of_a_caption() -> None:
    claims = read_claims(
        "two large cats and an old man in the top left to the right of a schoolgirl on the grass"
    )
    assert [names for names, _ in claims.objects] == [("cat",), ("grandpa",), ("girl",)]
    assert [count for _, count in claims.objects] == [2, 1, 1]
    assert claims.positions == [(1, "top left")]
    assert claims.relations == [(1, "to the right of", 2)]
    assert claims.background == "grass"
    assert read_claims("three objects on a blue background").total == 3


def test_wrong_captions_are_caught() -> None:
    scene = scene_in_split("train", 0, size=64)
    absent = next(c for c in ("elephant", "pizza", "drum", "key") if not scene.count(c))
    tally = ClaimTally()
    tally.add(f"five {absent}s on a background", scene)
    summary = tally.summary()
    assert summary["object_precision"] == 0.0 and summary["object_recall"] == 0.0
    assert math.isnan(summary["position_acc"])


def test_caption_scores_and_f1() -> None:
    refs = [["a dog on a red background", "there is a dog on a red background"]]
    perfect = caption_scores(["a dog on a red background"], refs)
    assert perfect["bleu4"] == pytest.approx(1.0, abs=1e-6)
    worse = caption_scores(["a cat on the grass"], refs)
    assert worse["bleu4"] < 0.1
    assert precision_recall_f1(3, 4, 6) == pytest.approx(
        {"precision": 0.75, "recall": 0.5, "f1": 0.6}
    )
