"""``torch.utils.data.Dataset`` views of the world, one per task, rendered on the fly.

Item ``i`` of a dataset is drawn from the ``i``-th seed of its split, so a dataset is a pure
function of its arguments: no files, any number of workers, the same data on any machine.
Held-out splits need ``held_out_ok=True`` (see :mod:`multimodal_core.world.splits`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from multimodal_core.world import language
from multimodal_core.world.scenes import Scene
from multimodal_core.world.splits import scene_in_split, seeds


def image_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)


class _SceneDataset(Dataset):
    """Scenes of one split; subclasses turn a scene into a task's item."""

    def __init__(
        self,
        split: str,
        size: int,
        length: int | None,
        held_out_ok: bool,
        scene_options: dict[str, Any],
    ) -> None:
        self.split = split
        self.size = size
        self.seeds = seeds(split, held_out_ok=held_out_ok)
        self.length = len(self.seeds) if length is None else length
        if not 0 < self.length <= len(self.seeds):
            raise ValueError(f"length must be in 1..{len(self.seeds)} for {split!r}")
        self._held_out_ok = held_out_ok
        self._options = scene_options

    def __len__(self) -> int:
        return self.length

    def scene(self, index: int) -> Scene:
        """The scene behind item ``index`` (with all its annotations)."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of {self.length}")
        return scene_in_split(
            self.split, index, held_out_ok=self._held_out_ok, size=self.size, **self._options
        )


class CaptioningItem(NamedTuple):
    image: torch.Tensor  # (3, H, W) float32 in [0, 1]
    captions: list[str]  # language.N_CAPTIONS true references, the canonical one first


class CaptioningDataset(_SceneDataset):
    """Scenes of 1-4 objects with all their reference captions.

    ``scene_options`` go to :func:`multimodal_core.world.scenes.scene` (n_objects, classes...).
    Batch with :func:`collate_captioning`: the default collate would transpose the captions.
    """

    def __init__(
        self,
        split: str = "train",
        size: int = 128,
        length: int | None = None,
        *,
        held_out_ok: bool = False,
        **scene_options: Any,
    ) -> None:
        super().__init__(split, size, length, held_out_ok, scene_options)

    def __getitem__(self, index: int) -> CaptioningItem:
        s = self.scene(index)
        return CaptioningItem(image_tensor(s.image), language.captions(s))


def collate_captioning(batch: list[CaptioningItem]) -> tuple[torch.Tensor, list[list[str]]]:
    """Images stacked to (B, 3, H, W); captions as one list of references per image."""
    return torch.stack([item.image for item in batch]), [item.captions for item in batch]


class VQAItem(NamedTuple):
    image: torch.Tensor  # (3, H, W) float32 in [0, 1]
    questions: list[language.Question]  # one per question type the scene allows


class VQADataset(_SceneDataset):
    """Scenes with several questions each (one per type the scene allows, up to seven):
    image features computed once serve every question of the scene, which makes training
    several times cheaper per question. Batch with :func:`collate_vqa`."""

    def __init__(
        self,
        split: str = "train",
        size: int = 96,
        length: int | None = None,
        *,
        held_out_ok: bool = False,
        question_types: tuple[str, ...] = language.QUESTION_TYPES,
        **scene_options: Any,
    ) -> None:
        # Repeated classes make every count answer common enough to learn (see ANSWER_WEIGHTS).
        scene_options.setdefault("repeat_probability", 0.5)
        super().__init__(split, size, length, held_out_ok, scene_options)
        self.question_types = question_types

    def __getitem__(self, index: int) -> VQAItem:
        s = self.scene(index)
        return VQAItem(image_tensor(s.image), language.questions(s, self.question_types))


class VQABatch(NamedTuple):
    images: torch.Tensor  # (B, 3, H, W)
    image_index: torch.Tensor  # (Q,) long: which image each question is about
    questions: list[str]  # Q texts
    answers: torch.Tensor  # (Q,) long: index into language.ANSWERS
    types: list[str]  # Q question types


_ANSWER_INDEX = {a: i for i, a in enumerate(language.ANSWERS)}


def collate_vqa(batch: list[VQAItem]) -> VQABatch:
    """Stack the images and flatten every scene's questions into one list."""
    pairs = [(i, q) for i, item in enumerate(batch) for q in item.questions]
    return VQABatch(
        images=torch.stack([item.image for item in batch]),
        image_index=torch.tensor([i for i, _ in pairs], dtype=torch.long),
        questions=[q.text for _, q in pairs],
        answers=torch.tensor([_ANSWER_INDEX[q.answer] for _, q in pairs], dtype=torch.long),
        types=[q.type for _, q in pairs],
    )
