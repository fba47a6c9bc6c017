"""The shipped joint space (checkpoints/matching) on a few held-out scenes: it finds each scene's
own caption, tags its objects and moves "picture - X + Y" to a scene with Y. Slow: it loads
three checkpoints and renders scenes."""

from __future__ import annotations

import pytest
import torch

from multimodal_core.evaluate.matching import load_space
from multimodal_core.settings import get_settings
from multimodal_core.world.datasets import image_tensor
from multimodal_core.world.language import captions
from multimodal_core.world.splits import scene_in_split

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shipped() -> tuple:
    space = load_space(get_settings().checkpoints_dir / "matching")
    scenes = [scene_in_split("test", i, held_out_ok=True, size=64) for i in range(40)]
    images = torch.stack([image_tensor(s.image) for s in scenes])
    return space, scenes, space.encode_images(images)


def test_the_shipped_space_matches_held_out_pictures_and_their_captions(shipped) -> None:
    space, scenes, pictures = shipped
    texts = space.encode_texts([captions(s)[0] for s in scenes])
    assert torch.allclose(pictures.norm(dim=1), torch.ones(len(scenes)), atol=1e-4)
    best = (texts @ pictures.T).argmax(1)
    same = [captions(scenes[j])[0] == captions(scenes[i])[0] for i, j in enumerate(best.tolist())]
    assert sum(same) >= 0.9 * len(scenes)  # the right picture, or one with the same caption


def test_the_shipped_space_tags_objects_and_does_arithmetic(shipped) -> None:
    space, scenes, pictures = shipped
    tags = space.tags(pictures, threshold=0.19)  # the evaluation's calibrated threshold
    found = sum(len({t for t, _ in tagged} & set(s.class_names)) for tagged, s in
                zip(tags, scenes, strict=True))  # fmt: skip
    assert found >= 0.85 * sum(len(s.class_names) for s in scenes)
    single = next(i for i, s in enumerate(scenes) if len(s.class_names) == 1)
    x = scenes[single].class_names[0]
    y = "cat" if x != "cat" else "dog"
    moved = space.arithmetic(pictures[single : single + 1], [x], [y])
    words = space.encode_texts([x, y])
    assert float(moved @ words[1]) > float(moved @ words[0])  # now nearer Y than X
