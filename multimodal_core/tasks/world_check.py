"""Is this picture from the synthetic world? One calibrated score that every tab reading a
picture with a built-in model asks before trusting that model's answer.

The score is the out-of-world head (``checkpoints/out_of_world``) on the frozen world classifier
(``checkpoints/world_classifier``): the probability that a picture is a world scene, compared
with the threshold stored in the head's config (set so that about 1% of validation scenes fall
below it). Both are declared together as one hub model, loaded on first use.

Recordings get two checks of the same kind, both heads on the frozen audio net of the
localization model (``checkpoints/localization``, the net alone): ``sound`` (is this from the
world's sound world: its instruments, animals, machines and voices?,
``checkpoints/out_of_world_sound``) for the sound tabs, and ``voice`` (is this speech at all?,
``checkpoints/out_of_world_voice``) for the voice tab. The net and both heads are one hub
model, ``out_of_world_sound``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from torch import nn

from multimodal_core import audio, hub, media
from multimodal_core.backends import shared
from multimodal_core.choices import ModelChoices
from multimodal_core.errors import ModelUnavailableError
from multimodal_core.models.localization import AudioNet, SoundLocalizer
from multimodal_core.models.out_of_world import (
    OutOfWorldHead,
    hearing_config,
    recording_statistics,
    sound_statistics_dim,
)
from multimodal_core.models.world_classifier import WorldClassifier
from multimodal_core.settings import get_settings
from multimodal_core.tasks import availability

logger = logging.getLogger(__name__)

NAME = "out_of_world"
FOLDERS = ("world_classifier", "out_of_world")


SOUND_NAME = "out_of_world_sound"
SOUND_FOLDERS = ("localization", "out_of_world_sound", "out_of_world_voice")
QUESTIONS = ("sound", "voice")
"""What the sound check can ask of a recording: from the world's sounds? speech at all?"""


@dataclass(frozen=True)
class WorldCheck:
    """``score``: the probability that the input is from the world (a world scene, a world
    sound, a voice); ``in_world``: it reaches the calibrated ``threshold`` (and, for a sound,
    lies near a stored world example: see ``OutOfWorldHead.is_in_world``)."""

    in_world: bool
    score: float
    threshold: float


def weakest(checks: list[WorldCheck | None]) -> WorldCheck | None:
    """Of several inputs' checks (a picture's and a sound's), the one least in the world: an
    input out of it first, then the lowest score above or below its threshold. So the answer
    is in the world only when every input is; None when no check ran."""
    ran = [c for c in checks if c is not None]
    return min(ran, key=lambda c: (c.in_world, c.score - c.threshold)) if ran else None


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
        t = head.config.threshold
        return [WorldCheck(p >= t, p, t) for p in scores]


class SoundChecker(hub.ModelWrapper):
    """The localization model's audio net and the sound and voice heads in one module."""

    def __init__(
        self, net: AudioNet, heads: dict[str, OutOfWorldHead], features: audio.FeatureConfig
    ) -> None:
        for question, head in heads.items():
            if head.config.feature_dim != sound_statistics_dim(net):
                raise ValueError(
                    f"the {question} head reads {head.config.feature_dim} statistics, the audio "
                    f"net gives {sound_statistics_dim(net)}"
                )
        self.model = nn.ModuleDict({"net": net, **heads})
        self.features = features  # the log-mel the net hears

    def check(self, samples: np.ndarray, question: str) -> WorldCheck:
        """The ``question`` (:data:`QUESTIONS`) about mono float32 samples at the net's rate."""
        net: AudioNet = self.model["net"]  # type: ignore[assignment]
        head: OutOfWorldHead = self.model[question]  # type: ignore[assignment]
        stats = recording_statistics(net, self.features, [samples])
        param = next(head.parameters())
        stats = stats.to(param.device, param.dtype)
        p = float(head(stats).world_probability.float()[0])
        return WorldCheck(bool(head.is_in_world(stats)[0]), p, head.config.threshold)


def _missing(folders: tuple[str, ...], what: str) -> None:
    root = get_settings().checkpoints_dir
    missing = [f for f in folders if not (root / f / "model.safetensors").is_file()]
    if missing:
        raise ModelUnavailableError(
            f"The out-of-world check for {what} is missing from the checkpoints folder "
            f"({', '.join(missing)}); train it with python -m multimodal_core.train.out_of_world."
        )


def _load() -> WorldChecker:
    root = get_settings().checkpoints_dir
    _missing(FOLDERS, "pictures")
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


def _load_sound() -> SoundChecker:
    root = get_settings().checkpoints_dir
    _missing(SOUND_FOLDERS, "sounds")
    localizer = SoundLocalizer.from_pretrained(root / SOUND_FOLDERS[0])
    heads = {q: OutOfWorldHead.from_pretrained(root / f"out_of_world_{q}") for q in QUESTIONS}
    return SoundChecker(localizer.audio, heads, hearing_config(localizer.config))


hub.register(
    hub.ModelSpec(
        name=SOUND_NAME,
        task=shared.SHARED,  # the localization and voice tabs, and the sound tabs to come
        loader=_load_sound,
        approx_mb=0.9,  # the audio net's 0.23 M float32 parameters; the heads are a few KB
        title="out-of-world check for sounds and voices",
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


@hub.gpu
def check_sound(samples: np.ndarray, sample_rate: int, question: str) -> WorldCheck:
    """Whether a mono recording is from the world's sounds (``question="sound"``) or is a
    voice (``"voice"``)."""
    if question not in QUESTIONS:
        raise ValueError(f"question must be one of {QUESTIONS}, got {question!r}")
    checker: SoundChecker = hub.get(SOUND_NAME)
    rate = checker.features.sample_rate
    return checker.check(media.resample(samples, sample_rate, rate), question)


def check_sound_if_available(
    samples: np.ndarray, sample_rate: int, question: str
) -> WorldCheck | None:
    """:func:`check_sound`, or None (logged) when its checkpoints are missing."""
    try:
        return check_sound(samples, sample_rate, question)
    except ModelUnavailableError as error:
        logger.warning("answering without the out-of-world check for sounds: %s", error)
        return None


def where_to_go(choices: ModelChoices, inputs: str) -> str:
    """Advice for someone with real ``inputs`` ("photos"): the first pretrained choice that can
    load on this machine (``tasks.availability``), or one sentence saying that none can now."""
    pretrained = [choice for choice in choices.choices if choice.pretrained]
    dead = availability.unavailable_choices(choices)
    usable = [choice for choice in pretrained if choice.key not in dead]
    if usable:
        return f"for {inputs}, choose “{usable[0].label}”."
    if not pretrained:
        return f"no model of this tab knows real {inputs}."
    return (
        f"no model of this tab that knows real {inputs} can load on this machine now: the "
        "pretrained ones must be downloaded once, and the internet cannot be reached."
    )


def out_of_world_note(answer: str, advice: str) -> str:
    """The one sentence a tab shows for a picture from outside the world: ``answer`` names what
    is likely wrong ("caption"), ``advice`` what to do instead."""
    return (
        "This picture does not look like the synthetic world the built-in model was trained on "
        f"(emoji on plain or textured backgrounds), so its {answer} is likely wrong; {advice}"
    )


def sound_out_of_world_note(answer: str, advice: str) -> str:
    """The one sentence a tab shows for a recording from outside the world's sounds."""
    return (
        "This recording does not sound like the synthetic world the built-in model was trained "
        "on (its synthesised instruments, animals, machines and voices), so its "
        f"{answer} is likely wrong; {advice}"
    )
