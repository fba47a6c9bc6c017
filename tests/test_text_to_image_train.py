"""The text-to-image training entry point: a short run judged by the shipped world classifier,
its checkpoint, and a resume."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from multimodal_core.models.text_gan import TextGAN
from multimodal_core.settings import REPO_ROOT
from multimodal_core.train import text_to_image as train

JUDGE = REPO_ROOT / "checkpoints" / "world_classifier"


@pytest.mark.slow
@pytest.mark.skipif(not (JUDGE / "model.safetensors").is_file(), reason="no shipped judge")
def test_a_short_run_writes_a_checkpoint_and_resumes(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    args = train.parse_args(
        ["--out", str(tmp_path / "out"), "--run-dir", str(tmp_path / "run"), "--judge", str(JUDGE),
         "--max-steps", "2", "--batch-size", "4", "--buffer-size", "8", "--fresh-per-step", "1",
         "--val-prompts", "4", "--val-every", "1", "--device", "cpu"]
    )  # fmt: skip
    try:
        record = train.train(args)
        assert record["total_steps"] == 2 and 0.0 <= record["object_acc"] <= 1.0
        TextGAN.from_pretrained(tmp_path / "out")
        history = json.loads((tmp_path / "out" / "training.json").read_text())["history"]
        assert [h["step"] for h in history][:1] == [1]
        resumed = train.train(replace(args, resume=True, max_steps=3))
        assert resumed["total_steps"] == 3
    finally:
        torch.set_num_threads(threads)
