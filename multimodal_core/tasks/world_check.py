"""Is this picture from the synthetic world? One calibrated score that every tab reading a
picture with a built-in model asks before trusting that model's answer.

The score is the out-of-world head (``checkpoints/out_of_world``) on the frozen world classifier
(``checkpoints/world_classifier``): the probability that a picture is a world scene, compared
with the threshold stored in the head's config (set so that about 1% of validation scenes fall
below it). Both are declared together as one hub model, loaded on first use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from torch import nn

from multimodal_core import hub, media
from multimodal_core.backends import shared
from multimodal_core.errors import ModelUnavailableError
from multimodal_core.models.out_of_world import OutOfWorldHead
from multimodal_core.models.world_classifier import WorldClassifier
from multimodal_core.settings import get_settings

logger = logging.getLogger(__name__)

NAME = "out_of_world"
FOLDERS = ("world_classifier", "out_of_world")


@dataclass(frozen=True)
class WorldCheck:
    """``score``: the probability that the picture is a world scene; ``in_world``: it reaches
    the calibrated threshold."""

    in_world: bool
    score: float


class WorldChecker(hub.ModelWrapper):
    """The world classifier and the head in one module, so the hub places and guards both."""

    def __init__(self, classifier: WorldClassifier, head: OutOfWorldHead) -> None:
        if head.config.feature_dim != classifier.config.statistics_dim:
            raise ValueError(
                f"the head reads {head.config.feature_dim} statistics, the classifier gives "
                f"{classifier.config.statistics_dim}"
            )
        self.model = nn.ModuleDict({"classifier": classifier, "head": head})

    def check(self, images: list[np.ndarray]) -> list[WorldCheck]:
        """One :class:`WorldCheck` per float picture (H, W, 3) in [0, 1]."""
        classifier: WorldClassifier = self.model["classifier"]  # type: ignore[assignment]
        head: OutOfWorldHead = self.model["head"]  # type: ignore[assignment]
        param = next(classifier.parameters())
        batch = media.square_batch(images, classifier.config.image_size)
        stats = classifier.feature_statistics(batch.to(param.device, param.dtype))
        scores = head(stats.float()).world_probability.cpu().tolist()
        return [WorldCheck(p >= head.config.threshold, p) for p in scores]


def _load() -> WorldChecker:
    root = get_settings().checkpoints_dir
    missing = [f for f in FOLDERS if not (root / f / "model.safetensors").is_file()]
    if missing:
        raise ModelUnavailableError(
            "The out-of-world check is missing from the checkpoints folder "
            f"({', '.join(missing)}); train it with python -m multimodal_core.train.out_of_world."
        )
    return WorldChecker(
        WorldClassifier.from_pretrained(root / FOLDERS[0]),
        OutOfWorldHead.from_pretrained(root / FOLDERS[1]),
    )


hub.register(
    hub.ModelSpec(
        name=NAME,
        task=shared.SHARED,  # every tab that reads a picture with a built-in model
        loader=_load,
        approx_mb=4.8,  # the classifier's 1.2 M float32 parameters; the head is a few KB
        title="out-of-world check",
    )
)


@hub.gpu
def check_pictures(images: list[np.ndarray]) -> list[WorldCheck]:
    """Whether each decoded picture ((H, W, 3) float in [0, 1]) looks like a world scene."""
    checker: WorldChecker = hub.get(NAME)
    return checker.check(images)


def check_if_available(images: list[np.ndarray]) -> list[WorldCheck | None]:
    """:func:`check_pictures`, or a None for each picture (logged) when the check's
    checkpoints are missing: a tab still answers without the check rather than fail on it."""
    try:
        return list(check_pictures(images))
    except ModelUnavailableError as error:
        logger.warning("answering without the out-of-world check: %s", error)
        return [None] * len(images)


def out_of_world_note(answer: str, advice: str) -> str:
    """The one sentence a tab shows for a picture from outside the world: ``answer`` names what
    is likely wrong ("caption"), ``advice`` what to do instead."""
    return (
        "This picture does not look like the synthetic world the built-in model was trained on "
        f"(emoji on plain or textured backgrounds), so its {answer} is likely wrong; {advice}"
    )
