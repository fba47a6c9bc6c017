"""The SoundNet training and evaluation pieces: a few steps on tiny settings, the world's videos,
and the figures the evaluation computes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from multimodal_core.evaluate.soundnet import (
    mean_average_precision,
    transfer_clips,
    write_examples,
)
from multimodal_core.models.soundnet import SoundNet
from multimodal_core.train.soundnet import TrainArgs, VideoBuffer, train
from multimodal_core.world.catalogue import CLASS_NAMES, SOUNDING_CLASSES, get_class
from multimodal_core.world.videos import SOURCE_CYCLE, VIDEO_SIZE, video

REPO = Path(__file__).resolve().parent.parent


def tiny_args(tmp_path: Path, **overrides: object) -> TrainArgs:
    values = dict(
        out=tmp_path / "out", run_dir=tmp_path / "run", max_steps=2, batch_size=4,
        buffer_size=12, prefill=6, fresh_per_step=1, val_videos=6, val_every=2, log_every=1,
    )  # fmt: skip
    values.update(overrides)
    return TrainArgs(**values)


def test_train_writes_a_loadable_checkpoint_and_resumes(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    try:
        first = train(tiny_args(tmp_path))
        assert first["total_steps"] == 2 and first["step"] == 2
        assert {"kl", "teacher_agreement", "single_top1"} <= set(first["validation"])
        out = tmp_path / "out"
        assert {p.name for p in out.iterdir()} == {
            "config.json", "model.safetensors", "training.json",
        }  # fmt: skip
        model = SoundNet.from_pretrained(out)
        assert model.config.class_names == CLASS_NAMES  # the teacher's classes
        record = json.loads((out / "training.json").read_text())
        assert record["seed"] == 0 and "train.soundnet" in record["command"]
        resumed = train(tiny_args(tmp_path, max_steps=4, resume=True))
        assert resumed["total_steps"] == 4
    finally:
        torch.set_num_threads(threads)


def test_videos_hold_the_cycles_sounding_objects_and_at_most_one_silent() -> None:
    for index in range(len(SOURCE_CYCLE)):
        item = video("train", index, seconds=0.5)
        assert item.scene.size == VIDEO_SIZE
        assert len(item.sources) == SOURCE_CYCLE[index] == len(item.clips)
        assert all(get_class(o.name).sound is not None for o in item.sources)
        silent = [o for o in item.scene.objects if get_class(o.name).sound is None]
        assert len(silent) <= 1 and len(item.scene.objects) == len(item.sources) + len(silent)
        assert item.clips.shape[1] == 8000


def test_the_buffer_mixes_only_the_sources_a_video_holds() -> None:
    """A one-source video's soundtrack is its clip (shifted and scaled), not its zero rows."""
    buffer = VideoBuffer(capacity=2, samples=100, n_classes=3, first=0)
    buffer.clips[0, 0] = torch.ones(100, dtype=torch.float16)
    buffer.n_sources[0] = 1
    buffer.teacher[0] = torch.tensor([0.2, 0.3, 0.5])
    buffer.filled = 1
    tracks, says = buffer.sample(np.random.default_rng(0), 1, TrainArgs(noise_probability=0.0))
    assert tracks.shape == (1, 100) and torch.allclose(tracks, torch.full((1, 100), 0.1), atol=1e-3)
    assert torch.equal(says[0], buffer.teacher[0])


def test_mean_average_precision_is_one_for_a_perfect_ranking_and_drops_otherwise() -> None:
    present = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=bool)  # class 2 never present
    assert mean_average_precision(present.astype(float), present) == pytest.approx(1.0)
    reversed_scores = 1.0 - present.astype(float)
    assert mean_average_precision(reversed_scores, present) < 0.7


def test_transfer_clips_are_labelled_per_program_and_differ_between_seeds() -> None:
    tracks, labels = transfer_clips(2, seed=0, seconds=0.5)
    assert tracks.shape == (20, 8000) and labels.tolist() == [i // 2 for i in range(20)]
    other, _ = transfer_clips(2, seed=1, seconds=0.5)
    assert not torch.equal(tracks, other)
    rms = tracks.square().mean(dim=1).sqrt()
    assert torch.all(rms > 0.01)  # never silent


def test_the_shipped_examples_are_what_write_examples_writes(tmp_path: Path) -> None:
    """The tab's example videos in examples/soundnet match a fresh write (so they came from the
    test split as the evaluation draws it), with sounding objects that can sound."""
    shipped = json.loads((REPO / "examples" / "soundnet" / "examples.json").read_text())
    assert write_examples(tmp_path) == shipped
    for entry in shipped:
        assert entry["sounding"] and set(entry["sounding"]) <= set(SOUNDING_CLASSES)
        assert (REPO / "examples" / "soundnet" / entry["audio"]).is_file()


def test_sound_to_space_gives_unit_vectors_and_its_loss_prefers_the_true_pictures() -> None:
    from multimodal_core.models.soundnet import SoundToSpace, SoundToSpaceConfig

    torch.manual_seed(0)
    model = SoundToSpace(SoundToSpaceConfig(in_dim=12, embed_dim=6, hidden=16))
    pool5 = torch.randn(8, 12)
    out = model(pool5)
    assert out.shape == (8, 6) and torch.allclose(out.norm(dim=1), torch.ones(8), atol=1e-5)
    own = out.detach()  # pictures exactly where the sounds land: the loss is near its minimum
    assert model.loss(pool5, own) < model.loss(pool5, own.roll(1, dims=0))


def test_sound_search_training_writes_a_projection_into_the_spaces_dimension(
    tmp_path: Path,
) -> None:
    from multimodal_core.models.joint_embedding import JointEmbedding
    from multimodal_core.models.soundnet import SoundNetConfig, SoundToSpace
    from multimodal_core.train import sound_search

    SoundNet(SoundNetConfig(class_names=CLASS_NAMES)).save_pretrained(tmp_path / "student")
    threads = torch.get_num_threads()
    try:
        args = sound_search.TrainArgs(
            out=tmp_path / "out", run_dir=None, student=tmp_path / "student", videos=24,
            val_videos=12, steps=4, batch_size=8, val_every=2,
        )  # fmt: skip
        result = sound_search.train(args)
    finally:
        torch.set_num_threads(threads)
    assert 0.0 <= result["validation"]["r1_s2i"] <= 1.0 and result["step"] in (2, 4)
    projection = SoundToSpace.from_pretrained(tmp_path / "out")
    space = JointEmbedding.from_pretrained(REPO / "checkpoints" / "matching")
    assert projection.config.embed_dim == space.config.embed_dim
    assert projection.config.in_dim == SoundNetConfig(class_names=CLASS_NAMES).pool5_dim
