"""Heat-map overlays put the heat where the map says, and grids label every tile."""

from __future__ import annotations

import numpy as np
import pytest

from multimodal_core import viz


def test_overlay_colours_the_hot_cell_and_keeps_the_shape() -> None:
    image = np.full((96, 128, 3), 0.5, np.float32)
    heat = np.zeros((4, 4), np.float32)
    heat[0, 3] = 1.0  # top-right cell
    out = viz.overlay_heatmap(image, heat)
    assert out.shape == (96, 128, 3) and out.dtype == np.uint8
    top_right = out[:24, 96:].reshape(-1, 3).mean(axis=0)
    bottom_left = out[72:, :32].reshape(-1, 3).mean(axis=0)
    assert top_right[0] > top_right[2] + 40  # hot: red end of the colour map
    assert bottom_left[2] > bottom_left[0] + 10  # cold: blue end, image still visible
    assert bottom_left.min() > 60


def test_resize_keeps_cell_centres_aligned() -> None:
    heat = np.zeros((2, 2), np.float32)
    heat[0, 0] = 1.0
    big = viz.resize_map(heat, 64, 64)
    peak = np.unravel_index(big.argmax(), big.shape)
    assert peak[0] < 32 and peak[1] < 32  # the hot cell stays in its own quarter
    assert big[:16, :16].min() == pytest.approx(1.0)


def test_a_flat_map_is_drawn_as_nothing_stands_out() -> None:
    """A map with one value has no range to scale by: it is drawn as a map of zeros (the faint
    cold end everywhere), not divided by zero into NaN, which casts to arbitrary colours."""
    picture = np.full((8, 8, 3), 200, np.uint8)
    flat = viz.overlay_heatmap(picture, np.ones((2, 2)))
    assert np.array_equal(flat, viz.overlay_heatmap(picture, np.zeros((2, 2)), normalize=False))
    assert (flat == flat[0, 0]).all() and flat[0, 0, 2] > flat[0, 0, 0]  # uniform, blue end


def test_grid_has_one_tile_per_label() -> None:
    image = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    heats = [np.random.default_rng(i).random((6, 6)) for i in range(7)]
    sheet = viz.overlay_grid(image, heats, [f"w{i}" for i in range(7)], columns=4, tile=80)
    assert sheet.shape[1] > 4 * 80 and sheet.shape[0] > 2 * 80  # 4 columns, 2 rows
    with pytest.raises(ValueError):
        viz.overlay_grid(image, heats, ["too", "few"])
