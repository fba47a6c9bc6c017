"""Pictures people would rather look at than read: heat maps laid over images, and grids of them.

Maps come from models at their own resolution (a 12 x 12 attention grid, a 32 x 32 localization
map); they are upsampled with the cell centres kept where they belong (``align_corners=False``
treats each value as the centre of its cell, which is how a grid of regions covers an image).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont


def as_uint8(image: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] or uint8 images to uint8 RGB (H, W, 3)."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return array[..., :3]


def resize_map(heat: np.ndarray | torch.Tensor, height: int, width: int) -> np.ndarray:
    """Bilinear resize of an (h, w) map to (height, width), each value at its cell's centre."""
    tensor = torch.as_tensor(np.asarray(heat, dtype=np.float32))[None, None]
    resized = F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False)
    return resized[0, 0].numpy()


@lru_cache(maxsize=4)
def _colormap(name: str) -> np.ndarray:
    from matplotlib import colormaps

    return (colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)


HEAT_COLORMAP = "inferno"
"""Perceptual and ordered by lightness (dark purple -> bright yellow): "brighter = more" reads
the same on any scene and in greyscale. The rainbow "jet" it replaces put its hot end, dark
red, on a red scene as red, and the map vanished."""
SCENE_LIGHTNESS = (0.15, 0.6)
"""The scene under a map, in grey, from black to white mapped into this range: its colours
cannot hide the map, and its brightest parts stay darker than the map's hot end."""


def _grey_scene(base: np.ndarray) -> np.ndarray:
    """The picture in dimmed grey (H, W, 1) float in [0, 255]: shapes still show, colours do not."""
    luma = base.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    low, high = SCENE_LIGHTNESS
    return (255.0 * low + (high - low) * luma)[..., None]


def _outline(region: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The inner (white) and outer (black) rings of a boolean region, ``width`` px each: a line
    that shows on dark and on light pixels alike."""

    def grow(mask: np.ndarray) -> np.ndarray:
        out = mask.copy()
        for _ in range(width):
            padded = np.pad(out, 1, mode="edge")
            out = (
                padded[1:-1, 1:-1] | padded[:-2, 1:-1] | padded[2:, 1:-1]
                | padded[1:-1, :-2] | padded[1:-1, 2:]
            )  # fmt: skip
        return out

    inner = region & grow(~region)
    outer = grow(region) & ~region
    return inner, outer


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """(n, d) -> (n, 2): the first two principal components, scaled to at most 1, where a map
    of vectors (words, pictures, a query) places its points."""
    centred = vectors - vectors.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    if xy.shape[1] < 2:
        xy = np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
    return xy / max(float(np.abs(xy).max()), 1e-9)


def overlay_heatmap(
    image: np.ndarray,
    heat: np.ndarray | torch.Tensor,
    alpha: float = 0.55,
    colormap: str = HEAT_COLORMAP,
    normalize: bool = True,
) -> np.ndarray:
    """Lay a map over an image so that it reads on any scene (the one overlay every tab uses).

    The scene is shown in dimmed grey; the map in a perceptual colour map, opaque where it is
    strong and faint where it is weak (``alpha`` scales both: a weak map stays faint); the
    strongest region (at least half way from the map's lowest value to its highest) is outlined
    in white inside black. ``heat`` is any (h, w) map; with ``normalize`` it is scaled to [0, 1]
    by its own range, otherwise it must already lie in [0, 1]. Returns uint8 RGB with the
    image's shape.
    """
    base = as_uint8(image)
    height, width = base.shape[:2]
    raw = resize_map(heat, height, width)
    values = raw
    if normalize:
        low, high = float(values.min()), float(values.max())
        values = (values - low) / (high - low) if high > low else np.zeros_like(values)
    values = np.clip(values, 0.0, 1.0)
    colours = _colormap(colormap)[(values * 255).astype(np.uint8)].astype(np.float32)
    weight = np.clip(alpha * (0.25 + 1.5 * values), 0.0, 1.0)[..., None]
    blended = _grey_scene(base) * (1.0 - weight) + colours * weight
    low, high = float(raw.min()), float(raw.max())
    if high - low > 1e-6:
        inner, outer = _outline(raw >= low + 0.5 * (high - low), max(1, max(height, width) // 128))
        blended[inner] = 255.0
        blended[outer] = 0.0
    return blended.round().astype(np.uint8)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def enlarge(picture: np.ndarray, side: int, smooth: bool = False) -> np.ndarray:
    """A small uint8 picture enlarged by a whole factor to about ``side`` pixels for the page.

    The browser shows a picture at most at its own size and blurs it when it scales it, so a 64 px
    drawing or a 128 px heat map would be a thumbnail, or a blur. Nearest pixels keep drawings and
    maps crisp; ``smooth`` (bicubic) suits a face. A picture already that large is returned as is.
    """
    factor = side // max(picture.shape[:2])
    if factor <= 1:
        return picture
    if not smooth:
        return np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)
    height, width = picture.shape[:2]
    return np.asarray(
        Image.fromarray(picture).resize((width * factor, height * factor), Image.Resampling.BICUBIC)
    )


def tile_picture(image: np.ndarray, tile: int) -> np.ndarray:
    """The picture as a (tile, tile, 3) uint8 square, as each tile of :func:`overlay_grid` shows
    it; a picture already that size comes back unchanged."""
    return np.asarray(
        Image.fromarray(as_uint8(image)).resize((tile, tile), Image.Resampling.BILINEAR)
    )


PHONE_SHOWN_WIDTH = 358
"""CSS pixels a full-width picture gets on a 390 px phone (the page's padding taken off)."""
MIN_LABEL_PX = 12
"""The smallest label, in CSS pixels as shown, that a phone's reader can read."""


def _label_layout(labels: Sequence[str], columns: int, tile: int, gap: int) -> tuple[int, int]:
    """The most columns (up to ``columns``) at which every label, in a font large enough to read
    when the whole sheet is shown :data:`PHONE_SHOWN_WIDTH` wide, fits under its tile; and that
    font size. More columns make a wider sheet, shown smaller on a phone: a larger font."""
    count = columns
    while True:
        sheet_width = count * (tile + gap) + gap
        size = max(-(-MIN_LABEL_PX * sheet_width // PHONE_SHOWN_WIDTH), tile // 8)
        font = _font(size)
        if count == 1 or all(font.getlength(label) <= tile for label in labels):
            return count, size
        count -= 1


def overlay_grid(
    image: np.ndarray,
    heats: Sequence[np.ndarray | torch.Tensor],
    labels: Sequence[str],
    columns: int = 5,
    tile: int = 160,
) -> np.ndarray:
    """One overlay per map with its label underneath (one per generated word, for instance).

    ``columns`` is the most per row: fewer are used when the labels would otherwise be too
    small to read on a phone (:func:`_label_layout`)."""
    if len(heats) != len(labels):
        raise ValueError(f"{len(heats)} maps but {len(labels)} labels")
    if not heats:
        raise ValueError("at least one map is needed")
    base_array = tile_picture(image, tile)
    gap = 4
    columns, size = _label_layout(labels, max(1, min(columns, len(heats))), tile, gap)
    font = _font(size)
    rows = -(-len(heats) // columns)
    label_height = int(size * 1.3) + 4
    cell_w, cell_h = tile + gap, tile + label_height + gap
    sheet = Image.new("RGB", (columns * cell_w + gap, rows * cell_h + gap), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for index, (heat, label) in enumerate(zip(heats, labels, strict=True)):
        row, column = divmod(index, columns)
        left, top = gap + column * cell_w, gap + row * cell_h
        sheet.paste(Image.fromarray(overlay_heatmap(base_array, heat)), (left, top))
        text_width = draw.textlength(label, font=font)
        draw.text(
            (left + max(0.0, (tile - text_width) / 2), top + tile + 2),
            label,
            fill=(20, 20, 20),
            font=font,
        )
    return np.asarray(sheet)
