"""Sounds of the world's objects, a fresh clip per seed, and mixtures for localization.

Instruments play random phrases and the General MIDI effects (sea, bird, telephone,
helicopter, applause) sound through the TimGM6mb SoundFont that ``pretty_midi`` ships,
rendered by ``tinysoundfont``; people speak through eSpeak NG (see people.py). Every clip is
float32 mono, exactly ``seconds`` long, loudness-normalised and never silent: one-shot
effects are re-triggered, slow-starting ones get a discarded pre-roll.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from multimodal_core.world import clips
from multimodal_core.world.people import draw_voice, speak_clip
from multimodal_core.world.seeding import rng_for


@dataclass(frozen=True)
class SoundSource:
    """How a source sounds. ``kind``: "instrument" (a melodic GM program playing phrases in
    ``notes``), "drums" (the GM drum kit), "strikes" (a program struck now and then),
    "chirps" / "rings" (one-shot effects re-triggered), "sustained" (an effect held, after
    ``pre_roll`` seconds of warm-up), "speech" (a voice of ``voice``: age group, gender)."""

    id: str
    kind: str
    program: int = 0  # 0-based General MIDI program
    notes: tuple[int, int] = (60, 72)  # inclusive MIDI key range
    pre_roll: float = 0.0
    voice: tuple[str, str] | None = None
    silent_keys: tuple[int, ...] = ()  # keys in ``notes`` the SoundFont has no sample for

    @property
    def keys(self) -> list[int]:
        """The playable MIDI keys."""
        return [k for k in range(self.notes[0], self.notes[1] + 1) if k not in self.silent_keys]


_SOURCES = (
    SoundSource("piano", "instrument", 0, (48, 84)),
    SoundSource("guitar", "instrument", 25, (40, 76)),
    SoundSource("violin", "instrument", 40, (55, 88)),
    SoundSource("trumpet", "instrument", 56, (55, 82)),
    SoundSource("saxophone", "instrument", 65, (49, 80), silent_keys=(64,)),  # TimGM6mb: no E4
    SoundSource("flute", "instrument", 73, (60, 96)),
    SoundSource("accordion", "instrument", 21, (53, 81)),
    SoundSource("banjo", "instrument", 105, (48, 79)),
    SoundSource("drum", "drums"),
    SoundSource("bell", "strikes", 14, (60, 77)),
    SoundSource("bird", "chirps", 123, (60, 84)),
    SoundSource("telephone", "rings", 124, (60, 72)),
    SoundSource("helicopter", "sustained", 125, (48, 72), pre_roll=0.4),
    SoundSource("sea", "sustained", 122, (48, 72), pre_roll=0.4),
    SoundSource("applause", "sustained", 126, (55, 72), pre_roll=1.0),
    SoundSource("speech-boy", "speech", voice=("child", "male")),
    SoundSource("speech-girl", "speech", voice=("child", "female")),
    SoundSource("speech-man", "speech", voice=("adult", "male")),
    SoundSource("speech-woman", "speech", voice=("adult", "female")),
    SoundSource("speech-grandpa", "speech", voice=("older", "male")),
    SoundSource("speech-grandma", "speech", voice=("older", "female")),
)
SOUND_SOURCES: dict[str, SoundSource] = {s.id: s for s in _SOURCES}
NOISES: tuple[str, ...] = ("pink", "applause")
"""Background noises a localization mixture may add: pink noise or a crowd clapping."""

_SCALES = ((0, 2, 4, 7, 9), (0, 3, 5, 7, 10), (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10))
_DRUM_KEYS = {"kick": 36, "snare": 38, "hat": 42, "open_hat": 46, "tom": 45, "crash": 49}
_CHANNEL, _DRUM_CHANNEL = 0, 9
_FLUSH_SECONDS = 0.1

Event = tuple[float, int, int]  # (time in seconds, MIDI key, velocity; 0 = note off)


class _Synth:
    """One tinysoundfont synthesiser with the SoundFont loaded (about 15 ms), reused for every
    clip at its sample rate; a lock serialises clips, and each ends with every voice off."""

    def __init__(self, sample_rate: int) -> None:
        import tinysoundfont  # dev-only dependency

        self.sample_rate = sample_rate
        self.synth = tinysoundfont.Synth(samplerate=sample_rate)
        self.sfid = self.synth.sfload(str(soundfont_path()))
        self.lock = threading.Lock()

    def render(self, program: int, drums: bool, events: list[Event], seconds: float) -> np.ndarray:
        """Play ``events`` and return ``seconds`` of mono audio from time 0."""
        channel = _DRUM_CHANNEL if drums else _CHANNEL
        total = round(seconds * self.sample_rate)
        out: list[np.ndarray] = []
        done = 0
        with self.lock:
            self.synth.program_select(channel, self.sfid, 128 if drums else 0, program, drums)
            ordered = sorted(events, key=lambda e: (e[0], e[2] > 0))  # note-offs first
            for time, key, velocity in [*ordered, (seconds, -1, 0)]:
                frame = min(total, round(time * self.sample_rate))
                if frame > done:
                    buf = self.synth.generate(frame - done)
                    out.append(np.frombuffer(buf, np.float32).reshape(-1, 2).mean(axis=1))
                    done = frame
                if key < 0:
                    break
                if velocity > 0:
                    self.synth.noteon(channel, key, velocity)
                else:
                    self.synth.noteoff(channel, key)
            # Voices switched off still fade for a few ms: render that away, so the next clip
            # starts from the same silence (a clip must not depend on the one before).
            self.synth.sounds_off(channel)
            self.synth.generate(round(_FLUSH_SECONDS * self.sample_rate))
        return np.concatenate(out) if out else np.zeros(0, np.float32)


def soundfont_path() -> Path:
    """TimGM6mb.sf2 as ``pretty_midi`` ships it, found without importing pretty_midi."""
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("pretty_midi (which ships the SoundFont) is not installed")
    return Path(spec.origin).parent / "TimGM6mb.sf2"


@cache
def synthesizer(sample_rate: int) -> _Synth:
    """The SoundFont renderer at ``sample_rate``, made once: the world's sounds and the
    out-of-world check's music by other instruments (``world/real_sounds.py``) share it."""
    return _Synth(sample_rate)


def melody(rng: np.random.Generator, playable: list[int], seconds: float) -> list[Event]:
    """A melody in a random scale and tempo, a note at time 0, sometimes two-note chords."""
    tonic = playable[int(rng.integers(min(12, len(playable))))]
    scale = _SCALES[int(rng.integers(len(_SCALES)))]
    keys = [k for k in playable if (k - tonic) % 12 in scale]
    beat = 60.0 / rng.uniform(90, 160)
    events: list[Event] = []
    t, index = 0.0, int(rng.integers(len(keys)))
    while t < seconds:
        length = beat * float(rng.choice((0.5, 1.0, 1.0, 1.5, 2.0)))
        index = int(np.clip(index + rng.integers(-3, 4), 0, len(keys) - 1))
        chord = [keys[index]]
        if rng.random() < 0.15 and index + 2 < len(keys):
            chord.append(keys[index + 2])
        velocity = int(rng.integers(70, 121))
        for key in chord:
            events += [(t, key, velocity), (t + 0.9 * length, key, 0)]
        t += length
        if rng.random() < 0.1:
            t += beat * 0.5  # a short rest
    return events


def _drums(rng: np.random.Generator, seconds: float) -> list[Event]:
    """A random 16-step pattern: kick on the first step, snare, hats, the odd tom."""
    step = 60.0 / rng.uniform(90, 150) / 4
    pattern = {
        "kick": {0} | {i for i in range(2, 16) if rng.random() < 0.2},
        "snare": {4, 12} | {i for i in range(16) if rng.random() < 0.08},
        "hat": {i for i in range(0, 16, 2) if rng.random() < 0.9},
        "tom": {i for i in range(16) if rng.random() < 0.06},
    }
    events: list[Event] = [(0.0, _DRUM_KEYS["crash"], 100)]
    n_steps = int(seconds / step) + 1
    for i in range(n_steps):
        for part, steps in pattern.items():
            if i % 16 in steps:
                events.append((i * step, _DRUM_KEYS[part], int(rng.integers(70, 121))))
    return sorted(events)


def _retriggered(
    rng: np.random.Generator,
    source: SoundSource,
    seconds: float,
    burst: tuple[int, int],
    spacing: tuple[float, float],
    gap: tuple[float, float],
) -> list[Event]:
    """Bursts of one-shots: ``burst`` notes ``spacing`` seconds apart, ``gap`` between bursts."""
    keys = source.keys
    events: list[Event] = []
    t = 0.0
    while t < seconds:
        for _ in range(int(rng.integers(burst[0], burst[1] + 1))):
            key = keys[int(rng.integers(len(keys)))]
            events += [(t, key, int(rng.integers(90, 128))), (t + 0.9 * spacing[0], key, 0)]
            t += rng.uniform(*spacing)
        t += rng.uniform(*gap)
    return sorted(events)


def _events(rng: np.random.Generator, source: SoundSource, seconds: float) -> list[Event]:
    if source.kind == "instrument":
        return melody(rng, source.keys, seconds)
    if source.kind == "drums":
        return _drums(rng, seconds)
    if source.kind == "strikes":
        return _retriggered(rng, source, seconds, (1, 3), (0.25, 0.5), (0.2, 0.6))
    if source.kind == "chirps":  # a chirp lasts about 0.1 s
        return _retriggered(rng, source, seconds, (2, 6), (0.08, 0.16), (0.15, 0.5))
    if source.kind == "rings":  # a ring lasts about 0.4 s
        return _retriggered(rng, source, seconds, (2, 3), (0.4, 0.45), (0.15, 0.35))
    if source.kind == "sustained":
        key = source.keys[int(rng.integers(len(source.keys)))]
        return [(0.0, key, int(rng.integers(100, 128)))]
    raise ValueError(f"{source.id}: unknown kind {source.kind!r}")


def sound(source: str, seed: int, seconds: float = 2.0, sample_rate: int = 16000) -> np.ndarray:
    """A fresh clip of ``source`` for ``seed``: float32 mono, ``round(seconds * sample_rate)``
    samples, normalised to -20 dBFS RMS (peak under 0.99), never silent."""
    if source not in SOUND_SOURCES:
        raise KeyError(f"unknown sound source {source!r}; known: {', '.join(SOUND_SOURCES)}")
    if seconds <= 0 or sample_rate < 4000:
        raise ValueError(f"need seconds > 0 and sample_rate >= 4000, got {seconds}, {sample_rate}")
    spec = SOUND_SOURCES[source]
    rng = rng_for(seed, f"sound:{source}")
    if spec.voice is not None:
        return speak_clip(draw_voice(rng, *spec.voice), rng, seconds, sample_rate)
    length = seconds + spec.pre_roll
    events = _events(rng, spec, length)
    audio = synthesizer(sample_rate).render(spec.program, spec.kind == "drums", events, length)
    audio = audio[round(spec.pre_roll * sample_rate) :]
    return clips.normalise(clips.fit_length(audio, round(seconds * sample_rate)), source)


def pink_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Noise with a 1/f power spectrum (shaped white noise), float32, unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.arange(len(spectrum), dtype=np.float64)
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, n)
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)


@dataclass(frozen=True)
class Mixture:
    """A localization sound track and what is in it (levels in dB relative to the source)."""

    audio: np.ndarray  # float32 mono, normalised
    source: str
    second: str | None
    second_db: float | None
    noise: str | None
    noise_db: float | None


def mixture(
    source: str,
    seed: int,
    seconds: float = 2.0,
    sample_rate: int = 16000,
    *,
    second: str | None = None,
    second_db: tuple[float, float] = (-14.0, -8.0),
    noise: str | None = None,
    noise_db: tuple[float, float] = (-25.0, -12.0),
) -> Mixture:
    """``source`` plus, optionally, a quieter ``second`` source and background ``noise``
    (one of ``NOISES``), each at a level drawn from its range in dB below the source."""
    if noise is not None and noise not in NOISES:
        raise ValueError(f"noise must be one of {NOISES}, got {noise!r}")
    rng = rng_for(seed, "mixture")
    main = sound(source, seed, seconds, sample_rate)
    mix = main.astype(np.float64)
    second_level = noise_level = None
    if second is not None:
        second_level = float(rng.uniform(*second_db))
        other = sound(second, int(rng.integers(2**31)), seconds, sample_rate)
        mix += other * 10 ** (second_level / 20)
    if noise is not None:
        noise_level = float(rng.uniform(*noise_db))
        if noise == "pink":
            bed = pink_noise(rng, len(main)) * clips.TARGET_RMS
        else:
            bed = sound(noise, int(rng.integers(2**31)), seconds, sample_rate)
        mix += bed * 10 ** (noise_level / 20)
    audio = clips.normalise(mix.astype(np.float32), f"mixture of {source}")
    return Mixture(audio, source, second, second_level, noise, noise_level)
