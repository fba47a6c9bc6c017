"""The voice-to-face task, tab plumbing and CLI on a tiny random Speech2Face (fast), and on the
shipped checkpoints (slow): same voice same face, shapes and ranges, sentences for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from multimodal_core import hub
from multimodal_core.errors import InputError
from multimodal_core.models.speech2face import Speech2Face, Speech2FaceConfig
from multimodal_core.tasks import voice_to_face as task

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


@pytest.fixture(scope="module")
def tiny_model() -> Speech2Face:
    torch.manual_seed(0)
    config = Speech2FaceConfig(
        image_size=16, face_channels=(4, 8), embed_dim=8, voice_channels=(4, 8), voice_hidden=8
    )
    return Speech2Face(config).eval()


@pytest.fixture()
def use_tiny(monkeypatch: pytest.MonkeyPatch, tiny_model: Speech2Face) -> Speech2Face:
    real_get = hub.get
    monkeypatch.setattr(
        hub, "get", lambda name: tiny_model if name == task.BUILTIN else real_get(name)
    )
    return tiny_model


def _voice(tmp_path: Path, name: str = "voice.wav", seconds: float = 2.0) -> Path:
    from multimodal_core.world.people import person

    path = tmp_path / name
    sf.write(path, person(20_000_001).voice(seconds, 16_000), 16_000)
    return path


def test_same_voice_same_face_shape_and_range(tiny_model: Speech2Face) -> None:
    samples = np.random.default_rng(0).standard_normal(16_000).astype(np.float32) * 0.1
    a, b = task.draw_face(tiny_model, samples), task.draw_face(tiny_model, samples.copy())
    assert a.face.shape == (16, 16, 3) and a.face.dtype == np.uint8
    assert np.array_equal(a.face, b.face)
    assert np.linalg.norm(a.embedding) == pytest.approx(1.0, abs=1e-4)
    assert sum(a.age.values()) == pytest.approx(1.0, abs=1e-5)
    assert set(a.gender) == {"female", "male"}


def test_task_answers_with_face_traits_spectrogram_and_meaning(
    use_tiny: Speech2Face, tmp_path: Path
) -> None:
    result = task.voice_to_face(_voice(tmp_path))
    assert result.face.shape == (task.FACE_DISPLAY, task.FACE_DISPLAY, 3)
    assert result.spectrogram.ndim == 3 and result.spectrogram.dtype == np.uint8
    assert result.meaning == task.MEANING and "not the speaker's face" in task.describe(result)
    assert result.details["voiced_fraction"] > 0.3
    assert 80 < result.details["median_pitch_hz"] < 400
    json.dumps(result.to_dict())


def test_silence_short_and_unknown_model_give_sentences(
    use_tiny: Speech2Face, tmp_path: Path
) -> None:
    sf.write(tmp_path / "silence.wav", np.zeros(48_000, np.float32), 16_000)
    with pytest.raises(InputError, match="silent"):
        task.voice_to_face(tmp_path / "silence.wav")
    sf.write(tmp_path / "blip.wav", 0.3 * np.ones(3_000, np.float32), 16_000)
    with pytest.raises(InputError, match="at least one sentence"):
        task.voice_to_face(tmp_path / "blip.wav")
    with pytest.raises(InputError, match="Unknown model"):
        task.voice_to_face(tmp_path / "blip.wav", model="nope")


def _noise(tmp_path: Path) -> Path:
    noise = np.random.default_rng(1).standard_normal(16_000 * 3).astype(np.float32) * 0.2
    sf.write(tmp_path / "noise.wav", noise, 16_000)
    return tmp_path / "noise.wav"


def test_noise_without_the_voice_check_is_a_low_confidence_answer(
    use_tiny: Speech2Face, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no voice check installed, the pitch track alone says the speech is missing."""
    monkeypatch.setattr(task.world_check, "check_sound_if_available", lambda *_: None)
    result = task.voice_to_face(_noise(tmp_path))
    assert not result.confident and result.in_world is None
    assert task.NOT_SPEECH_NOTE in result.notes and task.not_a_voice_note() not in result.notes


@pytest.mark.skipif(
    not (CHECKPOINTS / "out_of_world_voice" / "model.safetensors").is_file(),
    reason="the voice check is not shipped",
)
def test_noise_is_plainly_no_voice(use_tiny: Speech2Face, tmp_path: Path) -> None:
    result = task.voice_to_face(_noise(tmp_path))
    assert not result.confident and result.in_world is False
    assert task.not_a_voice_note() in result.notes and task.NOT_SPEECH_NOTE not in result.notes
    assert result.to_dict()["in_world"] is False


def test_cli_writes_the_face_and_one_json_line(
    use_tiny: Speech2Face, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from multimodal_core.cli import main

    out = tmp_path / "face.png"
    assert main(["voice-to-face", str(_voice(tmp_path)), "--out", str(out), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert answer["face_png"] == str(out) and out.is_file()
    assert set(answer["age"]) == {"child", "adult", "older"}


@pytest.mark.slow
def test_shipped_model_draws_faces_the_judge_tells_apart_by_gender(tmp_path: Path) -> None:
    """Held-out adult women and men: the judge reads the gender of their drawn faces."""
    from multimodal_core.models.face_attributes import FaceAttributeClassifier
    from multimodal_core.world.people import person
    from multimodal_core.world.splits import seeds

    model = Speech2Face.from_pretrained(CHECKPOINTS / "voice_to_face").float()
    judge = FaceAttributeClassifier.from_pretrained(CHECKPOINTS / "face_attributes").float()
    people = [person(s) for s in seeds("test", held_out_ok=True)[:200]]
    adults = [p for p in people if p.age_group == "adult"][:24]
    faces, genders = [], []
    for p in adults:
        drawn = task.draw_face(model, p.voice(3.0, 16_000))
        faces.append(torch.from_numpy(drawn.face).permute(2, 0, 1).float() / 255.0)
        genders.append(p.gender)
    probs = judge.predict(torch.stack(faces))["gender"][:, 1].numpy()  # P(male)
    is_male = np.array([g == "male" for g in genders])
    assert is_male.any() and (~is_male).any()
    accuracy = float(((probs > 0.5) == is_male).mean())
    assert accuracy >= 0.8, accuracy
    assert probs[is_male].mean() - probs[~is_male].mean() > 0.5


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("voice_*.wav")))
def test_shipped_model_on_the_example_voices(name: str) -> None:
    """The example voices: their age group and gender (examples.json) come out on top."""
    meta = {e["file"]: e for e in json.loads((EXAMPLES / "examples.json").read_text())["examples"]}[
        name
    ]
    result = task.voice_to_face(EXAMPLES / name)
    assert max(result.age, key=result.age.get) == meta["age_group"]
    assert max(result.gender, key=result.gender.get) == meta["gender"]
