"""The rendered people that voice-to-face and its face judge train on, cached on disk.

Voices cost about 25 ms each to synthesise and faces about 5 ms, so the first run renders
``people`` training people (their speech as float16 log-mels, the face, its normalised render,
the attributes), ``extra_faces`` more faces without a voice and the validation people into the
cache folder (git-ignored); later runs, of either training, reuse them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from multimodal_core import audio
from multimodal_core.world.people_sets import People, render_people
from multimodal_core.world.splits import seeds

logger = logging.getLogger(__name__)

FEATURES = audio.FeatureConfig()  # 16 kHz, 10 ms hops, 64 mels: the voice encoder's input


def voice_log_mel(samples: np.ndarray) -> torch.Tensor:
    """(n_mels, T) dB log-mel of a 16 kHz voice: the voice encoder's input."""
    return audio.log_mel(samples, FEATURES)


def cached_people(
    cache_dir: Path, name: str, people_seeds: Sequence[int], seconds: float | None
) -> People:
    """:func:`render_people`, stored as ``cache_dir/name.npz`` and reused when the seeds match."""
    path = cache_dir / f"{name}.npz"
    if path.is_file():
        data = np.load(path)
        if np.array_equal(data["seeds"], np.asarray(people_seeds)):
            mels = data.get("mels", None)
            return People(data["seeds"], data["faces"], data["normalised"], data["labels"], mels)
    start = time.perf_counter()
    people = render_people(people_seeds, seconds, voice_log_mel, FEATURES.sample_rate)
    cache_dir.mkdir(parents=True, exist_ok=True)
    arrays = {k: v for k, v in asdict(people).items() if v is not None}
    np.savez(path, **arrays)
    logger.info(
        "cached %d people in %s (%.0f s)", len(people_seeds), path, time.perf_counter() - start
    )
    return people


def training_people(
    cache_dir: Path, people: int, extra_faces: int, seconds: float, val_people: int
) -> tuple[People, People, People]:
    """The training people with voices, the faces the face stages learn from (theirs and
    ``extra_faces`` more) and the validation people (their own seed range)."""
    train_seeds = seeds("train")
    voiced = cached_people(cache_dir, f"train_{people}_{seconds:g}s", train_seeds[:people], seconds)
    val = cached_people(
        cache_dir, f"val_{val_people}_{seconds:g}s", seeds("validation")[:val_people], seconds
    )
    if not extra_faces:
        return voiced, voiced, val
    extra = cached_people(
        cache_dir, f"faces_{people}_{extra_faces}", train_seeds[people : people + extra_faces], None
    )
    faces = People(
        np.concatenate([voiced.seeds, extra.seeds]),
        np.concatenate([voiced.faces, extra.faces]),
        np.concatenate([voiced.normalised, extra.normalised]),
        np.concatenate([voiced.labels, extra.labels]),
        None,
    )
    return voiced, faces, val
