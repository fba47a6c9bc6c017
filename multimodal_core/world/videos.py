"""The world's "videos" for SoundNet: a picture of sounding objects and its soundtrack.

A video is a scene with one to three sounding objects (distinct classes) and up to one silent
one, rendered at 64 px (the world classifier's resolution: the teacher looks at it), with each
sounding object's own clip; their sum is the soundtrack. The training, the evaluation and the
tab's world examples draw the same kind.
"""

from __future__ import annotations

from multimodal_core.world.separation import SeparationScene, separation_scene

MAX_SOURCES = 3
SOURCE_CYCLE = (1, 1, 1, 2, 2, 3)
"""Sounding objects of the i-th video: ``SOURCE_CYCLE[i % 6]`` (half the videos hold one)."""
SILENT_OBJECTS = (0, 1)  # silent objects per picture, an inclusive range
VIDEO_SIZE = 64  # the teacher's resolution


def video(
    split: str,
    index: int,
    *,
    n_sources: int | None = None,
    seconds: float = 2.0,
    sample_rate: int = 16_000,
    held_out_ok: bool = False,
) -> SeparationScene:
    """The ``index``-th video of ``split``; ``n_sources`` overrides the cycle's count."""
    count = SOURCE_CYCLE[index % len(SOURCE_CYCLE)] if n_sources is None else n_sources
    return separation_scene(
        split, index, count, seconds=seconds, sample_rate=sample_rate, size=VIDEO_SIZE,
        distractors=SILENT_OBJECTS, held_out_ok=held_out_ok,
    )  # fmt: skip
