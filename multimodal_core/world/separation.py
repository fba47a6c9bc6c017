"""Scenes for sound separation: a picture with two or three sounding objects and each one's
own clean soundtrack (their sum is the mixture), drawn from one seed of a split.

Objects that can sound come from distinct classes (one source per class), with 0-2 silent
objects beside them, as in the localization scenes; each source plays a fresh clip of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multimodal_core.world.catalogue import SOUNDING_CLASSES, get_class
from multimodal_core.world.scenes import Scene, SceneObject
from multimodal_core.world.seeding import rng_for
from multimodal_core.world.sounds import sound
from multimodal_core.world.splits import scene_in_split


@dataclass(frozen=True, eq=False)
class SeparationScene:
    """A scene, its sounding objects in drawing order and their clips (N, samples) float32."""

    scene: Scene
    sources: list[SceneObject]
    clips: np.ndarray

    @property
    def mixture(self) -> np.ndarray:
        """The sum of the sources' clips, at equal level (each clip is at -20 dBFS RMS)."""
        return self.clips.sum(axis=0).astype(np.float32)


def separation_scene(
    split: str,
    index: int,
    n_sources: int,
    *,
    seconds: float = 2.0,
    sample_rate: int = 16_000,
    size: int = 128,
    distractors: tuple[int, int] = (0, 2),
    held_out_ok: bool = False,
) -> SeparationScene:
    """The ``index``-th scene of ``split`` with exactly ``n_sources`` sounding objects and
    ``distractors`` (an inclusive range) silent ones."""
    if n_sources < 1:
        raise ValueError(f"n_sources must be positive, got {n_sources}")
    s = scene_in_split(
        split,
        index,
        held_out_ok=held_out_ok,
        size=size,
        classes=SOUNDING_CLASSES,
        n_objects=(n_sources, n_sources),
        distractors=distractors,
        repeat_probability=0.0,
    )
    sources = [o for o in s.objects if get_class(o.name).sound is not None]
    rng = rng_for(s.seed, "separation")
    clips = []
    for obj in sources:
        name = get_class(obj.name).sound
        assert name is not None  # sources were chosen for having a sound
        clips.append(sound(name, int(rng.integers(2**31)), seconds, sample_rate))
    return SeparationScene(s, sources, np.stack(clips))


def object_point(mask: np.ndarray) -> tuple[int, int]:
    """(x, y) of the visible pixel nearest the centroid of an object's visible pixels: where a
    person would click on it (the centroid itself can miss a ring-shaped or covered object)."""
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        raise ValueError("the object has no visible pixel")
    nearest = int(np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2))
    return int(cols[nearest]), int(rows[nearest])
