"""The world's object classes: noun, category, Twemoji glyph, synonyms and sound source.

This module is imported by the app at run time, so it holds plain data only (stdlib, no
renderers): the glyph files, the SoundFont and eSpeak NG are touched by other modules.
The nouns are the world's own, not the emoji names (``:automobile:`` makes an awkward word).
"""

from __future__ import annotations

from dataclasses import dataclass

CATEGORIES: tuple[str, ...] = ("animal", "instrument", "vehicle", "food", "person", "thing")

SKIN_TONES: tuple[str, ...] = ("\U0001f3fb", "\U0001f3fc", "\U0001f3fd", "\U0001f3fe", "\U0001f3ff")
"""Fitzpatrick modifiers 1-2 to 6: person glyphs are drawn with one of these or none (yellow)."""


@dataclass(frozen=True)
class ObjectClass:
    """One kind of object the world can draw, name in captions and, maybe, hear.

    ``name`` is the canonical noun used in captions and answers; ``synonyms`` are other true
    singular nouns for it (captions vary them, text encoders must map them together);
    ``sound`` is the id of its source in :mod:`multimodal_core.world.sounds`, or None when
    the object is silent; ``skin_tones`` says whether the glyph takes a skin-tone modifier.
    """

    name: str
    category: str
    emoji: str
    synonyms: tuple[str, ...]
    plural: str
    sound: str | None = None
    skin_tones: bool = False

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"{self.name}: unknown category {self.category!r}")


def _c(
    name: str,
    category: str,
    emoji: str,
    synonyms: tuple[str, ...] = (),
    plural: str | None = None,
    sound: str | None = None,
    skin_tones: bool = False,
) -> ObjectClass:
    return ObjectClass(name, category, emoji, synonyms, plural or name + "s", sound, skin_tones)


CLASSES: tuple[ObjectClass, ...] = (
    # Animals: full-body glyphs where Twemoji has them. No duck, owl or penguin: each is also
    # a "bird", which would make "is there a bird?" ambiguous.
    _c("dog", "animal", "🐕", ("puppy", "hound")),
    _c("cat", "animal", "🐈", ("kitten", "kitty")),
    _c("bird", "animal", "🐦", ("songbird",), sound="bird"),
    _c("cow", "animal", "🐄", ("calf",)),
    _c("horse", "animal", "🐎", ("pony", "stallion")),
    _c("pig", "animal", "🐖", ("hog", "piglet")),
    _c("frog", "animal", "🐸", ("toad",)),
    _c("rabbit", "animal", "🐇", ("bunny", "hare")),
    _c("elephant", "animal", "🐘", ()),
    _c("fish", "animal", "🐟", (), plural="fish"),
    _c("lion", "animal", "🦁", ()),
    _c("turtle", "animal", "🐢", ("tortoise",)),
    # Instruments: each sounds as its own General MIDI program (see sounds.py).
    _c("piano", "instrument", "🎹", ("keyboard",), sound="piano"),
    _c("guitar", "instrument", "🎸", ("electric guitar",), sound="guitar"),
    _c("violin", "instrument", "🎻", ("fiddle",), sound="violin"),
    _c("trumpet", "instrument", "🎺", ("horn",), sound="trumpet"),
    _c("saxophone", "instrument", "🎷", ("sax",), sound="saxophone"),
    _c("flute", "instrument", "🪈", ("pipe",), sound="flute"),
    _c("drum", "instrument", "🥁", ("snare drum",), sound="drum"),
    _c("accordion", "instrument", "🪗", ("squeezebox",), sound="accordion"),
    _c("banjo", "instrument", "🪕", (), sound="banjo"),
    # Vehicles.
    _c("car", "vehicle", "🚗", ("automobile",)),
    _c("bus", "vehicle", "🚌", ("coach",), plural="buses"),
    _c("bicycle", "vehicle", "🚲", ("bike",)),
    _c("airplane", "vehicle", "✈️", ("plane", "jet")),
    _c("helicopter", "vehicle", "🚁", ("chopper",), sound="helicopter"),
    _c("boat", "vehicle", "⛵", ("sailboat",)),
    _c("train", "vehicle", "🚂", ("locomotive",)),
    _c("truck", "vehicle", "🚚", ("lorry", "van")),
    # Food. No orange: it is also a background colour answer.
    _c("apple", "food", "🍎", ()),
    _c("banana", "food", "🍌", ()),
    _c("pizza", "food", "🍕", ("slice of pizza",)),
    _c("cake", "food", "🍰", ("slice of cake",)),
    _c("carrot", "food", "🥕", ()),
    _c("strawberry", "food", "🍓", ("berry",), plural="strawberries"),
    _c("egg", "food", "🥚", ()),
    _c("avocado", "food", "🥑", ()),
    # People: the voice of each follows its age group and gender (see people.py).
    _c("baby", "person", "👶", ("infant",), plural="babies", skin_tones=True),
    _c("boy", "person", "👦", ("schoolboy",), sound="speech-boy", skin_tones=True),
    _c("girl", "person", "👧", ("schoolgirl",), sound="speech-girl", skin_tones=True),
    _c("man", "person", "👨", ("gentleman",), plural="men", sound="speech-man", skin_tones=True),
    _c("woman", "person", "👩", ("lady",), plural="women", sound="speech-woman", skin_tones=True),
    _c(
        "grandpa",
        "person",
        "👴",
        ("old man", "grandfather"),
        sound="speech-grandpa",
        skin_tones=True,
    ),
    _c(
        "grandma",
        "person",
        "👵",
        ("old woman", "grandmother"),
        sound="speech-grandma",
        skin_tones=True,
    ),
    # Things.
    _c("telephone", "thing", "☎️", ("phone",), sound="telephone"),
    _c("bell", "thing", "🔔", (), sound="bell"),
    _c("wave", "thing", "🌊", ("ocean wave",), sound="sea"),
    _c("ball", "thing", "⚽", ("football",)),
    _c("umbrella", "thing", "☂️", ("parasol",)),
    _c("clock", "thing", "⏰", ("alarm clock",)),
    _c("book", "thing", "📕", ()),
    _c("tree", "thing", "🌳", ()),
    _c("house", "thing", "🏠", ("home",)),
    _c("key", "thing", "🔑", ()),
)

CLASS_NAMES: tuple[str, ...] = tuple(c.name for c in CLASSES)
SOUNDING_CLASSES: tuple[str, ...] = tuple(c.name for c in CLASSES if c.sound is not None)

_BY_NAME: dict[str, ObjectClass] = {c.name: c for c in CLASSES}
_VOWEL_SOUND_EXCEPTIONS = frozenset({"unicorn", "uniform", "university", "one"})


def get_class(name: str) -> ObjectClass:
    """The class called ``name`` (its canonical noun); KeyError names the valid ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown object class {name!r}; known: {', '.join(CLASS_NAMES)}") from None


def classes_in(category: str) -> tuple[ObjectClass, ...]:
    """Every class of one category, in catalogue order."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; known: {', '.join(CATEGORIES)}")
    return tuple(c for c in CLASSES if c.category == category)


def article(noun_phrase: str) -> str:
    """'a' or 'an' for a noun phrase, by its first sound ("an airplane", "a unicorn")."""
    first = noun_phrase.split()[0]
    vowel = first[0] in "aeiou" and first not in _VOWEL_SOUND_EXCEPTIONS
    return "an" if vowel else "a"


def _check_catalogue() -> None:
    """Fail at import time if the table breaks an invariant the grammar relies on."""
    if len(_BY_NAME) != len(CLASSES):
        raise ValueError("duplicate class names in the catalogue")
    nouns = [c.name for c in CLASSES] + [s for c in CLASSES for s in c.synonyms]
    if len(set(nouns)) != len(nouns):  # a noun must name one class: "a kid" would be ambiguous
        raise ValueError("a synonym repeats a class name or another class's synonym")


_check_catalogue()
