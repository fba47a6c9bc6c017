"""Voice-to-face training and its face judge: the three stages on a handful of people with
budgets of almost nothing (one step each), the checkpoints and records they write, a resume
that skips finished stages, and the judge's own entry point on the same cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from multimodal_core.models.face_attributes import FaceAttributeClassifier
from multimodal_core.models.speech2face import Speech2Face
from multimodal_core.train import face_attributes, voice_to_face

NOTHING = "1e-9"  # minutes: each stage takes one step and validates it


def tiny(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "--out", str(tmp_path / "out"), "--judge-out", str(tmp_path / "judge"),
        "--run-dir", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache"),
        "--people", "8", "--extra-faces", "4", "--seconds", "1", "--val-people", "6",
        "--face-minutes", NOTHING, "--judge-minutes", NOTHING, "--voice-minutes", NOTHING,
        "--batch-size", "4", *extra,
    ]  # fmt: skip


def test_three_stages_write_both_checkpoints_and_resume_skips_what_is_done(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    threads = torch.get_num_threads()
    try:
        assert voice_to_face.main(tiny(tmp_path)) == 0
        record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert [record[s]["steps"] for s in ("faces", "judge", "voice")] == [1, 1, 1]
        assert set(record["group_mean_faces"]) >= {"adult female", "older male"}
        Speech2Face.from_pretrained(tmp_path / "out")
        FaceAttributeClassifier.from_pretrained(tmp_path / "judge")
        judge_record = json.loads((tmp_path / "judge" / "training.json").read_text())
        assert judge_record["stage"] == "judge" and "voice" not in judge_record
        assert (tmp_path / "run" / "train.log").is_file()

        resumed = voice_to_face.train(voice_to_face.parse_args(tiny(tmp_path, "--resume")))
        assert {s: resumed[s] for s in ("faces", "judge", "voice")} == {
            s: record[s] for s in ("faces", "judge", "voice")
        }  # nothing trained again

        args = face_attributes.parse_args(
            ["--out", str(tmp_path / "judge_alone"), "--run-dir", str(tmp_path / "judge_run"),
             "--cache-dir", str(tmp_path / "cache"), "--people", "8", "--extra-faces", "4",
             "--seconds", "1", "--val-people", "6", "--minutes", NOTHING, "--batch-size", "4"]
        )  # fmt: skip
        alone = face_attributes.train(args)
        assert (
            alone["judge"]["steps"] == 1 and alone["judge"]["val_acc"] == record["judge"]["val_acc"]
        )
        FaceAttributeClassifier.from_pretrained(tmp_path / "judge_alone")
    finally:
        torch.set_num_threads(threads)


def test_unknown_stages_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown stages"):
        voice_to_face.parse_args(["--stages", "faces,lips"])
