"""The shipped captioning checkpoint: its files, and (slow) golden captions of example scenes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multimodal_core.models.show_attend_tell import ShowAttendTell, Vocabulary

REPO = Path(__file__).resolve().parent.parent
CHECKPOINT = REPO / "checkpoints" / "captioning"
EXAMPLES = REPO / "examples" / "captioning"
GOLDEN = Path(__file__).resolve().parent / "golden" / "captioning.json"


def test_checkpoint_files_and_size() -> None:
    names = {p.name for p in CHECKPOINT.iterdir()}
    assert {"config.json", "model.safetensors", "vocab.json", "README.md"} <= names
    assert not any(name.endswith((".pt", ".pth", ".bin", ".pkl")) for name in names)  # no pickle
    total = sum(p.stat().st_size for p in CHECKPOINT.iterdir())
    assert total < 15 * 2**20


@pytest.mark.slow
def test_checkpoint_loads_strictly_and_matches_its_vocabulary() -> None:
    model = ShowAttendTell.from_pretrained(CHECKPOINT)
    assert len(Vocabulary.from_pretrained(CHECKPOINT)) == model.config.vocab_size
    assert not model.training


@pytest.mark.slow
def test_golden_captions_name_the_objects_of_example_scenes() -> None:
    """The tab's own path (decode the PNG, resize, beam 5 with the default alpha) on stored
    example scenes reproduces the stored captions and names every object class."""
    from multimodal_core.evaluate.captioning import read_claims
    from multimodal_core.tasks import captioning

    golden = json.loads(GOLDEN.read_text())
    examples = {e["file"]: e for e in json.loads((EXAMPLES / "examples.json").read_text())}
    for item in golden["captions"]:
        result = captioning.caption_image(EXAMPLES / item["file"], beam_size=5)
        assert result.caption == item["caption"]
        assert result.beams[0].log_prob == pytest.approx(item["log_prob"], abs=2e-3)
        named = {names[0] for names, _ in read_claims(result.caption).objects}
        classes = {o["name"] for o in examples[item["file"]]["objects"]}
        assert classes <= named, (result.caption, classes)
