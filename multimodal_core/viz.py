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


def overlay_heatmap(
    image: np.ndarray,
    heat: np.ndarray | torch.Tensor,
    alpha: float = 0.55,
    colormap: str = "jet",
    normalize: bool = True,
) -> np.ndarray:
    """Lay a coloured map over an image; strong values are opaque, weak ones let the image show.

    ``heat`` is any (h, w) map; with ``normalize`` it is scaled to [0, 1] by its own range,
    otherwise it must already lie in [0, 1]. Returns uint8 RGB with the image's shape.
    """
    base = as_uint8(image)
    height, width = base.shape[:2]
    values = resize_map(heat, height, width)
    if normalize:
        low, high = float(values.min()), float(values.max())
        values = (values - low) / (high - low) if high > low else np.zeros_like(values)
    values = np.clip(values, 0.0, 1.0)
    colours = _colormap(colormap)[(values * 255).astype(np.uint8)]
    weight = (alpha * (0.35 + 0.65 * values))[..., None]
    blended = base.astype(np.float32) * (1.0 - weight) + colours.astype(np.float32) * weight
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


def overlay_grid(
    image: np.ndarray,
    heats: Sequence[np.ndarray | torch.Tensor],
    labels: Sequence[str],
    columns: int = 5,
    tile: int = 160,
) -> np.ndarray:
    """One overlay per map with its label underneath (one per generated word, for instance)."""
    if len(heats) != len(labels):
        raise ValueError(f"{len(heats)} maps but {len(labels)} labels")
    if not heats:
        raise ValueError("at least one map is needed")
    base_array = tile_picture(image, tile)
    columns = max(1, min(columns, len(heats)))
    rows = -(-len(heats) // columns)
    label_height, gap = max(18, tile // 7), 4
    cell_w, cell_h = tile + gap, tile + label_height + gap
    sheet = Image.new("RGB", (columns * cell_w + gap, rows * cell_h + gap), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = _font(max(11, label_height - 6))
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
