"""Every knob of the studio, read once from ``MMC_*`` environment variables.

Each field's default is the value used when its variable is unset; out-of-range numbers are
clamped, unknown choices raise ``ValueError`` at start-up rather than misbehave later.
The README's settings table lists the same variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

DEVICE_CHOICES = ("auto", "cpu", "cuda")
PRESET_CHOICES = ("builtin", "pretrained")


@dataclass(frozen=True)
class Settings:
    """The studio's configuration; build it with :func:`load_settings`."""

    device: str = "auto"
    """MMC_DEVICE: auto (CUDA when available, else CPU), cpu or cuda."""
    preset: str = "builtin"
    """MMC_PRESET: which model each tab offers first: builtin (offline) or pretrained (Hub)."""
    checkpoints_dir: Path = REPO_ROOT / "checkpoints"
    """MMC_CHECKPOINTS_DIR: folder of the built-in checkpoints."""
    examples_dir: Path = REPO_ROOT / "examples"
    """MMC_EXAMPLES_DIR: folder of the example inputs shown under each tab."""
    max_image_pixels: int = 50_000_000
    """MMC_MAX_IMAGE_PIXELS: larger pictures are refused before decoding (decompression bombs)."""
    max_image_side: int = 1024
    """MMC_MAX_IMAGE_SIDE: accepted pictures are downscaled so their longer side is at most this."""
    max_audio_seconds: float = 30.0
    """MMC_MAX_AUDIO_SECONDS: longer recordings are trimmed to their first N seconds (said)."""
    max_upload_mb: float = 100.0
    """MMC_MAX_UPLOAD_MB: uploads larger than this are refused by the server."""
    max_text_chars: int = 500
    """MMC_MAX_TEXT_CHARS: longest prompt or question accepted."""
    keep_files_minutes: float = 60.0
    """MMC_KEEP_FILES_MINUTES: uploads and result files are deleted from the server's cache
    between N and 2N minutes after they were written, so that a public server neither fills its
    disk nor keeps people's photos and voices; 0 never deletes them."""
    concurrency: int = 8
    """MMC_CONCURRENCY: how many requests the model queue lets in at once (every model event
    shares it); enough for the built-in models' micro-batches to fill."""
    batch_size: int = 8
    """MMC_BATCH_SIZE: most requests a built-in model answers in one forward pass."""
    batch_wait_ms: float = 2.0
    """MMC_BATCH_WAIT_MS: how long a request to an idle model waits for others to join its batch."""
    workers: int = 2
    """MMC_WORKERS: processes for the work that needs no model (the Sound tab's analysis, the
    voice tab's pitch track, the spectrogram pictures, the captioning attention sheet), outside
    the server's interpreter lock, so that concurrent requests use more than one core; 0: in the
    request's own thread."""
    cpu_threads: int = 1
    """MMC_CPU_THREADS: CPU threads each call to torch or numpy's BLAS uses, in the server and its
    workers. The server answers several requests at once, so one thread per call leaves the other
    cores to the other requests; raise it to the core count for one visitor on a big CPU model."""
    half_precision: bool = True
    """MMC_HALF_PRECISION: use float16 on CUDA for models that allow it."""
    caption_model: str = "Salesforce/blip-image-captioning-base"
    """MMC_CAPTION_MODEL: pretrained captioning model (BLIP)."""
    caption_model_alt: str = "microsoft/git-base-coco"
    """MMC_CAPTION_MODEL_ALT: second-choice captioning model (GIT)."""
    vqa_model: str = "dandelin/vilt-b32-finetuned-vqa"
    """MMC_VQA_MODEL: pretrained VQA model (ViLT)."""
    vqa_model_alt: str = "Salesforce/blip-vqa-base"
    """MMC_VQA_MODEL_ALT: second-choice VQA model (BLIP VQA)."""
    clap_model: str = "laion/clap-htsat-unfused"
    """MMC_CLAP_MODEL: zero-shot audio tagger (CLAP), used by localization and voice-to-face."""
    clipseg_model: str = "CIDAS/clipseg-rd64-refined"
    """MMC_CLIPSEG_MODEL: text-prompted segmentation (CLIPSeg), used by localization."""
    clip_model: str = "openai/clip-vit-base-patch32"
    """MMC_CLIP_MODEL: joint image-text space (CLIP), the Search tab's pretrained choice."""
    diffusion_model: str = "SimianLuo/LCM_Dreamshaper_v7"
    """MMC_DIFFUSION_MODEL: few-step text-to-image pipeline (diffusers); MIT-licensed default."""
    sentence_encoder: str = ""
    """MMC_SENTENCE_ENCODER: folder or Hub id of all-MiniLM-L6-v2; empty: the pip-installed copy."""

    def as_environ(self) -> dict[str, str]:
        """The ``MMC_*`` variables that :func:`load_settings` reads back as these settings (how a
        worker process takes its server's)."""
        return {f"MMC_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}

    def __post_init__(self) -> None:
        if self.device not in DEVICE_CHOICES:
            raise ValueError(f"MMC_DEVICE must be one of {DEVICE_CHOICES}, not {self.device!r}")
        if self.preset not in PRESET_CHOICES:
            raise ValueError(f"MMC_PRESET must be one of {PRESET_CHOICES}, not {self.preset!r}")


# Clamping ranges for the numeric settings: (lowest, highest).
_LIMITS: dict[str, tuple[float, float]] = {
    "max_image_pixels": (1_000_000, 500_000_000),
    "max_image_side": (64, 8192),
    "max_audio_seconds": (1.0, 3600.0),
    "max_upload_mb": (1.0, 2048.0),
    "max_text_chars": (20, 100_000),
    "keep_files_minutes": (0.0, 10_080.0),
    "concurrency": (1, 64),
    "batch_size": (1, 64),
    "batch_wait_ms": (0.0, 1000.0),
    "workers": (0, 32),
    "cpu_threads": (1, 256),
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse(name: str, kind: type, raw: str) -> object:
    raw = raw.strip()
    if kind is bool:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ValueError(f"MMC_{name.upper()} must be true or false, not {raw!r}")
    if kind is Path:
        return Path(raw).expanduser()
    if kind in (int, float):
        try:
            value = kind(float(raw)) if kind is int else float(raw)
        except ValueError:
            raise ValueError(f"MMC_{name.upper()} must be a number, not {raw!r}") from None
        low, high = _LIMITS[name]
        return kind(min(max(value, low), high))
    return raw.lower() if name in ("device", "preset") else raw


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from ``environ`` (default: the process environment)."""
    environ = os.environ if environ is None else environ
    types = {"str": str, "int": int, "float": float, "bool": bool, "Path": Path}
    values: dict[str, object] = {}
    for field in fields(Settings):
        raw = environ.get(f"MMC_{field.name.upper()}")
        if raw is not None and raw.strip() != "":
            values[field.name] = _parse(field.name, types[str(field.type)], raw)
    return Settings(**values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read from the environment on first use."""
    return load_settings()
