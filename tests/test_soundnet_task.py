"""The Sound to scene task on the shipped checkpoints: the student's and the teacher's bars, and
one sentence for each bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from multimodal_core.errors import InputError
from multimodal_core.settings import get_settings

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "soundnet"
needs_checkpoint = pytest.mark.skipif(
    not (get_settings().checkpoints_dir / "soundnet" / "model.safetensors").is_file(),
    reason="checkpoints/soundnet is not trained here",
)


@needs_checkpoint
def test_a_world_example_gives_student_and_teacher_distributions():
    from multimodal_core.tasks import soundnet

    entry = json.loads((EXAMPLES / "examples.json").read_text())[0]
    result = soundnet.hear(EXAMPLES / entry["audio"], picture=EXAMPLES / entry["image"])
    assert result.model == "builtin"
    assert abs(sum(p for _, p in result.heard) - 1.0) < 1e-4
    assert result.teacher is not None
    assert abs(sum(p for _, p in result.teacher) - 1.0) < 1e-4
    payload = result.to_dict()
    assert payload["top"] == result.heard[0][0]
    json.dumps(payload)


@needs_checkpoint
def test_samples_are_heard_without_a_picture():
    from multimodal_core.tasks import soundnet

    rng = np.random.default_rng(0)
    result = soundnet.hear(rng.normal(0, 0.1, 16_000).astype(np.float32))
    assert result.teacher is None
    assert len({name for name, _ in result.heard}) == len(result.heard)  # each class once


@pytest.mark.parametrize(
    "sound",
    [np.zeros(16_000, np.float32), np.ones(10, np.float32), np.full(16_000, np.nan, np.float32)],
    ids=["silent", "very short", "not finite"],
)
@needs_checkpoint
def test_bad_samples_get_one_sentence(sound):
    from multimodal_core.tasks import soundnet

    with pytest.raises(InputError):
        soundnet.hear(sound)


def test_labels_are_parsed_or_refused():
    from multimodal_core.tasks import soundnet

    assert soundnet.parse_labels(None) == soundnet.DEFAULT_LABELS
    assert soundnet.parse_labels("dog, cat,, dog") == ("dog", "cat")
    with pytest.raises(InputError):
        soundnet.parse_labels("dog")
    with pytest.raises(InputError):
        soundnet.parse_labels(",".join(f"l{i}" for i in range(100)))


def test_an_unknown_model_is_refused():
    from multimodal_core.tasks import soundnet

    with pytest.raises(InputError):
        soundnet.hear(EXAMPLES / "video1.wav", model="nope")
