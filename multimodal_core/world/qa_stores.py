"""Pictures with every question asked about them, for training and evaluating VQA.

Two sources: the synthetic world (a scene with all the questions the grammar asks of it, and
for each question where to look) and the public easy-vqa set from PyPI (64 x 64 shapes). A
:class:`SceneStore` keeps the pictures as uint8 and hands out batches in which each picture comes
with all of its questions, so a model encodes a picture once for about six questions.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from multimodal_core.media import squash_to_square
from multimodal_core.world import language
from multimodal_core.world.datasets import VQADataset

EASYVQA_SHAPES = frozenset({"circle", "rectangle", "triangle"})


class QABatch(NamedTuple):
    """Images and every question about them, flattened."""

    images: torch.Tensor  # (B, 3, H, W) float32 in [0, 1]
    image_index: torch.Tensor  # (Q,) long: which image each question is about
    questions: list[str]  # Q texts
    answers: torch.Tensor  # (Q,) long answer ids
    types: list[str]  # Q question types
    looks: Sequence[np.ndarray] = ()  # Q (L, regions) bool: what to look at in turn (world)


QA = tuple[str, int, str, np.ndarray]
"""A stored question: text, answer id, type and its looks ((L, regions) bool; L may be 0)."""

NO_LOOKS = np.zeros((0, 0), dtype=bool)


class SceneStore:
    """uint8 images (N, 3, H, W) with their questions (:data:`QA`) per image."""

    def __init__(self, capacity: int, size: int) -> None:
        self.images = torch.zeros((capacity, 3, size, size), dtype=torch.uint8)
        self.qas: list[list[QA]] = [[] for _ in range(capacity)]
        self.filled = 0
        self.cursor = 0

    def put(self, image: np.ndarray, qas: list[QA]) -> None:
        """Store (H, W, 3) uint8 and its questions, overwriting the oldest when full."""
        self.images[self.cursor] = torch.from_numpy(np.array(image)).permute(2, 0, 1)
        self.qas[self.cursor] = qas
        self.cursor = (self.cursor + 1) % len(self.qas)
        self.filled = min(self.filled + 1, len(self.qas))

    def batch(self, picks: Sequence[int]) -> QABatch:
        rows = [(n, qa) for n, i in enumerate(picks) for qa in self.qas[i]]
        return QABatch(
            images=self.images[torch.as_tensor(list(picks))].float().div_(255.0),
            image_index=torch.tensor([n for n, _ in rows], dtype=torch.long),
            questions=[qa[0] for _, qa in rows],
            answers=torch.tensor([qa[1] for _, qa in rows], dtype=torch.long),
            types=[qa[2] for _, qa in rows],
            looks=[qa[3] for _, qa in rows],
        )

    def batches(self, scenes_per_batch: int = 100) -> list[QABatch]:
        """Every stored image in order, in batches (for validation and evaluation)."""
        return [
            self.batch(range(s, min(s + scenes_per_batch, self.filled)))
            for s in range(0, self.filled, scenes_per_batch)
        ]


# ----- easy-vqa -------------------------------------------------------------------------------


def easyvqa_type(answer: str) -> str:
    """easy-vqa questions ask for a shape, a colour, or yes/no; the answer says which."""
    if answer in ("yes", "no"):
        return "yes/no"
    return "shape" if answer in EASYVQA_SHAPES else "color"


def easyvqa_answers() -> list[str]:
    import easy_vqa

    return list(easy_vqa.get_answers())


def easyvqa_store(split: str, image_ids: Sequence[int] | None = None) -> SceneStore:
    """easy-vqa's ``split`` ("train" or "test") images and questions; optionally a subset."""
    import easy_vqa
    from PIL import Image

    texts, answers, ids = (
        easy_vqa.get_train_questions() if split == "train" else easy_vqa.get_test_questions()
    )
    paths = (
        easy_vqa.get_train_image_paths() if split == "train" else easy_vqa.get_test_image_paths()
    )
    answer_index = {a: i for i, a in enumerate(easyvqa_answers())}
    by_image: dict[int, list[QA]] = {}
    for text, answer, image_id in zip(texts, answers, ids, strict=True):
        qa = (text, answer_index[answer], easyvqa_type(answer), NO_LOOKS)
        by_image.setdefault(image_id, []).append(qa)
    chosen = sorted(paths) if image_ids is None else list(image_ids)
    store = SceneStore(len(chosen), 64)
    for image_id in chosen:
        with Image.open(paths[image_id]) as image:
            store.put(np.asarray(image.convert("RGB")), by_image.get(image_id, []))
    return store


# ----- the synthetic world ----------------------------------------------------------------------


def world_answers() -> list[str]:
    return list(language.ANSWERS)


@functools.cache
def _world_answer_index() -> dict[str, int]:
    return {a: i for i, a in enumerate(world_answers())}


def object_regions(mask: np.ndarray, grid: int, coverage: float = 0.2) -> np.ndarray:
    """(grid * grid,) bool: the regions of a grid x grid split of the picture that an object's
    visible pixels (``mask`` (H, W) bool) cover by at least ``coverage``, or, for an object
    smaller than that, the one region it covers most."""
    pooled = F.adaptive_avg_pool2d(torch.from_numpy(mask).float()[None], grid).flatten()
    regions = pooled >= coverage
    if not regions.any():
        regions[pooled.argmax()] = True
    return regions.numpy()


@functools.lru_cache(maxsize=8)
def world_dataset(split: str, size: int, held_out_ok: bool) -> VQADataset:
    """The world's VQA scenes of ``split`` at ``size`` px (kept: building one costs a seed list)."""
    return VQADataset(split, size, held_out_ok=held_out_ok)


def world_qas(
    split: str,
    index: int,
    size: int,
    held_out_ok: bool = False,
    render_size: int | None = None,
    focus: tuple[tuple[str, ...], int] = ((), 0),
    grid: int = 0,
) -> tuple[np.ndarray, list[QA]]:
    """The image (size, size, 3) uint8 and every question (:data:`QA`) of one scene, drawn as
    the world's ``VQADataset`` draws it; ``render_size`` renders it larger and downscales it
    (uploads are larger than the model's input, e.g. the 128 px examples). ``focus`` = (types,
    draws) adds ``draws`` more draws of those types (relations and counts are rare in the
    world's own set: one question per type and scene), without duplicates. ``grid`` > 0 gives
    each question its looks (``language.Question.about`` as regions of a grid x grid split)."""
    scene = world_dataset(split, render_size or size, held_out_ok).scene(index)
    answer_index = _world_answer_index()
    types, draws = focus
    asked = language.questions(scene)
    if types:
        for draw in range(1, draws + 1):
            asked += language.questions(scene, types, draw=draw)
    unique = {q.text: q for q in asked}.values()  # a text always has the same answer
    regions = [object_regions(o.mask, grid) for o in scene.objects] if grid else []

    def looks(q: language.Question) -> np.ndarray:
        if not (grid and q.about):
            return NO_LOOKS
        return np.stack([np.any([regions[i] for i in look], axis=0) for look in q.about])

    qas = [(q.text, answer_index[q.answer], q.type, looks(q)) for q in unique]
    return squash_to_square(scene.image, size), qas  # as the task resizes an upload


def world_store(
    split: str,
    n_scenes: int,
    size: int,
    first: int = 0,
    held_out_ok: bool = False,
    grid: int = 0,
) -> SceneStore:
    """Scenes ``first .. first + n_scenes`` of a world split with all their questions (and
    their looks on a grid x grid split when ``grid`` > 0)."""
    store = SceneStore(n_scenes, size)
    for index in range(first, first + n_scenes):
        store.put(*world_qas(split, index, size, held_out_ok, grid=grid))
    return store


def hop_targets(looks: Sequence[np.ndarray], hops: int, regions: int) -> torch.Tensor:
    """(Q, hops, regions) bool: where each attention hop should look. Hop h takes a question's
    look min(h, L - 1), so "is the dog above the cat" sends hop 1 to the dog and hop 2 to the
    cat, and a one-object question sends every hop to its object; no looks, no target."""
    targets = torch.zeros((len(looks), hops, regions), dtype=torch.bool)
    for q, look in enumerate(looks):
        if len(look):
            order = [min(h, len(look) - 1) for h in range(hops)]
            targets[q] = torch.from_numpy(look[order])
    return targets
