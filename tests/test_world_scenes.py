"""Scenes: annotations consistent with the pixels and the geometry, options honoured, and the
same seed giving the same scene (and captions, questions, sounds, voices) in another process."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from multimodal_core.world.catalogue import CLASS_NAMES, SOUNDING_CLASSES
from multimodal_core.world.scenes import GRID, MIN_VISIBLE, POSITIONS, scene


def fingerprint(seeds: list[int]) -> str:
    """A digest of everything the world derives from these seeds."""
    from multimodal_core.world import language
    from multimodal_core.world.people import person
    from multimodal_core.world.sounds import mixture, sound

    h = hashlib.sha256()
    for seed in seeds:
        s = scene(seed, 64)
        h.update(s.image.tobytes())
        for o in s.objects:
            h.update(f"{o.name}{o.box}{o.size}{o.position}{o.emoji}".encode())
            h.update(np.packbits(o.mask).tobytes())
        h.update("|".join(language.captions(s)).encode())
        h.update(repr(language.questions(s)).encode())
        h.update(sound("violin", seed, 0.5).tobytes())
        h.update(mixture("bird", seed, 0.5, second="drum", noise="pink").audio.tobytes())
        p = person(seed)
        h.update(repr(p).encode() + p.face(32).tobytes() + p.voice(0.5).tobytes())
    return h.hexdigest()


def test_same_seed_same_world_in_another_process() -> None:
    seeds = [0, 1, 12345]
    here = Path(__file__).resolve().parent
    code = (
        f"import sys; sys.path[:0] = [{str(here.parent)!r}, {str(here)!r}]\n"
        f"from test_world_scenes import fingerprint; print(fingerprint({seeds}))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()
    assert other == fingerprint(seeds)


def test_different_seeds_differ() -> None:
    assert not np.array_equal(scene(1).image, scene(2).image)


@pytest.mark.parametrize("size", [64, 96, 128])
def test_annotations_match_geometry(size: int) -> None:
    for seed in range(60):
        s = scene(seed, size)
        assert s.image.shape == (size, size, 3) and s.image.dtype == np.uint8
        assert 1 <= len(s.objects) <= 4
        cells = set()
        for o in s.objects:
            x0, y0, x1, y1 = o.box
            assert 0 <= x0 < x1 <= size and 0 <= y0 < y1 <= size, o.box
            assert o.mask.shape == (size, size) and o.mask.dtype == bool
            ys, xs = np.nonzero(o.mask)
            assert len(xs) > 0, f"{o.name} fully hidden"
            assert x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1
            row = min(GRID - 1, int((y0 + y1) / 2 * GRID / size))
            col = min(GRID - 1, int((x0 + x1) / 2 * GRID / size))
            assert o.position == POSITIONS[row * GRID + col]
            cells.add(o.position)
            assert o.size in ("small", "large") and o.name in CLASS_NAMES
        assert len(cells) == len(s.objects), "two objects share a grid cell"
        # Masks are disjoint: a pixel shows one object at most.
        assert np.sum([o.mask for o in s.objects], axis=0).max() <= 1


def test_occlusion_is_limited() -> None:
    """Each object keeps most of its pixels: its visible mask fills a fair part of its box
    (MIN_VISIBLE of the glyph's own pixels; glyphs fill a third of their box at least)."""
    for seed in range(100):
        for o in scene(seed, 96).objects:
            x0, y0, x1, y1 = o.box
            assert o.mask.sum() >= MIN_VISIBLE * 0.3 * (x1 - x0) * (y1 - y0), (seed, o.name)


def test_large_objects_are_larger_than_small_ones() -> None:
    sides = {"small": [], "large": []}
    for seed in range(80):
        for o in scene(seed, 128).objects:
            sides[o.size].append(max(o.box[2] - o.box[0], o.box[3] - o.box[1]))
    assert np.median(sides["large"]) > 1.3 * np.median(sides["small"])


def test_options_are_honoured() -> None:
    for seed in range(30):
        s = scene(seed, 96, classes=SOUNDING_CLASSES, n_objects=(2, 4), distractors=(1, 2),
                  repeat_probability=0.0)  # fmt: skip
        sounding = [o for o in s.objects if o.name in SOUNDING_CLASSES]
        silent = [o for o in s.objects if o.name not in SOUNDING_CLASSES]
        assert 2 <= len(sounding) <= 4 and 1 <= len(silent) <= 2
        assert len(set(s.class_names)) == len(s.objects)
        c = scene(seed, 64, layout="center", n_objects=(1, 1))
        assert len(c.objects) == 1 and c.objects[0].position == "center"
        assert scene(seed, 64, backgrounds=("grass",)).background.word == "grass"
        pair = ("dog", "guitar")
        assert set(pair) <= set(scene(seed, 64, require_pair=pair).class_names)
        avoided = scene(seed, 64, classes=("dog", "guitar", "cat"), n_objects=(3, 4),
                        avoid_pairs={frozenset(pair)})  # fmt: skip
        assert not set(pair) <= set(avoided.class_names)


def test_bad_options_are_refused() -> None:
    with pytest.raises(KeyError):
        scene(0, classes=("unicorn",))
    with pytest.raises(ValueError):
        scene(0, n_objects=(3, 2))
    with pytest.raises(ValueError):
        scene(0, layout="center")  # needs exactly one object
    with pytest.raises(ValueError):
        scene(-1)
