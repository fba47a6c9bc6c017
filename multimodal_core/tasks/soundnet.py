"""Sound to scene: what does a sound network hear in a recording?

The built-in model is SoundNet's student (Aytar et al. 2016, ``checkpoints/soundnet``): 1-D
convolutions on the raw waveform, taught without a single label by a picture network (the world
classifier, the teacher) that looked at the paired pictures of unlabelled "videos". For a world
example the tab also passes the paired picture, and the teacher's distribution on it is shown
beside the student's, so the teacher and the student can be compared. The teacher is the world
classifier the out-of-world check already holds (:data:`world_check.NAME`): it is not loaded twice.
The zero-shot choice is CLAP (the studio's one shared copy, :data:`shared.CLAP`) scoring labels the
person types.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from multimodal_core import hub, media
from multimodal_core.backends import shared
from multimodal_core.backends.localization import CLAP_SAMPLE_RATE, TAGS
from multimodal_core.choices import ModelChoice, ModelChoices
from multimodal_core.errors import InputError, ModelUnavailableError
from multimodal_core.models.soundnet import SoundNet, teacher_distribution
from multimodal_core.models.world_classifier import WorldClassifier
from multimodal_core.settings import get_settings
from multimodal_core.tasks import world_check

logger = logging.getLogger(__name__)

BUILTIN = "soundnet"
CHOICES = ModelChoices(
    (
        ModelChoice("builtin",
                    "Built-in: SoundNet student taught by a picture network (synthetic world, "
                    "offline)",
                    (BUILTIN,)),
        ModelChoice("zero-shot",
                    "Pretrained zero-shot: CLAP scores the labels you type (downloads)",
                    (shared.CLAP.name,), pretrained=True),
    ),
    presets={"builtin": "builtin", "pretrained": "zero-shot"},
)  # fmt: skip
DEFAULT_LABELS: tuple[str, ...] = tuple(tag.name for tag in TAGS)
"""CLAP's labels when none are typed: the world's sound sources, then a few everyday sounds."""
MAX_LABELS = 64  # more typed labels than this is a paste gone wrong, not a question
MAX_LABEL_CHARS = 60
TOP = 8  # bars shown per distribution
SAMPLE_RATE = 16_000  # the student's rate (its config says so too; checked on load)


def sound_out_of_world_note() -> str:
    """The built-in model's sentence for a recording from outside its world's sounds."""
    advice = world_check.where_to_go(CHOICES, "recordings")
    return world_check.sound_out_of_world_note(
        "guess", f"the bars above are still what it hears; {advice}"
    )


@dataclass(frozen=True)
class HearResult:
    """What the tab, the API and the CLI show.

    ``heard``: every class (or typed label) with its probability, likeliest first (the student's
    softmax, or CLAP's). ``teacher``: the teacher's distribution on the paired picture, likeliest
    first, when a picture was given to the built-in model; None otherwise.
    """

    model: str
    heard: list[tuple[str, float]]
    teacher: list[tuple[str, float]] | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # The out-of-world check of the sound (built-in model only; None when not installed).
    sound_in_world: bool | None = None
    sound_in_world_score: float | None = None

    @property
    def top(self) -> tuple[str, float]:
        return self.heard[0]

    def to_dict(self) -> dict:
        """JSON-ready: the top classes of each distribution."""
        return {
            "model": self.model,
            "top": self.top[0],
            "top_probability": round(self.top[1], 4),
            "heard": [(name, round(p, 4)) for name, p in self.heard[:TOP]],
            "teacher": None
            if self.teacher is None
            else [(name, round(p, 4)) for name, p in self.teacher[:TOP]],
            "seconds": round(self.seconds, 3),
            "notes": self.notes,
            "sound_in_world": self.sound_in_world,
            "sound_in_world_score": self.sound_in_world_score,
        }


def _load_builtin() -> SoundNet:
    folder = get_settings().checkpoints_dir / BUILTIN
    if not (folder / "model.safetensors").is_file():
        raise ModelUnavailableError(
            "The built-in SoundNet student is missing from the checkpoints folder "
            "(MMC_CHECKPOINTS_DIR); train it with python -m multimodal_core.train.soundnet."
        )
    model = SoundNet.from_pretrained(folder)
    if model.config.sample_rate != SAMPLE_RATE:
        raise ModelUnavailableError(
            f"The SoundNet checkpoint hears {model.config.sample_rate} Hz; this studio feeds it "
            f"{SAMPLE_RATE} Hz."
        )
    return model


def _checkpoint_mb() -> float:
    path = get_settings().checkpoints_dir / BUILTIN / "model.safetensors"
    return path.stat().st_size / 2**20 if path.is_file() else 4.0


hub.register(
    hub.ModelSpec(
        name=BUILTIN,
        task="soundnet",
        loader=_load_builtin,
        approx_mb=_checkpoint_mb(),
        title="built-in SoundNet student",
    )
)
shared.register()


def _ranked(names: Sequence[str], probabilities: np.ndarray) -> list[tuple[str, float]]:
    order = np.argsort(-probabilities, kind="stable")
    return [(names[i], float(probabilities[i])) for i in order]


@hub.gpu
def student_probabilities(model: SoundNet, samples: np.ndarray) -> np.ndarray:
    """The student alone: softmax over its classes (C,) of mono float32 samples at 16 kHz."""
    param = next(model.parameters())
    with torch.inference_mode():
        waveform = torch.as_tensor(samples, dtype=torch.float32)[None]  # (1, T)
        logits = model(waveform.to(param.device, param.dtype)).logits  # (1, C)
    return torch.softmax(logits.float(), dim=1)[0].cpu().numpy()


@hub.gpu
def teacher_probabilities(image: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """The teacher on one picture ((H, W, 3) float in [0, 1]): its class names and its
    distribution (C,), the world classifier's sigmoid probabilities made to sum to 1."""
    checker: world_check.WorldChecker = hub.get(world_check.NAME)
    classifier: WorldClassifier = checker.model["classifier"]  # type: ignore[assignment]
    param = next(classifier.parameters())
    batch = media.square_batch([image], classifier.config.image_size)
    with torch.inference_mode():
        logits = classifier(batch.to(param.device, param.dtype)).object_logits  # (1, C)
    return classifier.config.class_names, teacher_distribution(logits)[0].cpu().numpy()


@hub.gpu
def _clap_probabilities(tagger, samples: np.ndarray, prompts: tuple[str, ...]) -> np.ndarray:
    return tagger.tag(samples, prompts)


def parse_labels(labels: str | Sequence[str] | None) -> tuple[str, ...]:
    """Typed labels (comma- or line-separated, or a list) -> distinct labels; none: the defaults.

    Raises InputError with one sentence for a label list CLAP cannot score."""
    if labels is None:
        return DEFAULT_LABELS
    items = labels.replace("\n", ",").split(",") if isinstance(labels, str) else list(labels)
    cleaned = list(dict.fromkeys(" ".join(str(x).split()) for x in items if str(x).strip()))
    if not cleaned:
        return DEFAULT_LABELS
    if len(cleaned) == 1:
        raise InputError(
            "Please type at least two labels, separated by commas, for CLAP to choose between."
        )
    if len(cleaned) > MAX_LABELS or any(len(x) > MAX_LABEL_CHARS for x in cleaned):
        raise InputError(
            f"Please type at most {MAX_LABELS} labels of at most {MAX_LABEL_CHARS} characters "
            "each, separated by commas."
        )
    return tuple(cleaned)


def _prompt(label: str) -> str:
    for tag in TAGS:
        if tag.name == label:
            return tag.audio_prompt
    return label if label.lower().startswith(("the sound", "a sound")) else f"the sound of {label}"


def _clip(sound: str | Path | np.ndarray, sample_rate: int) -> tuple[np.ndarray, list[str], float]:
    """Samples at ``sample_rate``, the media notes, the seconds heard. An array is taken as mono
    samples at 16 kHz (the bench and the evaluation's examples); a path goes through media."""
    if isinstance(sound, np.ndarray):
        samples = np.asarray(sound, dtype=np.float32).reshape(-1)
        if samples.size < SAMPLE_RATE * media.MIN_AUDIO_SECONDS or not np.isfinite(samples).all():
            raise InputError("Please give at least a second of finite sound samples.")
        if float(np.abs(samples).max()) < media.SILENCE_PEAK:
            raise InputError(
                "This recording is silent; please record again or upload another file."
            )
        samples = media.resample(samples, SAMPLE_RATE, sample_rate)
        return samples, [], len(samples) / sample_rate
    clip = media.require_sound(media.load_audio(sound, sample_rate))
    return clip.samples, list(clip.notes), clip.seconds


def hear(
    sound: str | Path | np.ndarray,
    model: str = "builtin",
    labels: str | Sequence[str] | None = None,
    picture: str | Path | None = None,
) -> HearResult:
    """What the model hears in a recording (a path, or mono float32 samples at 16 kHz).

    ``labels`` are the zero-shot choice's candidates (None: :data:`DEFAULT_LABELS`); the
    built-in student has its own classes and ignores them. ``picture``, for a world example,
    is the paired picture: the built-in choice adds the teacher's distribution on it.
    Raises InputError (a bad upload, a silent recording, an unknown model, bad labels) or
    ModelUnavailableError, each with one sentence for the user.
    """
    CHOICES.get(model)
    if model == "zero-shot":
        prompts_for = parse_labels(labels)
        tagger = hub.get(shared.CLAP.name)
        samples, notes, seconds = _clip(sound, CLAP_SAMPLE_RATE)
        probabilities = _clap_probabilities(tagger, samples, tuple(map(_prompt, prompts_for)))
        return HearResult(
            "zero-shot", _ranked(prompts_for, np.asarray(probabilities)), None, notes, seconds
        )
    image = media.load_image(picture) if picture is not None else None
    student: SoundNet = hub.get(BUILTIN)
    samples, notes, seconds = _clip(sound, SAMPLE_RATE)
    heard = _ranked(student.config.class_names, student_probabilities(student, samples))
    teacher = None
    if image is not None:
        try:
            names, distribution = teacher_probabilities(image)
            teacher = _ranked(names, distribution)
        except ModelUnavailableError as error:
            logger.warning("answering without the teacher: %s", error)
            notes.append("The teacher (the world classifier) is not installed here.")
    check = world_check.check_sound_if_available(samples, SAMPLE_RATE, "sound")
    if check is not None and not check.in_world:
        notes.append(sound_out_of_world_note())
    return HearResult(
        "builtin",
        heard,
        teacher,
        notes,
        seconds,
        sound_in_world=None if check is None else check.in_world,
        sound_in_world_score=None if check is None else check.score,
    )


def describe(result: HearResult) -> str:
    """A short Markdown note on what was heard."""
    name, p = result.top
    following = ", ".join(f"{n} {q:.0%}" for n, q in result.heard[1:4])
    if result.model == "builtin":
        lines = [f"**The student hears: {name}** ({p:.0%}; next: {following})."]
        if result.teacher is not None:
            seen = ", ".join(f"{n} {q:.0%}" for n, q in result.teacher[:3])
            lines.append(f"The teacher sees in the picture: {seen}.")
    else:
        lines = [f"**CLAP hears: {name}** ({p:.0%}; next: {following})."]
    return "  \n".join([*lines, *result.notes])
