"""Scenes: a background and a few Twemoji objects, each annotated with class, box, mask,
size word and position word, all drawn from one seed.

Objects sit in distinct cells of a 3 x 3 grid (jittered, slightly rotated, two sizes with a
gap between them), so that every position, size and relation word a caption or an answer
uses is true by geometry and unambiguous to a person looking at the picture. Overlaps are
limited: every object keeps at least ``MIN_VISIBLE`` of its pixels.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from multimodal_core.world.backgrounds import BACKGROUND_WORDS, Background, render_background
from multimodal_core.world.catalogue import CLASS_NAMES, SKIN_TONES, ObjectClass, get_class
from multimodal_core.world.glyphs import Glyph, glyph
from multimodal_core.world.seeding import rng_for

GRID = 3
POSITIONS: tuple[str, ...] = (
    "top left", "top", "top right",
    "left", "center", "right",
    "bottom left", "bottom", "bottom right",
)  # fmt: skip
"""Position words, row-major over the 3 x 3 grid: the cell that holds the box centre."""
SIZES: tuple[str, ...] = ("small", "large")
LAYOUTS: tuple[str, ...] = ("grid", "center")

SIZE_RANGES: dict[str, tuple[float, float]] = {"small": (0.17, 0.22), "large": (0.28, 0.34)}
"""Glyph side as a fraction of the image side; the gap keeps "small" and "large" distinct."""
CENTER_SIZE_RANGE = (0.55, 0.8)  # one large centred object (the text-to-image curriculum)
ANGLES: tuple[int, ...] = (-12, -8, -4, 0, 4, 8, 12)  # quantised so rendered glyphs cache
JITTER = 0.12  # of a cell: box centres stay well inside their cell
MIN_VISIBLE = 0.7  # smallest visible share of an object's pixels after later ones cover it
_ATTEMPTS = 8  # placements tried per object; the last is small, upright and centred in its cell


@dataclass(frozen=True, eq=False)
class SceneObject:
    """One drawn object: ``box`` is (x0, y0, x1, y1) in pixels, x1 and y1 exclusive (the box of
    its whole glyph); ``mask`` holds the pixels where it is visible (others may cover a part)."""

    name: str
    category: str
    box: tuple[int, int, int, int]
    mask: np.ndarray  # (H, W) bool
    size: str
    position: str
    emoji: str

    @property
    def cell(self) -> tuple[int, int]:
        """(row, column) of its grid cell: what "above" and "to the left of" compare."""
        return divmod(POSITIONS.index(self.position), GRID)


@dataclass(frozen=True, eq=False)
class Scene:
    """A rendered scene and its annotations; ``objects`` are in drawing order (last on top)."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    objects: list[SceneObject]
    background: Background
    seed: int

    @property
    def size(self) -> int:
        return int(self.image.shape[0])

    def count(self, name: str) -> int:
        """How many objects of class ``name`` the scene holds."""
        return sum(o.name == name for o in self.objects)

    @property
    def class_names(self) -> list[str]:
        """The distinct classes present, in drawing order of their first object."""
        return list(dict.fromkeys(o.name for o in self.objects))


def pair_key(a: str, b: str) -> frozenset[str]:
    """The unordered key of a class pair, as held-out pair sets store it."""
    return frozenset((a, b))


def _partners(avoid_pairs: Collection[frozenset[str]]) -> dict[str, set[str]]:
    """Class -> the classes it must not appear with."""
    partners: dict[str, set[str]] = {}
    for pair in avoid_pairs:
        for a in pair:
            partners.setdefault(a, set()).update(pair - {a})
    return partners


def _new_classes(
    pool: Sequence[str], chosen: list[str], partners: dict[str, set[str]]
) -> list[str]:
    """Classes of ``pool`` not yet chosen that form no avoided pair with the chosen ones."""
    banned = set(chosen).union(*(partners.get(d, ()) for d in chosen))
    return [c for c in pool if c not in banned]


def _choose_classes(
    rng: np.random.Generator,
    count: int,
    pool: Sequence[str],
    repeat_probability: float,
    partners: dict[str, set[str]],
    require_pair: tuple[str, str] | None,
) -> list[str]:
    """Pick ``count`` class names: each is an earlier one again (with ``repeat_probability``)
    or a new class from ``pool`` that forms no avoided pair with those already chosen."""
    chosen: list[str] = list(require_pair) if require_pair else []
    while len(chosen) < count:
        allowed = _new_classes(pool, chosen, partners)
        if chosen and (rng.random() < repeat_probability or not allowed):
            # A repeat, by chance or because every new class would complete an avoided pair.
            chosen.append(chosen[int(rng.integers(len(chosen)))])
        else:
            chosen.append(allowed[int(rng.integers(len(allowed)))])
    return chosen


def _position_of(box: tuple[int, int, int, int], size: int) -> str:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    col = min(GRID - 1, int(cx * GRID / size))
    row = min(GRID - 1, int(cy * GRID / size))
    return POSITIONS[row * GRID + col]


def _emoji_for(cls: ObjectClass, rng: np.random.Generator) -> str:
    if not cls.skin_tones:
        return cls.emoji
    tones = ("", *SKIN_TONES)
    return cls.emoji + tones[int(rng.integers(len(tones)))]


def scene(
    seed: int,
    size: int = 128,
    *,
    n_objects: tuple[int, int] = (1, 4),
    classes: Iterable[str] | None = None,
    distractors: tuple[int, int] = (0, 0),
    layout: str = "grid",
    repeat_probability: float = 0.3,
    avoid_pairs: Collection[frozenset[str]] = frozenset(),
    require_pair: tuple[str, str] | None = None,
    backgrounds: tuple[str, ...] = BACKGROUND_WORDS,
) -> Scene:
    """Render the scene of ``seed``: the same arguments give the same pixels and annotations.

    Args:
        n_objects: inclusive range of how many objects come from ``classes``.
        classes: class names to draw from (default: every class).
        distractors: inclusive range of extra objects from the classes *not* in ``classes``
            (localization: sounding objects plus silent ones).
        layout: "grid" (distinct cells of a 3 x 3 grid) or "center" (one large centred object).
        repeat_probability: chance that a further object repeats an earlier class ("two cats");
            0 makes every class in a scene unique.
        avoid_pairs: class pairs that must not appear together (held-out combinations).
        require_pair: two classes that must both appear (the novel-combination split).
        backgrounds: background words to draw from.
    """
    pool = tuple(CLASS_NAMES if classes is None else classes)
    for name in (*pool, *(require_pair or ())):
        get_class(name)  # KeyError for an unknown name, before any drawing
    lo, hi = n_objects
    dlo, dhi = distractors
    if not 1 <= lo <= hi or not 0 <= dlo <= dhi:
        raise ValueError(f"bad ranges n_objects={n_objects}, distractors={distractors}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if layout == "center" and (hi != 1 or dhi != 0 or require_pair):
        raise ValueError("the center layout draws exactly one object")
    if hi + dhi > GRID * GRID:
        raise ValueError(f"at most {GRID * GRID} objects fit the grid")
    if require_pair and hi < 2:
        raise ValueError("require_pair needs room for two objects")
    if dhi and classes is None:
        raise ValueError("distractors come from the classes outside `classes`: restrict it")

    rng = rng_for(seed, "scene")
    image, background = render_background(rng, size, backgrounds)
    partners = _partners(avoid_pairs)
    count = int(rng.integers(max(lo, 2 if require_pair else 1), hi + 1))
    names = _choose_classes(rng, count, pool, repeat_probability, partners, require_pair)
    n_distractors = int(rng.integers(dlo, dhi + 1))
    others = [c for c in CLASS_NAMES if c not in pool] if n_distractors else []
    for _ in range(n_distractors):
        allowed = _new_classes(others, names, partners)
        if allowed:  # else fewer distractors: every other class would complete an avoided pair
            names.append(allowed[int(rng.integers(len(allowed)))])
    names = [names[i] for i in rng.permutation(len(names))]

    cells = rng.permutation(GRID * GRID)[: len(names)]
    if layout == "center":
        cells = np.array([POSITIONS.index("center")])
    placements: list[_Placement] = []
    for name, cell in zip(names, cells, strict=True):
        p = _place(rng, name, int(cell), size, layout, placements)
        window = p.window
        for earlier in placements:  # the new glyph covers part of what is already drawn
            earlier.visible[window] &= ~p.glyph.opaque
        p.visible[window] = p.glyph.opaque
        placements.append(p)
        image[window] = image[window] * (1.0 - p.glyph.alpha) + p.glyph.rgb

    objects = [
        SceneObject(
            name=p.name,
            category=get_class(p.name).category,
            box=p.box,
            mask=p.visible,
            size=p.size_word,
            position=_position_of(p.box, size),
            emoji=p.emoji,
        )
        for p in placements
    ]
    # Backgrounds lie in [0, 1] and compositing is convex: no clipping needed.
    pixels = (image * 255.0 + 0.5).astype(np.uint8)
    return Scene(image=pixels, objects=objects, background=background, seed=seed)


@dataclass(eq=False)
class _Placement:
    """Where one glyph goes: its square's top-left (x, y), its box, and its visible pixels
    (shrinking as later glyphs cover it); ``area`` is its whole glyph's pixel count."""

    name: str
    emoji: str
    glyph: Glyph
    x: int
    y: int
    box: tuple[int, int, int, int]
    size_word: str
    visible: np.ndarray  # (H, W) bool
    area: int

    @property
    def window(self) -> tuple[slice, slice]:
        """The image rows and columns its glyph square covers."""
        h, w = self.glyph.opaque.shape
        return slice(self.y, self.y + h), slice(self.x, self.x + w)


def _place(
    rng: np.random.Generator,
    name: str,
    cell: int,
    size: int,
    layout: str,
    earlier: list[_Placement],
) -> _Placement:
    """Choose size, angle and offset for one glyph in its cell so that its box centre stays in
    the cell and every earlier object keeps ``MIN_VISIBLE`` of its pixels."""
    emoji = _emoji_for(get_class(name), rng)
    row, col = divmod(cell, GRID)
    step = size / GRID
    for attempt in range(_ATTEMPTS):
        last = attempt == _ATTEMPTS - 1
        if layout == "center":
            size_word, frac = "large", rng.uniform(*CENTER_SIZE_RANGE)
            jitter = 0.1 * step
        else:
            size_word = "small" if last else SIZES[int(rng.integers(len(SIZES)))]
            frac = rng.uniform(*SIZE_RANGES[size_word])
            jitter = 0.0 if last else JITTER * step
        px = max(8, 2 * round(frac * size / 2))
        angle = 0 if last else ANGLES[int(rng.integers(len(ANGLES)))]
        g = glyph(emoji, px, angle)
        h, w = g.opaque.shape
        cx = (col + 0.5) * step + rng.uniform(-jitter, jitter)
        cy = (row + 0.5) * step + rng.uniform(-jitter, jitter)
        x = min(max(round(cx - (g.box[0] + g.box[2]) / 2), 0), size - w)
        y = min(max(round(cy - (g.box[1] + g.box[3]) / 2), 0), size - h)
        box = (x + g.box[0], y + g.box[1], x + g.box[2], y + g.box[3])
        if _position_of(box, size) != POSITIONS[cell]:
            continue
        window = slice(y, y + h), slice(x, x + w)
        if all(
            e.visible.sum() - (e.visible[window] & g.opaque).sum() >= MIN_VISIBLE * e.area
            for e in earlier
        ):
            visible = np.zeros((size, size), dtype=bool)  # filled in when drawn
            return _Placement(name, emoji, g, x, y, box, size_word, visible, int(g.opaque.sum()))
    raise RuntimeError(f"could not place {emoji!r} in cell {cell} of a {size} px scene")
