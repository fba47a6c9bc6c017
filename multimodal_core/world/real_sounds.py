"""Sounds from outside the world, and the world's own, to calibrate the out-of-world checks for
sounds (is this recording from the world's sound world?) and for voices (is this speech?).

Nothing is downloaded. The counter-examples are signals made here (tones, sweeps, noise,
clicks), music played through the world's own SoundFont with General MIDI programs the world
never uses, and the recordings that installed packages ship (Gradio's demo audio; librosa's
example recordings are not in its cache on this machine, so none is used).

Every kind is split: the checks train on :data:`TRAIN_KINDS` with seeds drawn by the training
and are measured on :data:`HELD_OUT_KINDS` (kinds the training never saw: sawtooth and FM tones,
chords, pink noise alone, other programs, other recordings) and on fresh draws of the trained
kinds. Recordings are split whole by speaker or piece, never by crop.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np

from multimodal_core import media
from multimodal_core.world import clips, sounds
from multimodal_core.world.datasets import LocalizationDataset
from multimodal_core.world.people import person
from multimodal_core.world.splits import seeds

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000  # what the localization model's audio net hears
SECONDS = 2.0  # the world's clip length
VOICE_SECONDS = (2.0, 3.0, 5.0)  # recordings of the voice tab vary in length: a cycle of three
SPEECH_SOURCES = tuple(s for s, spec in sounds.SOUND_SOURCES.items() if spec.voice is not None)
OBJECT_SOURCES = tuple(s for s in sounds.SOUND_SOURCES if s not in SPEECH_SOURCES)

# General MIDI programs (0-based) the world never plays; two whole sets, one held out.
TRAIN_PROGRAMS = (4, 11, 19, 24, 32, 42, 46, 52, 60, 68, 80, 88, 120, 121)
HELD_OUT_PROGRAMS = (6, 12, 16, 33, 48, 54, 57, 71, 81, 127)

# (package, path inside it, is speech) of each recording shipped by an installed package.
_RECORDINGS: dict[str, tuple[str, str, bool]] = {
    "sax": ("gradio", "media_assets/audio/sax.wav", False),
    "recording1": ("gradio", "media_assets/audio/recording1.wav", True),
    "heath_ledger": ("gradio", "media_assets/audio/heath_ledger.mp3", True),
    # held out (see HELD_OUT_RECORDINGS)
    "cantina": ("gradio", "media_assets/audio/cantina.wav", False),
    "cate_blanchett": ("gradio", "media_assets/audio/cate_blanch.mp3", True),
    "cate_blanchett_2": ("gradio", "media_assets/audio/cate_blanch_2.mp3", True),
}
HELD_OUT_RECORDINGS = ("cantina", "cate_blanchett", "cate_blanchett_2")
TRAIN_RECORDINGS = tuple(r for r in _RECORDINGS if r not in HELD_OUT_RECORDINGS)


def _seconds(rng: np.random.Generator) -> float:
    return float(rng.uniform(1.5, 5.0))


def _time(rng: np.random.Generator) -> np.ndarray:
    return np.arange(round(_seconds(rng) * SAMPLE_RATE)) / SAMPLE_RATE


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _harmonics(rng: np.random.Generator, weight: Callable[[int], float]) -> np.ndarray:
    """A steady tone of up to 20 harmonics of a random pitch, the k-th at ``weight(k)``."""
    t, f0 = _time(rng), _log_uniform(rng, 60.0, 2000.0)
    top = min(20, int(7900 / f0))
    return sum(weight(k) * np.sin(2 * np.pi * k * f0 * t) for k in range(1, top + 1))


def sine(rng: np.random.Generator) -> np.ndarray:
    """A pure tone, 60 Hz to 6 kHz."""
    return np.sin(2 * np.pi * _log_uniform(rng, 60.0, 6000.0) * _time(rng))


def square(rng: np.random.Generator) -> np.ndarray:
    """Odd harmonics at 1/k: a square wave, band-limited."""
    return _harmonics(rng, lambda k: (k % 2) / k)


def sawtooth(rng: np.random.Generator) -> np.ndarray:
    """Every harmonic at 1/k: a sawtooth, band-limited (held out)."""
    return _harmonics(rng, lambda k: 1.0 / k)


def sweep(rng: np.random.Generator) -> np.ndarray:
    """A sine sweep up or down, linear or exponential, across 2 to 7 octaves."""
    t = _time(rng)
    low = _log_uniform(rng, 40.0, 500.0)
    high = min(7800.0, low * 2 ** rng.uniform(2, 7))
    f0, f1 = (low, high) if rng.random() < 0.5 else (high, low)
    span = t[-1]
    if rng.random() < 0.5:
        phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * span))
    else:
        k = np.log(f1 / f0) / span
        phase = 2 * np.pi * f0 * (np.exp(k * t) - 1) / k
    return np.sin(phase)


def tremolo(rng: np.random.Generator) -> np.ndarray:
    """A tone whose loudness pulses 2 to 12 times a second (a siren, a beeping alarm)."""
    t = _time(rng)
    gate = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * rng.uniform(2, 12) * t))
    return gate * np.sin(2 * np.pi * _log_uniform(rng, 200.0, 4000.0) * t) + 1e-3


def chord(rng: np.random.Generator) -> np.ndarray:
    """Two to four steady sines at once (held out)."""
    t = _time(rng)
    return sum(
        np.sin(2 * np.pi * _log_uniform(rng, 100.0, 3000.0) * t)
        for _ in range(int(rng.integers(2, 5)))
    )


def fm_tone(rng: np.random.Generator) -> np.ndarray:
    """A tone with a slow vibrato, a whistle or a theremin (held out)."""
    t, f0 = _time(rng), _log_uniform(rng, 150.0, 3000.0)
    depth, rate = rng.uniform(0.02, 0.2) * f0, rng.uniform(3, 8)
    return np.sin(2 * np.pi * f0 * t + depth / rate * np.sin(2 * np.pi * rate * t))


def white_noise(rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(len(_time(rng)))


def brown_noise(rng: np.random.Generator) -> np.ndarray:
    """Integrated white noise (a rumble), its drift removed."""
    walk = np.cumsum(rng.standard_normal(len(_time(rng))))
    return walk - np.convolve(walk, np.ones(801) / 801, mode="same")


def pink_noise(rng: np.random.Generator) -> np.ndarray:
    """Pink noise alone: the world only ever plays it under a source (held out)."""
    return sounds.pink_noise(rng, len(_time(rng)))


def clicks(rng: np.random.Generator) -> np.ndarray:
    """A train of short clicks, 2 to 40 a second (a metronome, a clock, a Geiger counter)."""
    out = np.zeros(len(_time(rng)))
    step = SAMPLE_RATE / rng.uniform(2, 40)
    for start in np.arange(0, len(out) - 80, step).astype(int):
        out[start : start + 80] += rng.standard_normal(80) * np.hanning(80)
    return out


def music(rng: np.random.Generator, programs: tuple[int, ...]) -> np.ndarray:
    """A phrase in a random scale played by one of ``programs`` through the world's SoundFont."""
    program = int(programs[int(rng.integers(len(programs)))])
    return phrase(rng, program, _seconds(rng))


def phrase(rng: np.random.Generator, program: int, seconds: float) -> np.ndarray:
    """``seconds`` of a melody in a random scale played by General MIDI ``program`` (SoundNet's
    transfer test learns instruments the world never plays from a few such clips)."""
    events = sounds.melody(rng, list(range(48, 85)), seconds)
    return sounds.synthesizer(SAMPLE_RATE).render(program, False, events, seconds)


SIGNALS: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "sine": sine,
    "square": square,
    "sweep": sweep,
    "tremolo": tremolo,
    "white_noise": white_noise,
    "brown_noise": brown_noise,
    "clicks": clicks,
    "music": lambda rng: music(rng, TRAIN_PROGRAMS),
    # held out (see HELD_OUT_KINDS)
    "sawtooth": sawtooth,
    "chord": chord,
    "fm_tone": fm_tone,
    "pink_noise": pink_noise,
    "other_music": lambda rng: music(rng, HELD_OUT_PROGRAMS),
}
"""Every generated kind of not-world sound, by name."""
HELD_OUT_KINDS = ("sawtooth", "chord", "fm_tone", "pink_noise", "other_music")
TRAIN_KINDS = tuple(k for k in SIGNALS if k not in HELD_OUT_KINDS)


def signals(kinds: tuple[str, ...], rng: np.random.Generator, each: int) -> list[np.ndarray]:
    """``each`` clips of every kind in ``kinds``, at :data:`SAMPLE_RATE`, normalised as the
    world's clips are (the audio net scales by the peak anyway)."""
    return [
        clips.normalise(SIGNALS[k](rng).astype(np.float32), k) for k in kinds for _ in range(each)
    ]


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def recording(name: str) -> np.ndarray | None:
    """A shipped recording decoded as the tabs decode uploads, at :data:`SAMPLE_RATE`; None
    (with a warning) when its package or file is missing."""
    package, inner, _ = _RECORDINGS[name]
    root = _package_dir(package)
    path = None if root is None else root / inner
    if path is None or not path.is_file():
        logger.warning("recording %s is missing (%s/%s); skipped", name, package, inner)
        return None
    return media.load_audio(path, SAMPLE_RATE).samples


def is_speech(name: str) -> bool:
    return _RECORDINGS[name][2]


def recording_crops(
    names: tuple[str, ...], rng: np.random.Generator, crops: int, speech: bool | None = None
) -> list[np.ndarray]:
    """Each recording whole and ``crops`` random windows of 1.5 s or more of it; ``speech``
    keeps only recordings that are (True) or are not (False) speech."""
    out = []
    for name in names:
        clip = recording(name)
        if clip is None or (speech is not None and is_speech(name) != speech):
            continue
        out.append(clip)
        for _ in range(crops):
            n = min(len(clip), round(_seconds(rng) * SAMPLE_RATE))
            start = int(rng.integers(0, len(clip) - n + 1))
            out.append(clip[start : start + n])
    return out


def world_sounds(split: str, start: int, n: int, *, held_out_ok: bool = False) -> list[np.ndarray]:
    """World sounds as the sound tabs get them, in a cycle: even items are localization
    tracks (a source, maybe a quieter second one and background noise, as the localization
    dataset mixes them), odd items one source alone, every source in turn."""
    dataset = LocalizationDataset(split, held_out_ok=held_out_ok)
    split_seeds = seeds(split, held_out_ok=held_out_ok)
    out = []
    for i in range(start, start + n):
        if i % 2 == 0:
            out.append(dataset.sounding(dataset.scene(i))[1].audio)
        else:
            source = list(sounds.SOUND_SOURCES)[(i // 2) % len(sounds.SOUND_SOURCES)]
            out.append(sounds.sound(source, split_seeds[i], SECONDS, SAMPLE_RATE))
    return out


def world_voices(split: str, start: int, n: int, *, held_out_ok: bool = False) -> list[np.ndarray]:
    """The voices of the split's people (the voice tab's world), 2, 3 or 5 s in turn."""
    split_seeds = seeds(split, held_out_ok=held_out_ok)
    return [
        person(split_seeds[i]).voice(VOICE_SECONDS[i % len(VOICE_SECONDS)], SAMPLE_RATE)
        for i in range(start, start + n)
    ]


def world_object_sounds(
    split: str, start: int, n: int, *, held_out_ok: bool = False
) -> list[np.ndarray]:
    """World sounds that are not speech (instruments, animals, machines), every source in turn."""
    split_seeds = seeds(split, held_out_ok=held_out_ok)
    return [
        sounds.sound(OBJECT_SOURCES[i % len(OBJECT_SOURCES)], split_seeds[i], SECONDS, SAMPLE_RATE)
        for i in range(start, start + n)
    ]
