"""Splits: disjoint seed ranges, held-out seeds out of reach of training datasets, held-out
class pairs absent outside the novel-combination split."""

from __future__ import annotations

import pytest

from multimodal_core.world.datasets import CaptioningDataset, LocalizationDataset, VQADataset
from multimodal_core.world.splits import (
    HELD_OUT_PAIRS,
    HELD_OUT_SPLITS,
    SPLITS,
    HeldOutSplitError,
    scene_in_split,
    seeds,
    split_of,
)

DATASETS = [CaptioningDataset, VQADataset, LocalizationDataset]
PAIR_CLASSES = tuple(sorted({c for pair in HELD_OUT_PAIRS for c in pair}))


def test_seed_ranges_are_disjoint() -> None:
    ranges = list(SPLITS.values())
    for i, a in enumerate(ranges):
        for b in ranges[i + 1 :]:
            assert a.stop <= b.start or b.stop <= a.start
    assert split_of(5) == "train" and split_of(SPLITS["test"].start) == "test"


@pytest.mark.parametrize("split", HELD_OUT_SPLITS)
@pytest.mark.parametrize("dataset", DATASETS)
def test_held_out_splits_need_consent(dataset: type, split: str) -> None:
    with pytest.raises(HeldOutSplitError):
        dataset(split, length=4)
    assert len(dataset(split, length=4, held_out_ok=True)) == 4


@pytest.mark.parametrize("dataset", DATASETS)
def test_training_datasets_reach_no_held_out_seed(dataset: type) -> None:
    held_out = [SPLITS[s] for s in HELD_OUT_SPLITS]
    for split in ("train", "validation"):
        ds = dataset(split)
        reachable = ds.seeds[: len(ds)]
        assert all(r.stop <= reachable.start or reachable.stop <= r.start for r in held_out)
        with pytest.raises(IndexError):
            ds[len(ds)]
        with pytest.raises(ValueError):
            dataset(split, length=len(SPLITS[split]) + 1)


def test_held_out_pairs_never_meet_outside_novel_combo() -> None:
    """Scenes drawn only from the pairs' classes make a pair likely, and still none appears."""
    for split in ("train", "validation", "test"):
        for i in range(150):
            s = scene_in_split(split, i, held_out_ok=True, size=48, classes=PAIR_CLASSES,
                               n_objects=(3, 4))  # fmt: skip
            present = set(s.class_names)
            assert not any(set(pair) <= present for pair in HELD_OUT_PAIRS), (split, i, present)


def test_held_out_pairs_stay_apart_in_localization_scenes() -> None:
    """Silent distractors must respect the held-out pairs too ("dog" with a sounding guitar)."""
    ds = LocalizationDataset("train", size=48, length=300, distractors=(2, 2))
    for i in range(len(ds)):
        present = set(ds.scene(i).class_names)
        assert not any(set(pair) <= present for pair in HELD_OUT_PAIRS), (i, present)


def test_novel_combo_scenes_hold_a_held_out_pair() -> None:
    for i in range(40):
        s = scene_in_split("novel_combo", i, held_out_ok=True, size=48)
        assert any(set(pair) <= set(s.class_names) for pair in HELD_OUT_PAIRS)
    with pytest.raises(HeldOutSplitError):
        seeds("novel_combo")
