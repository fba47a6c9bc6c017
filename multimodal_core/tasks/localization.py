"""Sound-source localization: where in the picture does the sound come from?

The built-in model (Senocak et al. 2018's visual, audio and attention nets, trained on the
synthetic world from audio-visual correspondence alone, ``checkpoints/localization``) compares
the sound with every cell of a 32 x 32 grid over the picture. The zero-shot choice tags the
sound with CLAP and segments that tag with CLIPSeg (Hub ids from settings). All three models
are declared in the shared hub and loaded on first use; CLAP is the studio's one shared copy
(:data:`multimodal_core.backends.shared.CLAP`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from multimodal_core import audio, hub, media, sound_pictures, viz
from multimodal_core.backends import shared
from multimodal_core.backends.localization import (
    CLAP_SAMPLE_RATE,
    CLIPSEG_NAME,
    CLIPSEG_SPEC,
    localize_zero_shot,
)
from multimodal_core.choices import ModelChoice, ModelChoices
from multimodal_core.errors import ModelUnavailableError
from multimodal_core.models.localization import SoundLocalizer, pixel_map
from multimodal_core.models.out_of_world import hearing_config
from multimodal_core.settings import get_settings
from multimodal_core.tasks import world_check

logger = logging.getLogger(__name__)

BUILTIN = "localization"
CHOICES = ModelChoices(
    (
        ModelChoice("builtin",
                    "Built-in: visual + audio + attention nets (synthetic world, offline)",
                    (BUILTIN,)),
        ModelChoice("zero-shot",
                    "Pretrained zero-shot: CLAP tags the sound, CLIPSeg finds it (downloads)",
                    (shared.CLAP.name, CLIPSEG_NAME), pretrained=True),
    ),
    presets={"builtin": "builtin", "pretrained": "zero-shot"},
)  # fmt: skip
ZERO_SHOT_CONFIDENT = 0.3  # a CLAP tag probability below this is a guess among 24 tags
LOW_CONFIDENCE_ALPHA = 0.3  # overlay opacity of a map the model is not sure of


def out_of_world_note() -> str:
    """The built-in model's sentence for a picture from outside its world."""
    return world_check.out_of_world_note("map", world_check.where_to_go(CHOICES, "photos"))


def sound_out_of_world_note() -> str:
    """The built-in model's sentence for a recording from outside its world's sounds."""
    advice = world_check.where_to_go(CHOICES, "recordings")
    return world_check.sound_out_of_world_note(
        "map", f"the map above is still what it computes; {advice}"
    )


@dataclass(frozen=True)
class LocalizationResult:
    """What the tab, the API and the CLI show.

    ``heat`` (H, W) in [0, 1] has the uploaded picture's shape (after the media code's
    downscaling): 1 where the sound most likely comes from. ``peak`` is its (x, y) maximum.
    ``confidence`` is the built-in model's peak cosine similarity between the sound and a
    region (or the zero-shot tag's probability); ``confident`` says whether it reaches the
    level calibrated on validation scenes.
    """

    model: str
    heat: np.ndarray
    overlay: np.ndarray  # uint8 RGB
    spectrogram: np.ndarray  # uint8 RGB picture of the log-mel the model heard
    peak: tuple[int, int]
    confidence: float
    confident: bool
    source_fraction: float  # share of the picture above the map threshold
    tag: str | None = None
    tag_probability: float | None = None
    tags: list[tuple[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The out-of-world checks (tasks/world_check.py), for the built-in model only: None for
    # the zero-shot one, or when a check is not installed. ``in_world``: the picture and the
    # sound are both from the world; ``in_world_score`` is the score of the one less so (each
    # check has its own threshold). Each input's own check is beside it.
    in_world: bool | None = None
    in_world_score: float | None = None
    picture_in_world: bool | None = None
    picture_in_world_score: float | None = None
    sound_in_world: bool | None = None
    sound_in_world_score: float | None = None

    def to_dict(self) -> dict:
        """JSON-ready, without the pictures."""
        return {
            "model": self.model,
            "peak_x": self.peak[0],
            "peak_y": self.peak[1],
            "confidence": round(self.confidence, 4),
            "confident": self.confident,
            "source_fraction": round(self.source_fraction, 4),
            "tag": self.tag,
            "tag_probability": None
            if self.tag_probability is None
            else round(self.tag_probability, 4),
            "tags": [(name, round(p, 4)) for name, p in self.tags[:5]],
            "notes": self.notes,
            "in_world": self.in_world,
            "in_world_score": self.in_world_score,
            "picture_in_world": self.picture_in_world,
            "picture_in_world_score": self.picture_in_world_score,
            "sound_in_world": self.sound_in_world,
            "sound_in_world_score": self.sound_in_world_score,
        }


def _load_builtin() -> SoundLocalizer:
    folder = get_settings().checkpoints_dir / "localization"
    if not (folder / "model.safetensors").is_file():
        raise ModelUnavailableError(
            "The built-in localization model is missing from the checkpoints folder "
            "(MMC_CHECKPOINTS_DIR); "
            "train it with python -m multimodal_core.train.localization."
        )
    return SoundLocalizer.from_pretrained(folder)


def _checkpoint_mb() -> float:
    path = get_settings().checkpoints_dir / "localization" / "model.safetensors"
    return path.stat().st_size * 2 / 2**20 if path.is_file() else 2.0  # fp16 on disk


hub.register(
    hub.ModelSpec(
        name=BUILTIN,
        task="localization",
        loader=_load_builtin,
        approx_mb=_checkpoint_mb(),
        title="built-in localization model",
    )
)
hub.register(CLIPSEG_SPEC)
shared.register()


def prepare_image(image: np.ndarray, size: int) -> torch.Tensor:
    """RGB (H, W, 3) in [0, 1], any size -> (1, 3, size, size): squashed
    (``media.square_batch``), so grid cells map back onto the picture uniformly."""
    return media.square_batch([image], size)


def log_mel_features(model: SoundLocalizer, samples: np.ndarray) -> torch.Tensor:
    """The model's log-mel input (n_mels, T) of mono samples at its sample rate."""
    return audio.log_mel(samples, hearing_config(model.config))


@hub.gpu
def similarity_grid(model: SoundLocalizer, image: np.ndarray, mel: torch.Tensor) -> torch.Tensor:
    """The built-in network alone: grid similarities (g, g) of one picture and one log-mel."""
    param = next(model.parameters())
    pictures = prepare_image(image, model.config.image_size).to(param.device, param.dtype)
    out = model(pictures, mel[None].to(param.device, param.dtype))
    return out.similarity[0].float().cpu()


def _builtin(
    image: np.ndarray, clip: media.AudioClip, draw: Callable[[Hearing], np.ndarray]
) -> LocalizationResult:
    model: SoundLocalizer = hub.get(BUILTIN)
    mel = log_mel_features(model, clip.samples)  # (n_mels, T)
    grid = similarity_grid(model, image, mel)
    height, width = image.shape[:2]
    heat = pixel_map(grid[None], height, width, model.config.map_smoothing)[0].numpy()
    peak_similarity = float(grid.max())
    confident = peak_similarity >= model.config.confident_similarity
    (picture,) = world_check.check_if_available([image])
    sound = world_check.check_sound_if_available(clip.samples, clip.sample_rate, "sound")
    both = world_check.weakest([picture, sound])
    notes = list(clip.notes)
    if picture is not None and not picture.in_world:
        notes.append(out_of_world_note())
    if sound is not None and not sound.in_world:
        notes.append(sound_out_of_world_note())
    if not confident:
        notes.append(
            f"No part of the picture matches this sound well (best similarity "
            f"{peak_similarity:.2f}, below the {model.config.confident_similarity:.2f} that "
            "true pairs usually reach): the map shows the least unlikely place, not a source."
        )
    alpha = 0.55 if confident else LOW_CONFIDENCE_ALPHA
    return LocalizationResult(
        model="builtin",
        heat=heat,
        overlay=viz.overlay_heatmap(image, heat, alpha=alpha, normalize=False),
        spectrogram=draw(Hearing(mel.numpy(), model.config.sample_rate, model.config.hop_length)),
        peak=_peak(heat),
        confidence=peak_similarity,
        confident=confident,
        source_fraction=float((heat >= model.config.map_threshold).mean()),
        notes=notes,
        in_world=None if both is None else both.in_world,
        in_world_score=None if both is None else both.score,
        picture_in_world=None if picture is None else picture.in_world,
        picture_in_world_score=None if picture is None else picture.score,
        sound_in_world=None if sound is None else sound.in_world,
        sound_in_world_score=None if sound is None else sound.score,
    )


def _zero_shot(
    image: np.ndarray, path: str | Path, draw: Callable[[Hearing], np.ndarray]
) -> LocalizationResult:
    tagger = hub.get(shared.CLAP.name)
    segmenter = hub.get(CLIPSEG_NAME)
    clip = media.require_sound(media.load_audio(path, CLAP_SAMPLE_RATE))
    result = _run_zero_shot(tagger, segmenter, image, clip.samples)
    confident = result.probability >= ZERO_SHOT_CONFIDENT
    notes = list(clip.notes)
    if not confident:
        notes.append(
            f"CLAP is unsure what this sound is (best tag {result.tag!r} at "
            f"{result.probability:.0%}), so the map may show the wrong thing."
        )
    features = audio.FeatureConfig()  # the Sound tab's log-mel, at its 16 kHz
    hearing = media.resample(clip.samples, CLAP_SAMPLE_RATE, features.sample_rate)
    mel = audio.log_mel(hearing, features)
    return LocalizationResult(
        model="zero-shot",
        heat=result.heat,
        overlay=viz.overlay_heatmap(
            image, result.heat, alpha=0.55 if confident else LOW_CONFIDENCE_ALPHA, normalize=False
        ),
        spectrogram=draw(Hearing(mel.numpy(), features.sample_rate, features.hop_length)),
        peak=_peak(result.heat),
        confidence=result.probability,
        confident=confident,
        source_fraction=float((result.heat >= 0.5).mean()),
        tag=result.tag,
        tag_probability=result.probability,
        tags=result.tags,
        notes=notes,
    )


@hub.gpu
def _run_zero_shot(tagger, segmenter, image: np.ndarray, samples: np.ndarray):
    return localize_zero_shot(tagger, segmenter, image, samples)


@dataclass(frozen=True)
class Hearing:
    """The log-mel a model heard, in dB (n_mels, T), and its time axis."""

    mel_db: np.ndarray
    sample_rate: int
    hop_length: int


def hearing_image(hearing: Hearing) -> np.ndarray:
    """The picture of what the model heard, as RGB uint8. It needs no model, so the server draws
    it in a worker process (matplotlib holds the interpreter lock while it draws)."""
    return sound_pictures.spectrogram_image(
        hearing.mel_db,
        hearing.sample_rate,
        hearing.hop_length,
        "Mel spectrogram the model hears (dB)",
        scale="mel",
        fmin=audio.FeatureConfig().fmin,
    )


def _peak(heat: np.ndarray) -> tuple[int, int]:
    row, col = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return int(col), int(row)


def localize(
    image_path: str | Path,
    audio_path: str | Path,
    model: str = "builtin",
    draw: Callable[[Hearing], np.ndarray] = hearing_image,
) -> LocalizationResult:
    """Where in the picture does the recording's sound come from?

    Raises InputError (a bad upload, a silent recording, an unknown model) or
    ModelUnavailableError (a model cannot be loaded), each with one sentence for the user.
    Recordings longer than the ``max_audio_seconds`` setting are trimmed (said in ``notes``).
    ``draw`` makes the spectrogram picture from what the model heard (the server passes one that
    sends :func:`hearing_image` to a worker process).
    """
    CHOICES.get(model)
    image = media.load_image(image_path)  # (H, W, 3) float32 in [0, 1]
    if model == "zero-shot":
        return _zero_shot(image, audio_path, draw)
    localizer: SoundLocalizer = hub.get(BUILTIN)
    clip = media.require_sound(media.load_audio(audio_path, localizer.config.sample_rate))
    return _builtin(image, clip, draw)


def describe(result: LocalizationResult) -> str:
    """A short Markdown note on what the map means and how sure the model is."""
    x, y = result.peak
    if result.model == "builtin":
        lines = [
            "**Red = where the sound most likely comes from.** The built-in model compares the "
            "sound with every cell of a 32 x 32 grid over the picture; the map is that "
            "similarity, scaled from the picture's typical region (0, dark) to its strongest "
            "cell (1). It was trained only by matching "
            "sounds with pictures, never told where objects are.",
            f"Strongest point: x = {x}, y = {y}; similarity {result.confidence:.2f} "
            f"({'confident' if result.confident else 'low confidence'}).",
        ]
    else:
        top = ", ".join(f"{name} {p:.0%}" for name, p in result.tags[:3])
        lines = [
            f"**Heard: {result.tag}** ({result.tag_probability:.0%}; next: {top}). "
            "CLIPSeg then marks where that thing is in the picture (brighter = likelier, the "
            "likeliest part outlined).",
            f"Strongest point: x = {x}, y = {y}.",
        ]
    return "  \n".join([*lines, *result.notes])
