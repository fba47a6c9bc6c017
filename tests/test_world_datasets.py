"""Datasets: items of the documented shapes and ranges, and the examples folder the app shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from multimodal_core.world import language
from multimodal_core.world.catalogue import CLASS_NAMES, get_class
from multimodal_core.world.datasets import CaptioningDataset, LocalizationDataset, VQADataset


def test_captioning() -> None:
    ds = CaptioningDataset("train", size=96, length=100)
    item = ds[3]
    assert item.image.shape == (3, 96, 96) and item.image.dtype == torch.float32
    assert item.image.min() >= 0.0 and item.image.max() <= 1.0
    assert item.captions == language.captions(ds.scene(3))
    assert torch.equal(ds[3].image, item.image)


def test_vqa() -> None:
    ds = VQADataset("validation", size=64, length=50)
    items = [ds[i] for i in range(5)]
    assert all(item.image.shape == (3, 64, 64) for item in items)
    assert sum(len(item.questions) for item in items) >= 5 * 4
    for i, item in enumerate(items):
        assert item.questions == language.questions(ds.scene(i))
        assert all(q.answer in language.ANSWERS for q in item.questions)


def test_localization() -> None:
    ds = LocalizationDataset("train", size=96, length=20, seconds=1.0)
    for i in range(4):
        item = ds[i]
        s = ds.scene(i)
        assert item.audio.shape == (16000,) and item.mask.shape == (96, 96)
        target = next(o for o in s.objects if CLASS_NAMES.index(o.name) == item.label)
        assert get_class(target.name).sound is not None
        assert torch.equal(item.mask, torch.from_numpy(target.mask)) and item.mask.any()
        assert tuple(item.box.tolist()) == target.box
        sounding = [o for o in s.objects if get_class(o.name).sound]
        assert 2 <= len(sounding) <= 4 and len(set(s.class_names)) == len(s.objects)


@pytest.mark.slow
def test_examples_are_small_listed_and_up_to_date(tmp_path: Path) -> None:
    """The committed examples/ folder is what the generator writes today (else regenerate it
    with ``python -m multimodal_core.world examples``)."""
    from multimodal_core.world.preview import write_examples

    files = write_examples(tmp_path)
    assert sum(f.stat().st_size for f in files) < 600_000
    manifest = json.loads((tmp_path / "examples.json").read_text())
    readme = (tmp_path / "README.md").read_text()
    for entry in manifest["examples"]:
        assert (tmp_path / entry["file"]).is_file() and entry["file"] in readme
    committed = Path(__file__).resolve().parent.parent / "examples"
    assert json.loads((committed / "examples.json").read_text()) == manifest
    assert (committed / "README.md").read_text() == readme


@pytest.mark.slow
def test_preview_writes_sheets_and_sounds(tmp_path: Path) -> None:
    from multimodal_core.world.__main__ import main

    main(["preview", "--out", str(tmp_path), "--scenes", "3", "--people", "3"])
    for sheet in ("scenes.png", "localization.png", "people.png"):
        assert (tmp_path / sheet).stat().st_size > 10_000
    assert len(list((tmp_path / "sounds").glob("*.wav"))) >= 20
