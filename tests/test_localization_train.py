"""Localization training: recalibrating a checkpoint without training."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch

from multimodal_core.models.localization import LocalizationConfig, SoundLocalizer
from multimodal_core.train import localization as train


def test_calibrate_rewrites_threshold_and_confidence_and_records_how(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = LocalizationConfig(
        image_size=128, visual_channels=(4, 8, 8), decoder_channels=8, embed_dim=8,
        audio_channels=(8, 8), map_threshold=0.99, confident_similarity=0.99,
    )  # fmt: skip
    SoundLocalizer(config).save_pretrained(tmp_path)
    before = SoundLocalizer.from_pretrained(tmp_path)  # as stored (float16 on disk)
    (tmp_path / "training.json").write_text(json.dumps({"step": 7}))
    args = train.parse_args(["--out", str(tmp_path), "--val-scenes", "6", "--calibrate"])

    record = train.calibrate(args)

    calibrated = SoundLocalizer.from_pretrained(tmp_path)
    assert calibrated.config.map_threshold in train.THRESHOLDS  # 0.99 is not among the cuts
    assert calibrated.config.map_threshold == record["calibration"]["validation"]["threshold"]
    assert calibrated.config.map_smoothing == record["calibration"]["validation"]["smoothing"]
    assert calibrated.config.map_smoothing in train.MAP_SMOOTHINGS
    assert calibrated.config.confident_similarity != 0.99
    for name, weights in before.state_dict().items():  # the weights are untouched
        torch.testing.assert_close(calibrated.state_dict()[name], weights)
    stored = json.loads((tmp_path / "training.json").read_text())
    assert stored["step"] == 7 and "--calibrate" in stored["calibration"]["command"]


def test_a_short_run_writes_a_checkpoint_and_resume_state(tmp_path: Path) -> None:
    """Two steps end to end: render, loss, validation with calibration, save, resume state."""
    args = train.parse_args(
        [
            "--out", str(tmp_path / "out"), "--run-dir", str(tmp_path / "run"),
            "--max-steps", "2", "--batch-size", "4", "--prefill", "8", "--buffer-size", "16",
            "--fresh-per-step", "1", "--val-scenes", "4", "--val-every", "2",
        ]
    )  # fmt: skip
    record = train.train(args)

    assert record["total_steps"] == 2 and record["step"] == 2
    assert (tmp_path / "run" / "state.pt").is_file()
    model = SoundLocalizer.from_pretrained(tmp_path / "out")
    assert model.config.map_threshold == record["validation"]["threshold"]
    assert model.config.map_smoothing == record["validation"]["smoothing"]
    resumed = train.train(replace(args, resume=True, max_steps=3))
    assert resumed["total_steps"] == 3
