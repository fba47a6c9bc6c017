"""The single door for uploads: decode, validate and normalise pictures and recordings.

Whatever a person uploads is judged by its content, not its name. Anything we cannot use
raises :class:`InputError` with one sentence that says what is wrong and what to do; the
sentence never contains a traceback or a path of the server.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from multimodal_core.errors import InputError
from multimodal_core.settings import Settings, get_settings

logger = logging.getLogger(__name__)

IMAGE_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF"}
MIN_IMAGE_SIDE = 8
MIN_AUDIO_SECONDS = 0.05
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 4_000, 384_000
SILENCE_PEAK = 10 ** (-60 / 20)  # -60 dBFS: below this a recording counts as silence

PLEASE_IMAGE = "please upload a JPEG, PNG or WebP picture"
PLEASE_AUDIO = "please upload a WAV, MP3, FLAC, OGG or M4A recording"

# Leading bytes of common files that people upload by mistake, to name what they sent.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"RIFF", 0, "riff"),
    (b"fLaC", 0, "sound"),
    (b"OggS", 0, "sound"),
    (b"ID3", 0, "sound"),
    (b"ftyp", 4, "mp4"),
    (b"%PDF", 0, "document"),
    (b"PK\x03\x04", 0, "archive"),
    (b"\x89PNG", 0, "picture"),
    (b"\xff\xd8\xff", 0, "picture"),
    (b"GIF8", 0, "picture"),
    (b"BM", 0, "picture"),
    (b"II*\x00", 0, "picture"),  # TIFF, little-endian
    (b"MM\x00*", 0, "picture"),  # TIFF, big-endian
)


@dataclass(frozen=True)
class AudioClip:
    """A decoded recording: mono float32 samples in [-1, 1] at ``sample_rate``."""

    samples: np.ndarray
    sample_rate: int
    source_rate: int
    channels: int
    original_seconds: float
    trimmed: bool
    silent: bool

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate

    def resampled(self, sample_rate: int) -> AudioClip:
        """The same recording at another rate (decode once, then feed models of several rates)."""
        samples = np.clip(resample(self.samples, self.sample_rate, sample_rate), -1.0, 1.0)
        return dataclasses.replace(self, samples=samples, sample_rate=sample_rate)

    @property
    def notes(self) -> list[str]:
        """Sentences to show beside a result, e.g. that the recording was trimmed."""
        notes = []
        if self.trimmed:
            notes.append(
                f"The recording is {self.original_seconds:.0f} s long; "
                f"only its first {self.seconds:.0f} s were used."
            )
        if self.silent:
            notes.append("The recording is silent or almost silent.")
        return notes


def sniff_kind(path: Path) -> str:
    """A coarse guess of what a file holds, from its first bytes: for clearer sentences only."""
    with path.open("rb") as handle:
        head = handle.read(16)
    for signature, offset, kind in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            if kind == "riff":
                return "picture" if head[8:12] == b"WEBP" else "sound"
            if kind == "mp4":
                return "mp4"
            return kind
    if head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "sound"
    if b"\x00" in head:  # text never holds NUL bytes, though they decode as UTF-8
        return "unknown"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "unknown"
    return "text" if head else "empty"


_KIND_PHRASES = {"text": "a text file", "document": "a PDF document", "archive": "a zip archive"}


def _check_file(path: str | Path, settings: Settings, what: str, please: str) -> Path:
    if path is None or str(path) == "":
        raise InputError(f"No {what} was given; {please}.")
    path = Path(path)
    if not path.is_file():
        raise InputError(f"The {what} could not be found; {please} again.")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"This file is empty; {please}.")
    if size > settings.max_upload_mb * 2**20:
        raise InputError(
            f"This file is {size / 2**20:.0f} MB, more than the {settings.max_upload_mb:.0f} MB "
            f"limit; {please} that is smaller."
        )
    return path


def _not_an_image_sentence(path: Path) -> str:
    kind = sniff_kind(path)
    if kind in ("sound", "mp4"):
        return f"This file is a sound or video recording, not a picture; {PLEASE_IMAGE}."
    if kind in _KIND_PHRASES:
        return f"This file is {_KIND_PHRASES[kind]}, not a picture; {PLEASE_IMAGE}."
    if kind == "picture":
        return (
            f"This picture file is damaged or incomplete; {PLEASE_IMAGE} that opens on your device."
        )
    return f"This file is not a picture we can read; {PLEASE_IMAGE}."


def load_image(path: str | Path, settings: Settings | None = None) -> np.ndarray:
    """Decode an uploaded picture to float32 RGB in [0, 1], shape (H, W, 3).

    Phone photos are turned upright (EXIF), transparency is laid on white, greyscale, CMYK and
    16-bit pictures become 8-bit RGB, animations give their first frame, and pictures larger
    than ``max_image_side`` are downscaled. Pictures above ``max_image_pixels`` are refused from
    their header, before their pixels are decoded.
    """
    settings = settings or get_settings()
    path = _check_file(path, settings, "picture", PLEASE_IMAGE)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return _decode_image(image, settings)
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(_too_many_pixels_sentence(settings)) from None
    except UnidentifiedImageError:
        raise InputError(_not_an_image_sentence(path)) from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        logger.info("image decode failed: %s", error)
        raise InputError(
            f"This picture file is damaged or incomplete; {PLEASE_IMAGE} that opens on your device."
        ) from None


def _too_many_pixels_sentence(settings: Settings, width: int = 0, height: int = 0) -> str:
    limit = settings.max_image_pixels / 1e6
    size = f" ({width} x {height} pixels)" if width else ""
    return (
        f"This picture is too large to process{size}; "
        f"please upload one under {limit:.0f} megapixels."
    )


def _decode_image(image: Image.Image, settings: Settings) -> np.ndarray:
    if image.format not in IMAGE_FORMATS:
        raise InputError(f"{image.format} pictures are not supported; {PLEASE_IMAGE}.")
    width, height = image.size
    if width * height > settings.max_image_pixels:
        raise InputError(_too_many_pixels_sentence(settings, width, height))
    if min(width, height) < MIN_IMAGE_SIDE:
        raise InputError(
            f"This picture is only {width} x {height} pixels; please upload one at least "
            f"{MIN_IMAGE_SIDE * 4} pixels wide and high."
        )
    if image.format in ("JPEG", "MPO"):
        # Let the JPEG decoder drop resolution by powers of two before decoding all pixels.
        image.draft("RGB", (settings.max_image_side, settings.max_image_side))
    image.seek(0)
    image.load()
    image = ImageOps.exif_transpose(image)
    image = _to_rgb(image)
    if max(image.size) > settings.max_image_side:
        image.thumbnail(
            (settings.max_image_side, settings.max_image_side), Image.Resampling.LANCZOS
        )
    return np.asarray(image, dtype=np.float32) / 255.0


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB; transparent areas become white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        values = np.clip(values / top * 255.0, 0, 255).astype(np.uint8)
        image = Image.fromarray(values, mode="L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def load_audio(
    path: str | Path, sample_rate: int | None, settings: Settings | None = None
) -> AudioClip:
    """Decode an uploaded recording to mono float32 at ``sample_rate`` (None: its own rate).

    WAV, FLAC, OGG/Opus and MP3 go through soundfile; M4A/AAC and anything else that soundfile
    cannot read go through PyAV. Only the first ``max_audio_seconds`` are decoded.
    """
    settings = settings or get_settings()
    path = _check_file(path, settings, "recording", PLEASE_AUDIO)
    max_seconds = settings.max_audio_seconds
    decoded = _decode_with_soundfile(path, max_seconds) or _decode_with_av(path, max_seconds)
    if decoded is None:
        raise InputError(_not_a_recording_sentence(path))
    samples, source_rate, channels, original_seconds = decoded
    if not MIN_SAMPLE_RATE <= source_rate <= MAX_SAMPLE_RATE:
        raise InputError(
            f"This recording's sample rate ({source_rate} Hz) is unusual; {PLEASE_AUDIO} "
            "recorded at 8 to 192 kHz."
        )
    samples = np.nan_to_num(samples.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if len(samples) / source_rate < MIN_AUDIO_SECONDS:
        raise InputError(
            f"This recording is only {1000 * len(samples) / source_rate:.0f} ms long; "
            "please upload at least a second of sound."
        )
    sample_rate = sample_rate or source_rate
    samples = np.clip(resample(samples, source_rate, sample_rate), -1.0, 1.0)
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    trimmed = original_seconds > max_seconds + 1e-3
    return AudioClip(
        samples=samples,
        sample_rate=sample_rate,
        source_rate=source_rate,
        channels=channels,
        original_seconds=original_seconds,
        trimmed=trimmed,
        silent=peak < SILENCE_PEAK,
    )


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Band-limited resampling (soxr) of mono float32 samples: the project's one resampler."""
    if from_rate == to_rate:
        return samples
    import soxr

    return soxr.resample(samples, from_rate, to_rate).astype(np.float32)


def require_sound(clip: AudioClip) -> AudioClip:
    """Refuse a silent recording, for tasks that need something to listen to."""
    if clip.silent:
        raise InputError(
            "This recording is silent; please record again closer to the microphone, "
            "or upload another file."
        )
    return clip


def _decode_with_soundfile(
    path: Path, max_seconds: float
) -> tuple[np.ndarray, int, int, float] | None:
    import soundfile

    try:
        with soundfile.SoundFile(str(path)) as handle:
            rate, channels = handle.samplerate, handle.channels
            frames = handle.frames
            wanted = int(min(frames, max_seconds * rate)) if frames > 0 else int(max_seconds * rate)
            samples = handle.read(frames=wanted, dtype="float32", always_2d=True)
            total = frames if frames > 0 else len(samples)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as error:
        logger.debug("soundfile could not read the upload: %s", error)
        return None
    if len(samples) == 0:
        return None
    return samples, rate, channels, total / rate


def _decode_with_av(path: Path, max_seconds: float) -> tuple[np.ndarray, int, int, float] | None:
    import av

    try:
        with av.open(str(path)) as container:
            streams = container.streams.audio
            if not streams:
                return None
            stream = streams[0]
            rate = stream.rate or stream.codec_context.sample_rate
            channels = stream.channels or 1
            duration = (
                float(stream.duration * stream.time_base)
                if stream.duration and stream.time_base
                else (container.duration or 0) / 1_000_000
            )
            # Resample to packed float32 at the source rate; mixing to mono happens later.
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            chunks: list[np.ndarray] = []
            collected, wanted = 0, int(max_seconds * rate)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    collected += len(chunk)
                if collected >= wanted:
                    break
    except (av.error.FFmpegError, ValueError, OSError, IndexError) as error:
        logger.debug("PyAV could not read the upload: %s", error)
        return None
    if not chunks:
        return None
    samples = np.concatenate(chunks)
    total_seconds = max(duration, len(samples) / rate)
    return samples[:wanted, None], int(rate), int(channels), total_seconds


def _not_a_recording_sentence(path: Path) -> str:
    kind = sniff_kind(path)
    if kind == "picture":
        return f"This file is a picture, not a sound recording; {PLEASE_AUDIO}."
    if kind in _KIND_PHRASES:
        return f"This file is {_KIND_PHRASES[kind]}, not a sound recording; {PLEASE_AUDIO}."
    if kind in ("sound", "mp4"):
        return f"This recording is damaged or in a format we cannot read; {PLEASE_AUDIO}."
    return f"This file is not a sound recording we can read; {PLEASE_AUDIO}."


def squash_to_square(picture: np.ndarray, side: int) -> np.ndarray:
    """An (H, W, 3) picture as (side, side, 3), squashed rather than cropped, as every built-in
    model sees it: the world's scenes are square, and squashing keeps left on the left and each
    object in its grid cell. Bilinear with antialiasing, so large uploads do not alias. A float
    picture comes back float in [0, 1]; a uint8 one comes back rounded to uint8 (the training data
    is resized that way)."""
    if picture.shape[:2] == (side, side):
        return picture if picture.dtype == np.uint8 else np.clip(picture, 0.0, 1.0)
    tensor = torch.from_numpy(np.array(picture)).permute(2, 0, 1)[None].float()  # (1, 3, H, W)
    out = F.interpolate(tensor, (side, side), mode="bilinear", antialias=True, align_corners=False)
    pixels = out[0].permute(1, 2, 0)
    if picture.dtype == np.uint8:
        return pixels.round().clamp(0, 255).to(torch.uint8).numpy()
    return pixels.clamp(0.0, 1.0).numpy()


def square_batch(pictures: list[np.ndarray], side: int) -> torch.Tensor:
    """Float pictures (H, W, 3) in [0, 1] of any sizes as one (B, 3, side, side) batch, each
    squashed by :func:`squash_to_square`: the input of the models that read whole pictures."""
    squares = [torch.from_numpy(squash_to_square(p, side)).permute(2, 0, 1) for p in pictures]
    return torch.stack(squares).float()
