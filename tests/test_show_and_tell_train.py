"""The Show and Tell training entry point: a few steps on tiny settings, checkpoint and resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from multimodal_core.models.show_and_tell import ShowAndTell
from multimodal_core.models.show_attend_tell import ShowAttendTell, ShowAttendTellConfig, Vocabulary
from multimodal_core.train.show_and_tell import TrainArgs, parse_args, train


def tiny_args(tmp_path: Path, **overrides: object) -> TrainArgs:
    values = dict(
        out=tmp_path / "out", run_dir=tmp_path / "run", image_size=32, max_steps=2,
        batch_size=4, buffer_size=8, fresh_per_step=2, val_scenes=4, val_every=2, vocab_scenes=5,
        log_every=1,
    )  # fmt: skip
    values.update(overrides)
    return TrainArgs(**values)


def test_train_writes_a_loadable_checkpoint_and_resumes(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    try:
        first = train(tiny_args(tmp_path, train_encoder=True))
        assert first["total_steps"] == 2 and first["step"] == 2
        out = tmp_path / "out"
        assert {p.name for p in out.iterdir()} == {
            "config.json", "model.safetensors", "vocab.json", "training.json",
        }  # fmt: skip
        model = ShowAndTell.from_pretrained(out)
        assert model.region_head is not None  # the same auxiliary loss as the attention model
        assert len(Vocabulary.from_pretrained(out)) == model.config.vocab_size
        record = json.loads((out / "training.json").read_text())
        assert record["seed"] == 0 and "train.show_and_tell" in record["command"]
        resumed = train(tiny_args(tmp_path, max_steps=4, resume=True, train_encoder=True))
        assert resumed["total_steps"] == 4
    finally:
        torch.set_num_threads(threads)


def test_by_default_the_encoder_is_the_attention_models_and_stays_as_it_was(
    tmp_path: Path,
) -> None:
    torch.manual_seed(5)
    attention = ShowAttendTell(ShowAttendTellConfig(vocab_size=9, image_size=32))
    attention.save_pretrained(tmp_path / "attention")
    source = ShowAttendTell.from_pretrained(tmp_path / "attention").encoder.state_dict()
    threads = torch.get_num_threads()
    try:
        train(tiny_args(tmp_path, encoder_from=tmp_path / "attention", max_steps=3))
    finally:
        torch.set_num_threads(threads)
    model = ShowAndTell.from_pretrained(tmp_path / "out")
    assert model.config.freeze_encoder and model.region_head is None
    trained = model.encoder.state_dict()
    assert trained.keys() == source.keys()
    assert all(torch.equal(trained[k], source[k]) for k in source)


def test_an_encoder_folder_without_an_encoder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    save_file({"decoder.weight": torch.zeros(2)}, tmp_path / "other" / "model.safetensors")
    with pytest.raises(ValueError, match="no encoder weights"):
        train(tiny_args(tmp_path, encoder_from=tmp_path / "other"))


def test_defaults_are_the_attention_models_but_the_folders() -> None:
    args = parse_args(["--minutes", "2", "--seed", "3"])
    assert args.minutes == 2.0 and args.seed == 3
    assert args.out.name == "show_and_tell" and args.run_dir.name == "show_and_tell"
    assert (args.batch_size, args.lr, args.region_loss_weight) == (64, 2e-3, 1.0)
    assert args.encoder_from.name == "captioning" and not args.train_encoder
