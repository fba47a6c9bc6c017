"""Small signal helpers shared by the sound and voice generators: length, rate, loudness."""

from __future__ import annotations

import numpy as np

TARGET_RMS = 0.1  # -20 dBFS: the SoundFont's programs differ about 4x in loudness
PEAK_LIMIT = 0.99
SILENCE_RMS = 1e-5  # a clip quieter than this (-100 dBFS) is a generator bug, never returned


def fit_length(clip: np.ndarray, n: int) -> np.ndarray:
    """Cut to ``n`` samples, or pad the end with silence."""
    if len(clip) >= n:
        return clip[:n]
    return np.concatenate([clip, np.zeros(n - len(clip), np.float32)])


def trim_silence(clip: np.ndarray, threshold: float = 1e-3) -> np.ndarray:
    """Drop near-silent samples at both ends (eSpeak NG pads its sentences)."""
    loud = np.nonzero(np.abs(clip) > threshold)[0]
    return clip[loud[0] : loud[-1] + 1] if len(loud) else clip[:0]


def normalise(clip: np.ndarray, what: str = "clip") -> np.ndarray:
    """Scale to ``TARGET_RMS``, then down so the peak stays under ``PEAK_LIMIT``.

    Raises RuntimeError for a silent clip (``what`` names it): callers promise never to
    return one.
    """
    rms = float(np.sqrt(np.mean(np.square(clip, dtype=np.float64))))
    if not np.isfinite(rms) or rms < SILENCE_RMS:
        raise RuntimeError(f"{what} came out silent")
    out = clip * (TARGET_RMS / rms)
    peak = float(np.abs(out).max())
    if peak > PEAK_LIMIT:
        out *= PEAK_LIMIT / peak
    return out.astype(np.float32)
