"""People for voice-to-face: an age group and gender that a voice carries, and skin tone and
hair that it does not; a face glyph and an eSpeak NG voice for each, drawn from a seed.

Voice settings come from distributions that depend on age group and gender, with jitter so
that groups overlap as real voices do (a low child's voice can sound like a high woman's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multimodal_core import media
from multimodal_core.world import clips, speech
from multimodal_core.world.backgrounds import COLOURS, render_background
from multimodal_core.world.catalogue import CLASSES, SKIN_TONES, article
from multimodal_core.world.glyphs import glyph
from multimodal_core.world.seeding import rng_for
from multimodal_core.world.speech import VoiceSettings

AGE_GROUPS: tuple[str, ...] = ("child", "adult", "older")
GENDERS: tuple[str, ...] = ("female", "male")
SKIN_TONE_NAMES: tuple[str, ...] = ("light", "medium light", "medium", "medium dark", "dark")
HAIR_STYLES: dict[tuple[str, str], tuple[str, ...]] = {
    ("child", "female"): ("default",),
    ("child", "male"): ("default",),
    ("adult", "female"): ("default", "red", "curly", "blond", "bald"),
    ("adult", "male"): ("default", "red", "curly", "blond", "bald", "beard"),
    ("older", "female"): ("gray",),
    ("older", "male"): ("gray",),
}
"""Twemoji draws hair variants for adults only; children and older people have one style.
"default" is the glyph's own hair, whose colour Twemoji varies with the skin tone."""

_BASE = {
    ("child", "female"): "👧",
    ("child", "male"): "👦",
    ("adult", "female"): "👩",
    ("adult", "male"): "👨",
    ("older", "female"): "👵",
    ("older", "male"): "👴",
}
_HAIR_SUFFIX = {"red": "\u200d🦰", "curly": "\u200d🦱", "bald": "\u200d🦲"}
_SIGN = {"female": "\u200d♀\ufe0f", "male": "\u200d♂\ufe0f"}


@dataclass(frozen=True)
class VoiceDistribution:
    """Where the voice settings of one (age group, gender) are drawn from."""

    variants: tuple[str, ...]
    pitch: tuple[int, int]  # eSpeak pitch parameter, uniform over the inclusive range
    rate: tuple[int, int]  # words per minute
    pitch_range: tuple[int, int]


VOICES: dict[tuple[str, str], VoiceDistribution] = {
    ("child", "female"): VoiceDistribution(("f4", "f5"), (78, 99), (165, 205), (60, 90)),
    ("child", "male"): VoiceDistribution(("f4", "f5"), (70, 95), (165, 205), (60, 90)),
    ("adult", "female"): VoiceDistribution(("f1", "f2", "f3"), (42, 75), (150, 190), (45, 75)),
    ("adult", "male"): VoiceDistribution(
        ("m1", "m2", "m3", "m4", "m6", "m7"), (20, 60), (145, 185), (40, 70)
    ),
    ("older", "female"): VoiceDistribution(("grandma", "f1", "f3"), (30, 55), (120, 155), (55, 85)),
    ("older", "male"): VoiceDistribution(
        ("grandpa", "m1", "m3", "m7"), (15, 45), (115, 150), (50, 80)
    ),
}
"""Measured medians (en-us, one sentence): f4 at pitch 99 is about 310 Hz, f2 at 70 about
240 Hz, grandma at 50 about 200 Hz, m3 at 30 about 90 Hz."""


def draw_voice(rng: np.random.Generator, age_group: str, gender: str) -> VoiceSettings:
    """Voice settings for someone of this age group and gender."""
    d = VOICES[(age_group, gender)]
    return VoiceSettings(
        variant=str(rng.choice(d.variants)),
        rate=int(rng.integers(d.rate[0], d.rate[1] + 1)),
        pitch=int(rng.integers(d.pitch[0], d.pitch[1] + 1)),
        pitch_range=int(rng.integers(d.pitch_range[0], d.pitch_range[1] + 1)),
    )


_NOUNS = tuple(c.name for c in CLASSES)
_PLURALS = tuple(c.plural for c in CLASSES)
_COLOURS = tuple(COLOURS)


def sentence(rng: np.random.Generator) -> str:
    """A short random English sentence about the world's objects, for a voice to say."""
    noun, other = rng.choice(len(_NOUNS), 2, replace=False)
    n, o, colour = _NOUNS[noun], _NOUNS[other], str(rng.choice(_COLOURS))
    templates = (
        f"the {n} is {colour}",
        f"look at the {colour} {n}",
        f"i can see {article(n)} {n} next to the {o}",
        f"where is my {n}",
        f"please give me the {n} and the {o}",
        f"we saw {rng.choice(('two', 'three', 'four'))} {_PLURALS[noun]} today",
        f"do you like the {colour} {n}",
        f"there is {article(n)} {n} on the table",
    )
    return templates[int(rng.integers(len(templates)))]


def speak_clip(
    settings: VoiceSettings, rng: np.random.Generator, seconds: float, sample_rate: int
) -> np.ndarray:
    """Random sentences in one voice, with short pauses, cut to ``seconds``: float32 mono,
    normalised, starting with speech (never silent)."""
    pieces: list[np.ndarray] = []
    total = 0
    with speech.session(int(rng.integers(2**31))) as voice:
        target = round(seconds * voice.sample_rate)
        while total < target:
            audio = clips.trim_silence(voice.speak(sentence(rng), settings, "en-us"))
            pause = np.zeros(int(rng.uniform(0.1, 0.3) * voice.sample_rate), np.float32)
            pieces += [audio, pause]
            total += len(audio) + len(pause)
        native = voice.sample_rate
    clip = media.resample(np.concatenate(pieces)[:target], native, sample_rate)
    return clips.normalise(clips.fit_length(clip, round(seconds * sample_rate)), "speech")


@dataclass(frozen=True)
class Person:
    """Someone with a face and a voice; ``skin_tone`` and ``hair`` are not in the voice."""

    seed: int
    age_group: str
    gender: str
    skin_tone: str
    hair: str
    voice_settings: VoiceSettings

    @property
    def emoji(self) -> str:
        """The Twemoji sequence of this person's face (a ZWJ sequence for hair variants)."""
        tone = SKIN_TONES[SKIN_TONE_NAMES.index(self.skin_tone)]
        key = (self.age_group, self.gender)
        if self.hair in _HAIR_SUFFIX:
            return _BASE[key] + tone + _HAIR_SUFFIX[self.hair]
        if self.hair == "blond":
            return "👱" + tone + _SIGN[self.gender]
        if self.hair == "beard":
            return "🧔" + tone + _SIGN["male"]
        return _BASE[key] + tone

    def face(self, size: int = 64) -> np.ndarray:
        """(size, size, 3) uint8: the face glyph at a random scale and offset on a random plain
        or gradient background (same seed, same picture)."""
        rng = rng_for(self.seed, "face")
        image, _ = render_background(rng, size, _COLOURS)
        px = max(8, 2 * round(rng.uniform(0.7, 0.92) * size / 2))
        g = glyph(self.emoji, px)
        h, w = g.alpha.shape[:2]
        slack = size - w
        x = int(np.clip(slack // 2 + rng.integers(-size // 12, size // 12 + 1), 0, slack))
        y = int(np.clip((size - h) // 2 + rng.integers(-size // 12, size // 12 + 1), 0, size - h))
        region = image[y : y + h, x : x + w]
        image[y : y + h, x : x + w] = region * (1.0 - g.alpha) + g.rgb
        return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    def voice(self, seconds: float = 2.0, sample_rate: int = 16000) -> np.ndarray:
        """This person saying random sentences: float32 mono, ``seconds`` long, normalised."""
        return speak_clip(self.voice_settings, rng_for(self.seed, "voice"), seconds, sample_rate)


def person(seed: int) -> Person:
    """The person of ``seed``: age group and gender uniform, skin tone and hair independent."""
    rng = rng_for(seed, "person")
    age_group = str(rng.choice(AGE_GROUPS))
    gender = str(rng.choice(GENDERS))
    return Person(
        seed=seed,
        age_group=age_group,
        gender=gender,
        skin_tone=str(rng.choice(SKIN_TONE_NAMES)),
        hair=str(rng.choice(HAIR_STYLES[(age_group, gender)])),
        voice_settings=draw_voice(rng, age_group, gender),
    )
