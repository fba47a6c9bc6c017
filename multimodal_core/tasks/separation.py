"""Sound separation by pointing: click on a thing in the picture and hear its sound alone.

The built-in model (Sound of Pixels, Zhao et al. 2018, trained by mix and separate on the
synthetic world: ``checkpoints/separation``) masks the mixture's spectrogram, conditioned on the
frozen localization model's region vector at the clicked point; the localization model also
draws where in the picture it hears something of the recording (what is worth clicking) and
judges, after the fact, whether the separated sound belongs to the clicked region. There is no
standard pretrained model for this in transformers or diffusers, so the built-in one is the only
choice. Both models are declared in the shared hub and loaded on first use.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from multimodal_core import audio, hub, media, sound_pictures, viz
from multimodal_core.choices import ModelChoice, ModelChoices
from multimodal_core.errors import InputError, ModelUnavailableError
from multimodal_core.models.localization import SoundLocalizer, pixel_map, smoothed_grid
from multimodal_core.models.sound_of_pixels import (
    SILENT_RMS,
    SoundOfPixels,
    check_visual_checkpoint,
    region_feature,
)
from multimodal_core.settings import get_settings
from multimodal_core.tasks import localization, world_check

BUILTIN = "separation"
CHOICES = ModelChoices(
    (
        ModelChoice("builtin",
                    "Built-in: Sound of Pixels on the localization model's regions "
                    "(synthetic world, offline)",
                    (BUILTIN, localization.BUILTIN)),
    ),
    presets={"builtin": "builtin", "pretrained": "builtin"},
)  # fmt: skip
NO_PRETRAINED = (
    "No standard pretrained model separates a sound by a click on a picture in transformers or "
    "diffusers, so this tab has only its built-in model."
)
MIN_SECONDS = 0.25
"""Shortest mixture separated: on 25 two-source validation mixtures the SI-SDR improvement was
8.8 dB at 0.25 s, 10.1 at 1 s and 10.2 at the 2 s of training; shorter ones were not measured."""
CLICK_CONFIDENT = 0.6
"""Least localization similarity between the clicked region and the sound separated there for the
point to count as sounding. On 150 two-source validation scenes, 96% of clicks on a source reach
it, against 9% of clicks on the background and 6% on a silent object (the localization model's
own 0.78, calibrated for a whole recording, is reached by only 71% of sources here)."""
MARKER_RADIUS = 5  # pixels of the picture: the ring drawn where the person clicked


def out_of_world_note() -> str:
    """The built-in model's sentence for a picture from outside its world."""
    advice = world_check.where_to_go(CHOICES, "photos")
    return world_check.out_of_world_note("separated sound", advice)


def sound_out_of_world_note() -> str:
    """The built-in model's sentence for a recording from outside its world's sounds."""
    advice = world_check.where_to_go(CHOICES, "recordings")
    return world_check.sound_out_of_world_note("separated sound", advice)


@dataclass(frozen=True)
class Spectra:
    """What the pictures show, on the STFT's bins (n_bins, frames): the mixture and the separated
    sound in dB, and the mask (0: left out, 1: kept) that turned one into the other."""

    mixture_db: np.ndarray
    mask: np.ndarray
    separated_db: np.ndarray
    sample_rate: int
    hop_length: int


Pictures = tuple[np.ndarray, np.ndarray, np.ndarray]
"""The mixture's, the mask's and the separated sound's spectrogram pictures (uint8 RGB)."""


def spectrogram_pictures(spectra: Spectra) -> Pictures:
    """The three pictures of :class:`Spectra`. It needs no model, so the server draws them in a
    worker process (matplotlib holds the interpreter lock while it draws)."""
    rate, hop = spectra.sample_rate, spectra.hop_length
    mask_title = "Mask: the share of each pitch and moment kept"
    return (
        sound_pictures.spectrogram_image(spectra.mixture_db, rate, hop, "Mixture (dB)"),
        sound_pictures.spectrogram_image(spectra.mask, rate, hop, mask_title, unit="kept"),
        sound_pictures.spectrogram_image(spectra.separated_db, rate, hop, "Separated (dB)"),
    )


@dataclass(frozen=True)
class SeparationResult:
    """What the tab, the API and the CLI show.

    ``separated`` and ``rest`` (mixture minus separated) are mono float32 at ``sample_rate``.
    ``point`` is the clicked (x, y) in the decoded picture's pixels. ``overlay`` shows over the
    picture where the localization model hears the separated sound or the rest (the things that
    sound, worth clicking), with a ring at the point. ``similarity`` is the localization model's
    match between the clicked region and the separated sound; ``sounding`` says whether it
    reaches :data:`CLICK_CONFIDENT`. ``share`` is the separated sound's part of the mixture's
    energy.
    """

    model: str
    point: tuple[int, int]
    separated: np.ndarray
    rest: np.ndarray
    sample_rate: int
    overlay: np.ndarray  # uint8 RGB
    mixture_picture: np.ndarray
    mask_picture: np.ndarray
    separated_picture: np.ndarray
    similarity: float
    sounding: bool
    share: float
    notes: list[str] = field(default_factory=list)
    # The out-of-world checks (tasks/world_check.py), as in tasks/localization.py: None when a
    # check is not installed; ``in_world_score`` is the score of the input less from the world.
    in_world: bool | None = None
    in_world_score: float | None = None
    picture_in_world: bool | None = None
    picture_in_world_score: float | None = None
    sound_in_world: bool | None = None
    sound_in_world_score: float | None = None

    @property
    def seconds(self) -> float:
        return len(self.separated) / self.sample_rate

    def to_dict(self) -> dict:
        """JSON-ready, without the sounds and the pictures."""
        return {
            "model": self.model,
            "x": self.point[0],
            "y": self.point[1],
            "similarity": round(self.similarity, 4),
            "sounding": self.sounding,
            "share": round(self.share, 4),
            "seconds": round(self.seconds, 3),
            "sample_rate": self.sample_rate,
            "notes": self.notes,
            "in_world": self.in_world,
            "in_world_score": self.in_world_score,
            "picture_in_world": self.picture_in_world,
            "picture_in_world_score": self.picture_in_world_score,
            "sound_in_world": self.sound_in_world,
            "sound_in_world_score": self.sound_in_world_score,
        }


def _load_builtin() -> SoundOfPixels:
    folders = get_settings().checkpoints_dir
    if not (folders / BUILTIN / "model.safetensors").is_file():
        raise ModelUnavailableError(
            "The built-in separation model is missing from the checkpoints folder "
            "(MMC_CHECKPOINTS_DIR); train it with python -m multimodal_core.train.separation."
        )
    model = SoundOfPixels.from_pretrained(folders / BUILTIN)
    check_visual_checkpoint(model.config, folders / localization.BUILTIN)
    return model


def _checkpoint_mb() -> float:
    path = get_settings().checkpoints_dir / BUILTIN / "model.safetensors"
    return path.stat().st_size * 2 / 2**20 if path.is_file() else 1.0  # fp16 on disk


hub.register(
    hub.ModelSpec(
        name=BUILTIN,
        task="separation",
        loader=_load_builtin,
        approx_mb=_checkpoint_mb(),
        title="built-in separation model",
    )
)


def preview(image_path: str | Path) -> np.ndarray:
    """The picture as the task reads it (uint8 RGB): where a click's pixels are counted."""
    return viz.as_uint8(media.load_image(image_path))


def _point(x: float | None, y: float | None, width: int, height: int) -> tuple[int, int]:
    """The click as whole pixels; InputError when it is missing or off the picture."""
    if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
        raise InputError(
            "No point was chosen; please click on the thing you want to hear in the picture."
        )
    if not (0 <= x < width and 0 <= y < height):
        raise InputError(
            f"The point ({x:g}, {y:g}) lies outside the picture, which is {width} x {height} "
            f"pixels; please click on the picture (x from 0 to {width - 1}, y from 0 to "
            f"{height - 1})."
        )
    return int(x), int(y)


@dataclass(frozen=True)
class _Separated:
    """What the models give for one click, on the CPU in float32: the localization similarities
    (g, g) of the separated sound and of the rest over the picture, the mixture's STFT
    magnitude and the mask on its bins (n_bins, frames), and the separated waveform."""

    separated_grid: torch.Tensor
    rest_grid: torch.Tensor
    magnitude: torch.Tensor
    mask: torch.Tensor
    wave: torch.Tensor


@hub.gpu
def separate_at(
    separator: SoundOfPixels,
    localizer: SoundLocalizer,
    image: np.ndarray,
    mixture: np.ndarray,
    point: tuple[int, int],
) -> _Separated:
    """The models alone: the region vector at ``point``, the mask and the separated sound, and
    where in the picture the localization model hears the separated sound and the rest."""
    param = next(localizer.parameters())
    pictures = localization.prepare_image(image, localizer.config.image_size)
    regions = localizer.visual(pictures.to(param.device, param.dtype))[0]  # (D, g, g)
    height, width = image.shape[:2]
    visual = region_feature(regions, *point, width, height, separator.config.region_window)
    samples = torch.from_numpy(mixture).to(separator.window.device)
    masks, waves = separator.separate(samples, visual[None].to(samples.device))  # (1, ...)
    wave = waves[0].float().cpu().numpy()
    heard = [wave, mixture - wave]
    mels = torch.stack([localization.log_mel_features(localizer, s) for s in heard])
    flat = regions.flatten(1).t()[None]  # (1, g*g, D)
    _, similarity, _ = localizer.scores(flat, localizer.audio(mels.to(param.device, param.dtype)))
    grids = similarity[0].float().cpu().view(2, *regions.shape[1:])  # (2, g, g)
    magnitude = separator.stft(samples).abs()  # (n_bins, frames)
    return _Separated(
        grids[0], grids[1], magnitude.float().cpu(), masks[0].float().cpu(), waves[0].float().cpu()
    )


def _db(magnitude: torch.Tensor) -> np.ndarray:
    return audio.to_db(magnitude.square()).numpy()


def _marked(picture: np.ndarray, point: tuple[int, int]) -> np.ndarray:
    """A white ring inside a black one around ``point``: where the person clicked."""
    image = Image.fromarray(picture)
    draw = ImageDraw.Draw(image)
    x, y = point
    scale = max(1, max(picture.shape[:2]) // 128)
    for radius, colour in ((MARKER_RADIUS + 1, "black"), (MARKER_RADIUS, "white")):
        r = radius * scale
        draw.ellipse((x - r, y - r, x + r, y + r), outline=colour, width=scale)
    return np.asarray(image)


def _sound_check(
    mixture: np.ndarray, separated: np.ndarray, sample_rate: int
) -> world_check.WorldCheck | None:
    """The sound check of the mixture, or of the separated sound when only that one passes: the
    check knows single world sounds, and a mixture of two often falls outside them. On 50 world
    validation mixtures, 42% pass as mixtures and 92% this way; of 49 held-out real sounds and
    pairs of them (``world.real_sounds``), 10% do."""
    mixed = world_check.check_sound_if_available(mixture, sample_rate, "sound")
    if mixed is None or mixed.in_world:
        return mixed
    alone = world_check.check_sound_if_available(separated, sample_rate, "sound")
    return alone if alone is not None and alone.in_world else mixed


def separate(
    image_path: str | Path,
    audio_path: str | Path,
    x: float | None,
    y: float | None,
    model: str = "builtin",
    draw: Callable[[Spectra], Pictures] = spectrogram_pictures,
) -> SeparationResult:
    """The sound of the thing at pixel (``x``, ``y``) of the picture, out of the recording.

    ``x`` and ``y`` count from the picture's top-left corner in the pixels of the picture as the
    media code decodes it (upright, at most ``max_image_side`` on its longer side: see
    :func:`preview`). Raises InputError (a bad upload, a point off the picture, a silent or too
    short recording, an unknown model) or ModelUnavailableError, each with one sentence for the
    user. ``draw`` makes the spectrogram pictures (the server passes one that sends
    :func:`spectrogram_pictures` to a worker process).
    """
    CHOICES.get(model)
    image = media.load_image(image_path)  # (H, W, 3) float32 in [0, 1]
    height, width = image.shape[:2]
    point = _point(x, y, width, height)
    separator: SoundOfPixels = hub.get(BUILTIN)
    localizer: SoundLocalizer = hub.get(localization.BUILTIN)
    clip = media.require_sound(media.load_audio(audio_path, separator.config.sample_rate))
    if clip.seconds < MIN_SECONDS:
        raise InputError(
            f"This recording is only {1000 * clip.seconds:.0f} ms long; please upload at least "
            f"{1000 * MIN_SECONDS:.0f} ms of the sounds together."
        )
    mixture = clip.samples
    if float(np.sqrt(np.mean(np.square(mixture)))) < SILENT_RMS:  # a click in silence
        media.require_sound(dataclasses.replace(clip, silent=True))  # its one sentence
    out = separate_at(separator, localizer, image, mixture, point)
    config = separator.config
    pictures = draw(
        Spectra(_db(out.magnitude), out.mask.numpy(), _db(out.mask * out.magnitude),
                config.sample_rate, config.hop_length)
    )  # fmt: skip
    smoothing = localizer.config.map_smoothing
    cells = smoothed_grid(out.separated_grid[None], smoothing)[0, 0]  # (g, g)
    g_h, g_w = cells.shape
    similarity = float(cells[point[1] * g_h // height, point[0] * g_w // width])
    sounding = similarity >= CLICK_CONFIDENT
    grids = torch.stack([out.separated_grid, out.rest_grid])  # (2, g, g)
    confident_map = float(grids.max()) >= localizer.config.confident_similarity
    alpha = 0.55 if confident_map else localization.LOW_CONFIDENCE_ALPHA
    heat = pixel_map(grids, height, width, smoothing).amax(dim=0).numpy()  # either sound's map
    overlay = _marked(viz.overlay_heatmap(image, heat, alpha=alpha, normalize=False), point)
    waves = out.wave.numpy()
    share = float(np.square(waves).sum() / np.square(mixture).sum())
    (picture,) = world_check.check_if_available([image])
    sound = _sound_check(mixture, waves, clip.sample_rate)
    both = world_check.weakest([picture, sound])
    notes = list(clip.notes)
    if picture is not None and not picture.in_world:
        notes.append(out_of_world_note())
    if sound is not None and not sound.in_world:
        notes.append(sound_out_of_world_note())
    if not sounding:
        notes.append(
            f"Nothing seems to sound at that point: the sound pulled out there matches the "
            f"clicked region at {similarity:.2f}, below the {CLICK_CONFIDENT:.2f} that sounding "
            "objects reach, so it is more likely a leftover of the mixture than a source; "
            "click on one of the bright places of the map."
        )
    return SeparationResult(
        model="builtin",
        point=point,
        separated=waves,
        rest=(mixture - waves).astype(np.float32),
        sample_rate=config.sample_rate,
        overlay=overlay,
        mixture_picture=pictures[0],
        mask_picture=pictures[1],
        separated_picture=pictures[2],
        similarity=similarity,
        sounding=sounding,
        share=share,
        notes=notes,
        in_world=None if both is None else both.in_world,
        in_world_score=None if both is None else both.score,
        picture_in_world=None if picture is None else picture.in_world,
        picture_in_world_score=None if picture is None else picture.score,
        sound_in_world=None if sound is None else sound.in_world,
        sound_in_world_score=None if sound is None else sound.score,
    )


def describe(result: SeparationResult) -> str:
    """A short Markdown note on what was separated and how sure the model is."""
    x, y = result.point
    lines = [
        f"**Separated at x = {x}, y = {y}** ({result.seconds:.1f} s): it holds "
        f"{result.share:.0%} of the recording's energy, and *the rest* what is left. "
        f"The clicked place matches the separated sound at {result.similarity:.2f} "
        f"({'a sounding thing' if result.sounding else 'low: likely nothing sounds there'}).",
        "The mask keeps each pitch and moment of the mixture in proportion (bright = kept); "
        "the separated sound is the mixture through it, with the mixture's phase.",
    ]
    return "  \n".join([*lines, *result.notes])
