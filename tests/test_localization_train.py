"""Localization training: recalibrating a checkpoint without training."""

from __future__ import annotations

import json
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
    assert calibrated.config.confident_similarity != 0.99
    for name, weights in before.state_dict().items():  # the weights are untouched
        torch.testing.assert_close(calibrated.state_dict()[name], weights)
    stored = json.loads((tmp_path / "training.json").read_text())
    assert stored["step"] == 7 and "--calibrate" in stored["calibration"]["command"]
