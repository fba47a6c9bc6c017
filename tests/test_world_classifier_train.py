"""The world classifier's training entry point: a short run, its checkpoint, and a resume."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch

from multimodal_core.models.world_classifier import WorldClassifier
from multimodal_core.train import world_classifier as train


def test_a_short_run_writes_a_checkpoint_and_resumes(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    args = train.parse_args(
        ["--out", str(tmp_path / "out"), "--run-dir", str(tmp_path / "run"), "--image-size", "32",
         "--max-steps", "2", "--batch-size", "4", "--val-scenes", "6", "--val-every", "1"]
    )  # fmt: skip
    try:
        record = train.train(args)
        assert record["total_steps"] == 2 and 0.0 <= record["val_set_acc"] <= 1.0
        assert WorldClassifier.from_pretrained(tmp_path / "out").config.image_size == 32
        assert json.loads((tmp_path / "out" / "training.json").read_text())["step"] >= 1
        resumed = train.train(replace(args, resume=True, max_steps=3))
        assert resumed["total_steps"] == 3
    finally:
        torch.set_num_threads(threads)
