"""Data splits: seed ranges, held-out class pairs, and the one way to draw a split's scene.

Train, validation and test are disjoint seed ranges of the same distribution. The test range
and the novel-combination range are held out: :func:`seeds` refuses them unless the caller
says ``held_out_ok=True`` (evaluation does; training code never needs to). Besides, the
classes of each pair in ``HELD_OUT_PAIRS`` never meet in a train, validation or test scene;
the ``novel_combo`` split holds one such pair in every scene, to measure generalisation to
new combinations of known objects.
"""

from __future__ import annotations

from typing import Any

from multimodal_core.world.catalogue import CLASS_NAMES, get_class
from multimodal_core.world.scenes import Scene, pair_key, scene

TRAIN = range(0, 10_000_000)
VALIDATION = range(10_000_000, 10_010_000)
TEST = range(20_000_000, 20_010_000)
NOVEL_COMBO = range(30_000_000, 30_010_000)

SPLITS: dict[str, range] = {
    "train": TRAIN,
    "validation": VALIDATION,
    "test": TEST,
    "novel_combo": NOVEL_COMBO,
}
HELD_OUT_SPLITS: tuple[str, ...] = ("test", "novel_combo")

HELD_OUT_PAIRS: tuple[tuple[str, str], ...] = (
    ("dog", "guitar"),
    ("cat", "car"),
    ("bird", "piano"),
    ("horse", "bicycle"),
    ("elephant", "pizza"),
    ("rabbit", "book"),
    ("apple", "airplane"),
    ("banana", "bus"),
    ("cake", "clock"),
    ("man", "drum"),
    ("woman", "violin"),
    ("girl", "trumpet"),
    ("boy", "helicopter"),
    ("grandma", "telephone"),
    ("saxophone", "wave"),
    ("flute", "tree"),
)
"""Class pairs that never appear together outside ``novel_combo``; the last seven are both
sounding, so that localization has new combinations too."""
_AVOID = frozenset(pair_key(a, b) for a, b in HELD_OUT_PAIRS)


class HeldOutSplitError(PermissionError):
    """Raised when code asks for a held-out split without saying it is evaluation code."""


def seeds(split: str, *, held_out_ok: bool = False) -> range:
    """The seed range of ``split``; held-out splits need ``held_out_ok=True``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    if split in HELD_OUT_SPLITS and not held_out_ok:
        raise HeldOutSplitError(
            f"the {split!r} split is held out for evaluation; pass held_out_ok=True from "
            "evaluation code only"
        )
    return SPLITS[split]


def split_of(seed: int) -> str:
    """Which split a seed belongs to (ValueError for a seed outside all of them)."""
    for name, seed_range in SPLITS.items():
        if seed in seed_range:
            return name
    raise ValueError(f"seed {seed} is in no split")


def scene_in_split(split: str, index: int, *, held_out_ok: bool = False, **options: Any) -> Scene:
    """The ``index``-th scene of ``split``, with that split's pair policy applied.

    ``options`` go to :func:`multimodal_core.world.scenes.scene` (size, n_objects, classes...).
    In ``novel_combo`` the required pair is the held-out pair chosen by the seed among those
    whose both classes are allowed by ``options["classes"]``.
    """
    seed = seeds(split, held_out_ok=held_out_ok)[index]
    if split != "novel_combo":
        return scene(seed, avoid_pairs=_AVOID, **options)
    pool = set(options.get("classes") or CLASS_NAMES)
    pairs = [p for p in HELD_OUT_PAIRS if set(p) <= pool]
    if not pairs:
        raise ValueError("no held-out pair lies within the requested classes")
    return scene(seed, require_pair=pairs[seed % len(pairs)], **options)


def _check_pairs() -> None:
    for a, b in HELD_OUT_PAIRS:
        get_class(a), get_class(b)  # KeyError at import for a misspelt class


_check_pairs()
