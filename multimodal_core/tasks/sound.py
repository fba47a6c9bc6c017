"""The lecture's audio representations of one recording: waveform, STFT, mel and MFCC."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from multimodal_core import audio, media, sound_pictures

ANALYSIS = audio.FeatureConfig(sample_rate=22_050, n_fft=1024, hop_length=256, n_mels=96)
"""22.05 kHz keeps everything up to 11 kHz visible; 46 ms windows give readable harmonics."""
N_MFCC = 20


@dataclass(frozen=True)
class SoundFacts:
    """What the recording is, in numbers a person can check."""

    sample_rate: int
    source_sample_rate: int
    channels: int
    seconds: float
    original_seconds: float
    rms_dbfs: float
    peak_dbfs: float
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SoundAnalysis:
    """Pictures (RGB uint8 arrays) of each representation, plus the facts."""

    waveform: np.ndarray
    stft: np.ndarray
    mel: np.ndarray
    mfcc: np.ndarray
    facts: SoundFacts

    def to_dict(self) -> dict:
        return asdict(self.facts)


def analyse_sound(path: str | Path) -> SoundAnalysis:
    """Decode an upload and draw its representations; raises ``InputError`` for unusable files."""
    clip = media.load_audio(path, ANALYSIS.sample_rate)
    samples = clip.samples
    rate, hop = ANALYSIS.sample_rate, ANALYSIS.hop_length
    stft_db = audio.to_db(audio.power_spectrogram(samples, ANALYSIS.n_fft, hop))
    mel_db = audio.log_mel(samples, ANALYSIS)
    coefficients = audio.mfcc(mel_db.numpy(), N_MFCC)
    level = audio.loudness(samples)
    facts = SoundFacts(
        sample_rate=rate,
        source_sample_rate=clip.source_rate,
        channels=clip.channels,
        seconds=round(clip.seconds, 3),
        original_seconds=round(clip.original_seconds, 3),
        rms_dbfs=round(level.rms_dbfs, 1),
        peak_dbfs=round(level.peak_dbfs, 1),
        notes=clip.notes,
    )
    return SoundAnalysis(
        waveform=sound_pictures.waveform_image(samples, rate),
        stft=sound_pictures.spectrogram_image(stft_db, rate, hop, "STFT spectrogram (power, dB)"),
        mel=sound_pictures.spectrogram_image(
            mel_db, rate, hop, "Mel spectrogram (dB)", scale="mel", fmin=ANALYSIS.fmin
        ),
        mfcc=sound_pictures.spectrogram_image(
            coefficients, rate, hop, f"MFCC (first {N_MFCC})", scale="coefficient", unit="value"
        ),
        facts=facts,
    )


def describe(facts: SoundFacts) -> str:
    """The facts as a short Markdown paragraph."""
    channels = "mono" if facts.channels == 1 else f"{facts.channels} channels (mixed to mono)"
    lines = [
        f"**{facts.seconds:.2f} s**, {channels}, recorded at {facts.source_sample_rate} Hz "
        f"(analysed at {facts.sample_rate} Hz).",
        f"Loudness: average {facts.rms_dbfs:.1f} dBFS, peak {facts.peak_dbfs:.1f} dBFS "
        "(decibels below the loudest sound a file can hold: 0 is the maximum, -20 is a tenth "
        "of its pressure).",
        *facts.notes,
    ]
    return "  \n".join(lines)
