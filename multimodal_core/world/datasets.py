"""``torch.utils.data.Dataset`` views of the world (captioning, VQA and localization scenes),
rendered on the fly.

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
from multimodal_core.world.catalogue import CLASS_NAMES, SOUNDING_CLASSES, get_class
from multimodal_core.world.scenes import Scene, SceneObject
from multimodal_core.world.seeding import rng_for
from multimodal_core.world.sounds import NOISES, Mixture, mixture
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


class VQAItem(NamedTuple):
    image: torch.Tensor  # (3, H, W) float32 in [0, 1]
    questions: list[language.Question]  # one per question type the scene allows


class VQADataset(_SceneDataset):
    """Scenes with several questions each (one per type the scene allows, up to seven):
    image features computed once serve every question of the scene, which makes training
    several times cheaper per question."""

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


class LocalizationItem(NamedTuple):
    image: torch.Tensor  # (3, H, W) float32 in [0, 1]
    audio: torch.Tensor  # (T,) float32: the sounding object, maybe a quieter off-screen one, noise
    mask: torch.Tensor  # (H, W) bool: visible pixels of the sounding object
    box: torch.Tensor  # (4,) long: x0, y0, x1, y1 (exclusive) of the sounding object
    label: int  # index in CLASS_NAMES of the sounding object


class LocalizationDataset(_SceneDataset):
    """Scenes of 2-4 objects that can sound (distinct classes) plus 0-2 silent ones, and the
    sound of one of them: knowing what sounds does not say where, the picture must.

    With ``second_probability`` a quieter source that is *not* in the picture joins the mix;
    with ``noise_probability`` background noise (pink noise or applause) does.
    """

    def __init__(
        self,
        split: str = "train",
        size: int = 128,
        length: int | None = None,
        *,
        held_out_ok: bool = False,
        seconds: float = 2.0,
        sample_rate: int = 16000,
        second_probability: float = 0.5,
        noise_probability: float = 0.5,
        **scene_options: Any,
    ) -> None:
        scene_options.setdefault("classes", SOUNDING_CLASSES)
        scene_options.setdefault("n_objects", (2, 4))
        scene_options.setdefault("distractors", (0, 2))
        scene_options.setdefault("repeat_probability", 0.0)  # one sounding object per class
        super().__init__(split, size, length, held_out_ok, scene_options)
        self.seconds = seconds
        self.sample_rate = sample_rate
        self.second_probability = second_probability
        self.noise_probability = noise_probability

    def sounding(self, s: Scene) -> tuple[SceneObject, Mixture]:
        """Which object of scene ``s`` sounds, and the sound track."""
        rng = rng_for(s.seed, "localization")
        candidates = [o for o in s.objects if get_class(o.name).sound is not None]
        target = candidates[int(rng.integers(len(candidates)))]
        second = None
        if rng.random() < self.second_probability:
            off_screen = [c for c in SOUNDING_CLASSES if c not in s.class_names]
            second = get_class(off_screen[int(rng.integers(len(off_screen)))]).sound
        noise = str(rng.choice(NOISES)) if rng.random() < self.noise_probability else None
        source = get_class(target.name).sound
        if source is None:  # unreachable: candidates all have a sound
            raise RuntimeError(f"{target.name} has no sound")
        track = mixture(source, s.seed, self.seconds, self.sample_rate, second=second, noise=noise)
        return target, track

    def __getitem__(self, index: int) -> LocalizationItem:
        s = self.scene(index)
        target, track = self.sounding(s)
        return LocalizationItem(
            image=image_tensor(s.image),
            audio=torch.from_numpy(track.audio),
            mask=torch.from_numpy(target.mask),
            box=torch.tensor(target.box, dtype=torch.long),
            label=CLASS_NAMES.index(target.name),
        )
