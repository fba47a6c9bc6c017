"""Pretrained voice to face: voice -> estimated traits -> a neutral prompt -> a diffusion portrait.

Speech2Face draws a face from a voice; with pretrained models the honest version of that is
smaller: estimate what a voice does carry (an age group and a gender, with probabilities), say
so in words, and let the text-to-image model draw *a* person with those traits, not *the*
speaker. Two estimates are combined:

- CLAP zero-shot (the studio's shared ``"clap"`` model, declared in
  :mod:`multimodal_core.backends.localization`): the recording against descriptions of six
  speakers (a girl, a boy, a woman, a man, an old woman, an old man) and of sounds that are not
  one person speaking (music, noise, silence);
- the median pitch from ``librosa.pyin``: a Gaussian over log2 F0 per group, from typical adult
  and child speaking pitches (men about 120 Hz, women about 210 Hz, children about 270 Hz).

The posterior over the six groups is proportional to CLAP's probability times the pitch
likelihood (pitch is left out when too little of the clip is voiced). The portrait comes from the
shared ``"diffusion"`` pipeline (:mod:`multimodal_core.backends.text_to_image`). Both models are
loaded once by the hub, for this tab and theirs; transformers and diffusers are imported inside
their loaders only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

AGE_GROUPS: tuple[str, ...] = ("child", "adult", "older")
GENDERS: tuple[str, ...] = ("female", "male")
GROUPS: tuple[tuple[str, str], ...] = tuple((a, g) for a in AGE_GROUPS for g in GENDERS)
"""The six speaker groups, age-major: (child, female), (child, male), (adult, female), ..."""

SPEAKER_PROMPTS: tuple[str, ...] = (
    "a young girl speaking",
    "a young boy speaking",
    "a woman speaking",
    "a man speaking",
    "an old woman speaking",
    "an old man speaking",
)
"""What CLAP compares the recording with, one per group of :data:`GROUPS`."""
OTHER_PROMPTS: tuple[str, ...] = ("music", "background noise", "silence")
"""Sounds that are not one person speaking: their share is CLAP's doubt that this is a voice."""

PITCH_MEANS_HZ: dict[tuple[str, str], float] = {
    ("child", "female"): 270.0,
    ("child", "male"): 265.0,
    ("adult", "female"): 210.0,
    ("adult", "male"): 120.0,
    ("older", "female"): 190.0,
    ("older", "male"): 130.0,
}
"""Typical median speaking F0 per group (children's voices differ little by gender before
puberty; women's fall and men's rise somewhat with age)."""
PITCH_SPREAD_OCTAVES = 0.3  # standard deviation of log2 F0 within a group
PITCH_FMIN, PITCH_FMAX = 60.0, 500.0  # speaking voices, children included
PITCH_MAX_SECONDS = 12.0  # pyin's cost grows with length: the first 12 s say enough
PITCH_RESOLUTION = 0.25  # semitones per pitch bin: 5x faster than librosa's 0.1, same median
MIN_VOICED_FRACTION = 0.15  # below this the pitch says nothing (music, noise, whispering)
LOW_CONFIDENCE = 0.5  # a best age-gender probability under this is called a low-confidence guess

GENDER_WORDS = {
    ("child", "female"): "girl",
    ("child", "male"): "boy",
    ("adult", "female"): "woman",
    ("adult", "male"): "man",
    ("older", "female"): "woman",
    ("older", "male"): "man",
}


@dataclass(frozen=True)
class PitchTrack:
    """F0 per frame (NaN where unvoiced), and what it adds up to."""

    times: np.ndarray  # (T,) seconds
    f0: np.ndarray  # (T,) Hz, NaN when unvoiced
    voiced_fraction: float
    median_hz: float | None  # None when too little is voiced


@dataclass(frozen=True)
class TraitEstimate:
    """Probabilities of age group and gender, their joint, and how sure the estimate is."""

    age: dict[str, float]
    gender: dict[str, float]
    joint: dict[str, float]  # "adult female" -> p
    speech_probability: float  # CLAP's share for the speaker prompts (1.0 when CLAP is unused)
    median_pitch_hz: float | None
    sources: list[str] = field(default_factory=list)

    @property
    def best(self) -> tuple[str, str]:
        key = max(self.joint, key=self.joint.get)
        age, gender = key.split(" ")
        return age, gender

    @property
    def confident(self) -> bool:
        return max(self.joint.values()) >= LOW_CONFIDENCE and self.speech_probability >= 0.5


def pitch_track(samples: np.ndarray, sample_rate: int) -> PitchTrack:
    """``librosa.pyin`` over the first :data:`PITCH_MAX_SECONDS` of a mono recording."""
    import librosa

    clip = np.asarray(samples[: int(PITCH_MAX_SECONDS * sample_rate)], dtype=np.float32)
    frame = 2048 if sample_rate > 24_000 else 1024
    if len(clip) < frame:
        clip = np.pad(clip, (0, frame - len(clip)))
    f0, voiced, _ = librosa.pyin(
        clip,
        fmin=PITCH_FMIN,
        fmax=PITCH_FMAX,
        sr=sample_rate,
        frame_length=frame,
        hop_length=frame // 4,
        resolution=PITCH_RESOLUTION,
    )
    times = librosa.times_like(f0, sr=sample_rate, hop_length=frame // 4)
    fraction = float(np.mean(voiced)) if len(voiced) else 0.0
    median = float(np.nanmedian(f0)) if fraction >= MIN_VOICED_FRACTION else None
    return PitchTrack(times, f0.astype(np.float32), fraction, median)


def pitch_likelihood(median_hz: float) -> np.ndarray:
    """Likelihood (6,) of a median F0 under each group of :data:`GROUPS` (unnormalised)."""
    x = np.log2(median_hz)
    means = np.log2([PITCH_MEANS_HZ[g] for g in GROUPS])
    return np.exp(-0.5 * ((x - means) / PITCH_SPREAD_OCTAVES) ** 2)


def combine(clap_probabilities: np.ndarray | None, pitch: PitchTrack | None) -> TraitEstimate:
    """Traits from CLAP's probabilities over ``SPEAKER_PROMPTS + OTHER_PROMPTS`` and a pitch
    track; either may be missing (then the other decides; with neither, a uniform guess)."""
    joint = np.ones(len(GROUPS))
    speech = 1.0
    sources = []
    if clap_probabilities is not None:
        p = np.asarray(clap_probabilities, dtype=np.float64)
        speech = float(p[: len(GROUPS)].sum())
        joint = joint * (p[: len(GROUPS)] / max(speech, 1e-9))
        sources.append("CLAP zero-shot")
    median = pitch.median_hz if pitch is not None else None
    if median is not None:
        joint = joint * pitch_likelihood(median)
        sources.append(f"median pitch {median:.0f} Hz")
    joint = joint / joint.sum() if joint.sum() > 0 else np.full(len(GROUPS), 1 / len(GROUPS))
    by_key = {f"{a} {g}": float(p) for (a, g), p in zip(GROUPS, joint, strict=True)}
    age = {
        a: float(sum(joint[i] for i, (ga, _) in enumerate(GROUPS) if ga == a)) for a in AGE_GROUPS
    }
    gender = {
        g: float(sum(joint[i] for i, (_, gg) in enumerate(GROUPS) if gg == g)) for g in GENDERS
    }
    return TraitEstimate(age, gender, by_key, speech, median, sources)


def neutral_prompt(age_group: str, gender: str) -> str:
    """A portrait prompt that names only what the voice suggests, nothing about looks."""
    noun = GENDER_WORDS[(age_group, gender)]
    who = f"an elderly {noun}" if age_group == "older" else f"a {noun}"
    if age_group == "adult":
        who = f"an adult {noun}"
    return (
        f"a neutral passport-style portrait photo of {who}, front view, neutral expression, "
        "plain light grey background, soft even light"
    )


def estimate_traits(
    clap: object | None, samples_48k: np.ndarray | None, pitch: PitchTrack | None
) -> TraitEstimate:
    """CLAP (a ``ClapTagger``) on a 48 kHz recording, combined with the pitch track."""
    probabilities = None
    if clap is not None and samples_48k is not None:
        # CLAP's feature extractor crops longer clips at a random offset ("rand_trunc"): give it
        # at most its window, from the start, so that the same voice gets the same answer.
        extractor = getattr(getattr(clap, "processor", None), "feature_extractor", None)
        window = getattr(extractor, "nb_max_samples", None)
        clip = samples_48k[:window] if window else samples_48k
        probabilities = clap.tag(clip, SPEAKER_PROMPTS + OTHER_PROMPTS)
    return combine(probabilities, pitch)


def portrait(generator: object, traits: TraitEstimate, seed: int = 0) -> tuple[np.ndarray, str]:
    """One picture (H, W, 3) uint8 from the shared diffusion generator, and its prompt."""
    prompt = neutral_prompt(*traits.best)
    image = generator.generate(prompt, n=1, seed=seed)[0]
    return image, prompt
