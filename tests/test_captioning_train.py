"""The captioning training entry point: a few steps on tiny settings, checkpoint and resume."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from multimodal_core.models.show_attend_tell import ShowAttendTell, Vocabulary
from multimodal_core.train.captioning import TrainArgs, encode_batch, parse_args, train


def tiny_args(tmp_path: Path, **overrides: object) -> TrainArgs:
    values = dict(
        out=tmp_path / "out", run_dir=tmp_path / "run", image_size=32, max_steps=2, batch_size=4,
        buffer_size=8, fresh_per_step=2, val_scenes=4, val_every=2, vocab_scenes=5, log_every=1,
    )  # fmt: skip
    values.update(overrides)
    return TrainArgs(**values)


def test_train_writes_a_loadable_checkpoint_and_resumes(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    try:
        first = train(tiny_args(tmp_path))
        assert first["total_steps"] == 2 and first["step"] == 2
        out = tmp_path / "out"
        assert {p.name for p in out.iterdir()} == {
            "config.json", "model.safetensors", "vocab.json", "training.json",
        }  # fmt: skip
        model = ShowAttendTell.from_pretrained(out)
        assert len(Vocabulary.from_pretrained(out)) == model.config.vocab_size
        assert json.loads((out / "training.json").read_text())["seed"] == 0
        resumed = train(tiny_args(tmp_path, max_steps=4, resume=True))
        assert resumed["total_steps"] == 4
    finally:
        torch.set_num_threads(threads)


def test_parse_args_and_batches() -> None:
    args = parse_args(["--minutes", "2", "--resume", "--image-size", "64"])
    assert args.minutes == 2.0 and args.resume and args.image_size == 64
    vocab = Vocabulary.build(["a dog on the grass"])
    batch = encode_batch(vocab, ["a dog", "a dog on the grass"], max_length=40)
    assert batch.shape == (2, 7)  # <start> 5 words <end>
    assert batch[0].tolist()[3:] == [2, 0, 0, 0]  # <end>, then <pad>
    assert batch[0, 0] == 1 and batch[1, -1] == 2
