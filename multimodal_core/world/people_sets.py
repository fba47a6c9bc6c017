"""Rendered sets of people for voice-to-face, as its training and its evaluation both read them:
the face, the normalised face the decoder learns to draw, the attribute labels and the voice's
features, as arrays.

The voice features are the caller's: this package turns voices into samples, and the function
that turns samples into what a voice encoder reads (a log-mel spectrogram) comes with the call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from multimodal_core.world.glyphs import glyph
from multimodal_core.world.people import AGE_GROUPS, GENDERS, SKIN_TONE_NAMES, Person, person

logger = logging.getLogger(__name__)

HAIR_NAMES: tuple[str, ...] = ("default", "red", "curly", "blond", "bald", "beard", "gray")
"""Every hair style of ``world.people.HAIR_STYLES``, in the judge's and the head's order."""
ATTRIBUTES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("age_group", AGE_GROUPS),
    ("gender", GENDERS),
    ("skin_tone", SKIN_TONE_NAMES),
    ("hair", HAIR_NAMES),
)
NEUTRAL_BACKGROUND = (0.55, 0.62, 0.70)  # blue-grey: contrasts with light hair and every skin
NORMALISED_SCALE = 0.8  # glyph side / image side of the normalised face


@cache
def _normalised_face_cached(emoji: str, size: int) -> np.ndarray:
    px = max(8, 2 * round(NORMALISED_SCALE * size / 2))
    g = glyph(emoji, px)
    h, w = g.alpha.shape[:2]
    image = np.empty((size, size, 3), np.float32)
    image[:] = NEUTRAL_BACKGROUND
    y, x = (size - h) // 2, (size - w) // 2
    image[y : y + h, x : x + w] = image[y : y + h, x : x + w] * (1.0 - g.alpha) + g.rgb
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def normalised_face(p: Person, size: int = 64) -> np.ndarray:
    """(size, size, 3) uint8: the person's glyph centred at one scale on a neutral background,
    what the decoder learns to draw (the paper's normalised, front-facing face)."""
    return _normalised_face_cached(p.emoji, size)


def attribute_labels(p: Person) -> list[int]:
    """Indices of age group, gender, skin tone and hair, in :data:`ATTRIBUTES` order."""
    return [names.index(getattr(p, key)) for key, names in ATTRIBUTES]


@dataclass
class People:
    """Rendered people: faces and normalised faces (N, 64, 64, 3) uint8, labels (N, 4) int64,
    and log-mels (N, n_mels, T) float16 in dB (absent for face-only sets)."""

    seeds: np.ndarray
    faces: np.ndarray
    normalised: np.ndarray
    labels: np.ndarray
    mels: np.ndarray | None


def render_people(
    people_seeds: Sequence[int],
    seconds: float | None,
    log_mel: Callable[[np.ndarray], torch.Tensor] | None = None,
    sample_rate: int = 16_000,
    size: int = 64,
) -> People:
    """Render the people of ``people_seeds``; ``seconds=None`` skips their voices. ``log_mel``
    turns voices (B, samples) at ``sample_rate`` into features (B, n_mels, T)."""
    people = [person(int(s)) for s in people_seeds]
    faces = np.stack([p.face(size) for p in people])
    normalised = np.stack([normalised_face(p, size) for p in people])
    labels = np.asarray([attribute_labels(p) for p in people], np.int64)
    mels = None
    if seconds is not None:
        if log_mel is None:
            raise ValueError("voices need log_mel, the function that turns them into features")
        chunks = []
        for start in range(0, len(people), 64):
            waves = np.stack([p.voice(seconds, sample_rate) for p in people[start : start + 64]])
            chunks.append(log_mel(waves).to(torch.float16).numpy())  # (b, M, T)
            if start % 1024 == 0:
                logger.info("rendered %d / %d voices", start + len(waves), len(people))
        mels = np.concatenate(chunks)
    return People(np.asarray(people_seeds, np.int64), faces, normalised, labels, mels)


def to_images(batch: np.ndarray) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255.0)
