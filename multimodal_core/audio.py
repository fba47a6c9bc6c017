"""Audio representations of the lecture: STFT, log-mel and MFCC features (their pictures are
drawn by :mod:`multimodal_core.sound_pictures`).

The transforms run in torch (batched, on any device); the mel filter bank and the DCT come from
librosa. librosa compiles with numba on its first call in a fresh environment (about 15 s), so it
is imported lazily and :func:`warm_up` can pay that cost in a background thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import torch

if TYPE_CHECKING:
    pass

DB_FLOOR = -100.0
T = TypeVar("T")


@dataclass(frozen=True)
class FeatureConfig:
    """STFT and mel parameters shared by the models that listen."""

    sample_rate: int = 16_000  # speech and the world's sounds live below 8 kHz
    n_fft: int = 512  # 32 ms windows at 16 kHz
    hop_length: int = 160  # 10 ms hops, the usual frame rate for speech features
    n_mels: int = 64  # enough resolution for pitch-dependent timbre, small for CNNs
    fmin: float = 20.0
    fmax: float | None = None  # None: half the sample rate

    def __post_init__(self) -> None:
        if self.hop_length <= 0 or self.n_fft <= 0 or self.n_mels <= 0:
            raise ValueError("n_fft, hop_length and n_mels must be positive")
        if self.hop_length > self.n_fft:
            raise ValueError("hop_length larger than n_fft would skip samples")


@lru_cache(maxsize=16)
def mel_filter_bank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None
) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) Slaney-normalised triangular filters, from librosa."""
    import librosa

    bank = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return torch.from_numpy(bank.astype(np.float32))


def _as_batch(samples: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, bool]:
    waves = torch.as_tensor(samples, dtype=torch.float32)
    single = waves.ndim == 1
    return (waves[None] if single else waves), single


def power_spectrogram(
    samples: np.ndarray | torch.Tensor, n_fft: int, hop_length: int
) -> torch.Tensor:
    """|STFT|^2 with a Hann window: (F, T) for one clip or (B, F, T) for a batch."""
    waves, single = _as_batch(samples)
    window = torch.hann_window(n_fft, device=waves.device)
    spec = torch.stft(waves, n_fft, hop_length, window=window, center=True, return_complex=True)
    power = spec.abs().pow(2)  # (B, n_fft // 2 + 1, T)
    return power[0] if single else power


def to_db(power: torch.Tensor, top_db: float = 80.0) -> torch.Tensor:
    """Power to decibels relative to the loudest bin, floored ``top_db`` below it."""
    db = 10.0 * torch.log10(power.clamp_min(1e-10))
    peak = db.amax(dim=(-2, -1), keepdim=True)
    return torch.maximum(db, peak - top_db)


def log_mel(
    samples: np.ndarray | torch.Tensor, config: FeatureConfig = FeatureConfig()
) -> torch.Tensor:
    """Log-mel spectrogram in dB: (n_mels, T) for one clip, (B, n_mels, T) for a batch."""
    power = power_spectrogram(samples, config.n_fft, config.hop_length)
    bank = mel_filter_bank(
        config.sample_rate, config.n_fft, config.n_mels, config.fmin, config.fmax
    )
    mel = torch.matmul(bank.to(power.device), power)  # (..., n_mels, T)
    return to_db(mel)


def mfcc(log_mel_db: torch.Tensor | np.ndarray, n_mfcc: int = 13) -> np.ndarray:
    """MFCCs (n_mfcc, T) from a log-mel spectrogram in dB (type-II orthonormal DCT, librosa)."""
    import librosa

    return librosa.feature.mfcc(S=np.asarray(log_mel_db, dtype=np.float32), n_mfcc=n_mfcc)


@dataclass(frozen=True)
class Loudness:
    rms_dbfs: float
    peak_dbfs: float


def loudness(samples: np.ndarray) -> Loudness:
    """RMS and peak level in dB relative to full scale."""
    if len(samples) == 0:
        return Loudness(DB_FLOOR, DB_FLOOR)
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    peak = float(np.abs(samples).max())
    return Loudness(_amplitude_db(rms), _amplitude_db(peak))


def _amplitude_db(value: float) -> float:
    return max(DB_FLOOR, 20.0 * float(np.log10(max(value, 1e-12))))


def warm_up() -> threading.Thread:
    """Compile librosa's numba code in the background so the first request does not wait."""

    def run() -> None:
        mfcc(log_mel(np.zeros(1600, dtype=np.float32)).numpy())

    thread = threading.Thread(target=run, name="librosa-warm-up", daemon=True)
    thread.start()
    return thread
