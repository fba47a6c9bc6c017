"""Heat-map overlays put the heat where the map says, and grids label every tile."""

from __future__ import annotations

import numpy as np
import pytest

from multimodal_core import viz

SCENES = {
    "red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0),
    "yellow": (1.0, 1.0, 0.0), "white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0),
}  # fmt: skip


def _luma(pixels: np.ndarray) -> float:
    """Mean Rec. 709 luma of some RGB pixels, 0-255: what the eye reads as light and dark."""
    return float((pixels.reshape(-1, 3).astype(np.float64) @ [0.2126, 0.7152, 0.0722]).mean())


def _hot_corner_map() -> np.ndarray:
    heat = np.zeros((4, 4), np.float32)
    heat[0, 3] = 1.0  # top-right cell
    return heat


@pytest.mark.parametrize("scene", [*SCENES, "noise"])
def test_the_hot_region_stands_out_on_any_scene(scene: str) -> None:
    """On a red scene the old rainbow map's hot end (dark red) differed from its cold end by 25
    levels of luma out of 255: the map vanished. Every scene now needs a contrast of 50."""
    if scene == "noise":
        image = np.random.default_rng(0).random((96, 128, 3)).astype(np.float32)
    else:
        image = np.broadcast_to(np.array(SCENES[scene], np.float32), (96, 128, 3))
    out = viz.overlay_heatmap(image, _hot_corner_map())
    assert out.shape == (96, 128, 3) and out.dtype == np.uint8
    hot, cold = out[4:20, 104:124], out[76:92, 4:24]  # inside the hot cell, far from it
    assert _luma(hot) - _luma(cold) >= 50, scene  # brighter = more, whatever the scene


def test_the_strongest_region_is_outlined_in_white_and_black() -> None:
    out = viz.overlay_heatmap(np.full((96, 128, 3), 0.5, np.float32), _hot_corner_map())
    white = (out == 255).all(axis=-1)
    black = (out == 0).all(axis=-1)
    assert white[:48, 64:].sum() > 40 and black[:48, 64:].sum() > 40  # around the hot corner
    assert not white[48:].any() and not black[48:].any()  # nothing far from it
    scene = out[60:, :60]  # the scene shows through in grey where the map is weak
    assert np.abs(scene.astype(int) - scene[..., :1]).max() <= 2 and 40 < scene.mean() < 200


def test_resize_keeps_cell_centres_aligned() -> None:
    heat = np.zeros((2, 2), np.float32)
    heat[0, 0] = 1.0
    big = viz.resize_map(heat, 64, 64)
    peak = np.unravel_index(big.argmax(), big.shape)
    assert peak[0] < 32 and peak[1] < 32  # the hot cell stays in its own quarter
    assert big[:16, :16].min() == pytest.approx(1.0)


def test_a_flat_map_is_drawn_as_nothing_stands_out() -> None:
    """A map with one value has no range to scale by: it is drawn as a map of zeros (the faint
    cold end everywhere, no outline), not divided by zero into NaN, which casts to arbitrary
    colours."""
    picture = np.full((8, 8, 3), 200, np.uint8)
    flat = viz.overlay_heatmap(picture, np.ones((2, 2)))
    assert np.array_equal(flat, viz.overlay_heatmap(picture, np.zeros((2, 2)), normalize=False))
    assert (flat == flat[0, 0]).all() and flat.min() > 0 and flat.max() < 200  # uniform, dimmed


def test_grid_has_one_tile_per_label() -> None:
    image = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    heats = [np.random.default_rng(i).random((6, 6)) for i in range(7)]
    sheet = viz.overlay_grid(image, heats, [f"w{i}" for i in range(7)], columns=4, tile=80)
    assert sheet.shape[1] > 4 * 80 and sheet.shape[0] > 2 * 80  # 4 columns, 2 rows
    with pytest.raises(ValueError):
        viz.overlay_grid(image, heats, ["too", "few"])


def _label_rows(sheet: np.ndarray, tile: int) -> int:
    """How many pixel rows the first tile's label covers (its glyphs' height)."""
    strip = sheet[4 + tile : 4 + tile + tile // 2, 4 : 4 + tile]
    dark = np.flatnonzero((strip < 100).all(axis=-1).any(axis=1))
    return int(dark[-1] - dark[0] + 1) if dark.size else 0


@pytest.mark.parametrize(
    ("label", "columns", "tile"), [("Hd", 6, 80), ("Hd", 6, 128), ("Hd", 3, 64)]
)
def test_grid_labels_are_readable_on_a_phone(label: str, columns: int, tile: int) -> None:
    """Shown full width on a 390 px phone (358 px), a label's glyphs ("Hd": cap height and
    descender, 0.72 of the font size) must be at least 8 px high, about a 11-12 px font. The
    old fixed 12 px font in a 508 px sheet came out at 6 px."""
    image = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    heats = [np.random.default_rng(i).random((4, 4)) for i in range(columns)]
    sheet = viz.overlay_grid(image, heats, [label] * columns, columns=columns, tile=tile)
    shown = viz.PHONE_SHOWN_WIDTH / sheet.shape[1]
    assert _label_rows(sheet, tile) * shown >= 8


def test_long_labels_take_fewer_columns_than_asked() -> None:
    """Labels too long to be readable under six 128 px tiles on a phone wrap into more rows."""
    image = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    heats = [np.random.default_rng(i).random((4, 4)) for i in range(6)]
    short = viz.overlay_grid(image, heats, ["a"] * 6, columns=6, tile=128)
    long = viz.overlay_grid(image, heats, ["strawberries"] * 6, columns=6, tile=128)
    assert short.shape[1] > long.shape[1] and long.shape[0] > short.shape[0]
