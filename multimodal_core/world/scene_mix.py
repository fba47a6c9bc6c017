"""The world classifier's mix of scenes, which its training, its evaluation and the text-to-image
evaluation (it judges the GAN's pictures) all draw: the same kinds of picture, in the same order.

One large centred object is what the GAN's curriculum draws first, grids of one or two objects
what it draws later, fuller grids of up to four serve other tabs.
"""

from __future__ import annotations

import numpy as np
import torch

from multimodal_core.world.backgrounds import BACKGROUND_WORDS
from multimodal_core.world.catalogue import CLASS_NAMES
from multimodal_core.world.scenes import Scene
from multimodal_core.world.splits import scene_in_split

SCENE_MIX: tuple[tuple[float, dict], ...] = (
    (0.4, {"layout": "center", "n_objects": (1, 1)}),
    (0.4, {"layout": "grid", "n_objects": (1, 2)}),
    (0.2, {"layout": "grid", "n_objects": (1, 4)}),
)
"""(share, scene options): the kinds of picture the judge learns from, in the order of the
index cycle below (item i uses the kind of ``i % 10``)."""
_KIND_OF_SLOT = [k for k, (share, _) in enumerate(SCENE_MIX) for _ in range(round(share * 10))]


def scene_options(index: int) -> dict:
    """Scene options of the ``index``-th scene of any split: the mix is a fixed cycle of 10."""
    return SCENE_MIX[_KIND_OF_SLOT[index % len(_KIND_OF_SLOT)]][1]


def world_scene(split: str, index: int, size: int, *, held_out_ok: bool = False) -> Scene:
    """The ``index``-th scene of ``split`` in the judge's mix."""
    return scene_in_split(split, index, held_out_ok=held_out_ok, size=size, **scene_options(index))


def scene_targets(scenes: list[Scene]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """images (B, 3, S, S) float in [0, 1], object multi-hot (B, C), background ids (B,)."""
    images = torch.from_numpy(np.stack([s.image for s in scenes])).permute(0, 3, 1, 2)
    objects = torch.zeros((len(scenes), len(CLASS_NAMES)))
    for row, s in enumerate(scenes):
        for name in s.class_names:
            objects[row, CLASS_NAMES.index(name)] = 1.0
    backgrounds = torch.tensor([BACKGROUND_WORDS.index(s.background.word) for s in scenes])
    return images.float().div_(255.0), objects, backgrounds
