"""Scene backgrounds: plain colours, same-hue gradients and tinted scikit-image textures.

Every background has one word that is true of it in a caption or an answer ("blue",
"grass"), so gradients stay within one hue and textures keep their natural tint.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (205, 45, 45),
    "orange": (240, 140, 35),
    "yellow": (240, 215, 60),
    "green": (60, 165, 75),
    "blue": (55, 110, 220),
    "purple": (135, 65, 185),
    "pink": (240, 135, 185),
    "gray": (128, 128, 128),
    "white": (245, 245, 245),
    "black": (30, 30, 30),
}
TEXTURES: dict[str, tuple[int, int, int]] = {
    "grass": (90, 175, 70),
    "brick": (190, 100, 75),
    "gravel": (170, 165, 155),
}
"""scikit-image texture name -> the tint that makes it look like what its word says."""

BACKGROUND_WORDS: tuple[str, ...] = (*COLOURS, *TEXTURES)
_COLOUR_JITTER = 8  # per-channel jitter, small enough that a colour keeps its name


@dataclass(frozen=True)
class Background:
    """What a scene's background is: ``kind`` (plain, gradient, texture) and its ``word``."""

    kind: str
    word: str


@lru_cache(maxsize=32)
def _texture(name: str, size: int) -> np.ndarray:
    """The grey texture resized to twice ``size``, contrast-normalised to mean 0, std 1."""
    import skimage.data  # dev-only dependency
    from PIL import Image

    grey = getattr(skimage.data, name)()
    resized = Image.fromarray(grey).resize((2 * size, 2 * size), Image.Resampling.BILINEAR)
    t = np.asarray(resized, dtype=np.float32)
    return (t - t.mean()) / (t.std() + 1e-6)


def render_background(
    rng: np.random.Generator, size: int, words: tuple[str, ...] = BACKGROUND_WORDS
) -> tuple[np.ndarray, Background]:
    """Draw a background word uniformly from ``words`` and render it (``(size, size, 3)`` float32
    in [0, 1]). Colours are plain or gradient with equal probability."""
    word = words[int(rng.integers(len(words)))]
    if word in TEXTURES:
        t = _texture(word, size)
        y, x = rng.integers(0, size + 1, 2)
        crop = t[y : y + size, x : x + size]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        tint = np.asarray(TEXTURES[word], np.float32) / 255.0
        image = tint * (1.0 + 0.18 * crop[:, :, None])
        return np.clip(image, 0.0, 1.0), Background("texture", word)
    base = np.asarray(COLOURS[word], np.float32) + rng.uniform(-1, 1, 3) * _COLOUR_JITTER
    base = (np.clip(base, 0, 255) / 255.0).astype(np.float32)
    if rng.random() < 0.5:
        return np.broadcast_to(base, (size, size, 3)).copy(), Background("plain", word)
    # Same hue from darker to lighter along a random direction.
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    t = 0.5 + 0.5 * (c * ramp[None, :] + s * ramp[:, None]) / (abs(c) + abs(s))  # (size, size)
    dark, light = base * 0.8, base + (1.0 - base) * 0.2
    image = dark + t[:, :, None] * (light - dark)
    return image, Background("gradient", word)
