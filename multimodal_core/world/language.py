"""The world's pinned grammar: caption references and question-answer pairs for a scene.

Every sentence is derived from the scene's annotations only, so each is true by construction
(the tests re-check them independently). Text is lower case, words separated by single
spaces, no punctuation: a vocabulary is ``str.split``. BLEU, CIDEr and VQA accuracy depend
on this grammar: any change to a template or to the choice of references must bump
``GRAMMAR_VERSION``, which model cards record next to their figures.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from multimodal_core.world.backgrounds import BACKGROUND_WORDS, COLOURS
from multimodal_core.world.catalogue import CLASS_NAMES, CLASSES, article, get_class
from multimodal_core.world.scenes import POSITIONS, Scene, SceneObject
from multimodal_core.world.seeding import rng_for

GRAMMAR_VERSION = "world-grammar-1"
N_CAPTIONS = 6  # references per scene; each scene's pool always holds at least this many

NUMBER_WORDS: tuple[str, ...] = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
)  # fmt: skip
"""Captions count up to nine (a grid holds nine objects; localization scenes hold six)."""
NUMBERS: tuple[str, ...] = NUMBER_WORDS[:5]
"""Count answers: scenes hold 1-4 objects unless distractors are added; a class seen more
often than ``MAX_COUNT`` times is never asked about."""
MAX_COUNT = len(NUMBERS) - 1
POSITION_PHRASES: dict[str, str] = {
    "top left": "in the top left",
    "top": "at the top",
    "top right": "in the top right",
    "left": "on the left",
    "center": "in the center",
    "right": "on the right",
    "bottom left": "in the bottom left",
    "bottom": "at the bottom",
    "bottom right": "in the bottom right",
}
RELATIONS: tuple[str, ...] = ("to the left of", "to the right of", "above", "below")
_TEXTURE_PHRASES: dict[str, tuple[str, ...]] = {
    "grass": ("on the grass", "on grass"),
    "brick": ("in front of a brick wall",),
    "gravel": ("on gravel", "on the gravel"),
}
_PICTURE_PREFIXES = ("a picture of", "an image of", "a drawing of")
_SYNONYM_PROBABILITY = 0.4  # chance that a singular noun in a varied reference is a synonym

QUESTION_TYPES: tuple[str, ...] = (
    "presence",
    "count",
    "position",
    "relation",
    "identity",
    "category",
    "background",
)
CATEGORY_QUESTIONS: dict[str, str] = {
    "animal": "which animal is there",
    "instrument": "which instrument is there",
    "vehicle": "which vehicle is there",
    "food": "which food is there",
    "person": "which person is there",
}
"""No question for "thing": "which thing is there" would be ambiguous to a person."""

ANSWERS: tuple[str, ...] = (
    "yes",
    "no",
    *NUMBERS,
    *POSITIONS,
    *CLASS_NAMES,
    *BACKGROUND_WORDS,
)
"""The fixed answer vocabulary: yes/no (presence, relation), number words (count), position
words (position), class names (identity, category), background words (background)."""


ANSWER_WEIGHTS: dict[str, float] = {"zero": 0.4, "one": 0.7, "two": 2.0, "three": 6.0, "four": 20.0}
"""Relative chance of an answer when a scene allows several of one type (others weigh 1).
"zero" is allowed by every scene and "four" by few: these weights even out the count answers
over VQA scenes (repeat probability 0.5) to at most about 0.36 for the commonest."""


@dataclass(frozen=True)
class Question:
    """A question about a scene, its one true answer (from ``ANSWERS``) and its type.

    ``about`` holds, for each object the question needs looked at in turn, the indices in
    ``scene.objects`` of what it covers: "is the dog above the cat" -> ((dog,), (cat,)),
    "what is above the cat" -> ((cat,), (the answer,)), "how many dogs" -> ((every dog,),);
    empty when nothing in the picture answers it ("is there a cow": no; the background). It
    lets training check where a model looked; it is not part of the text or the answer.
    """

    text: str
    answer: str
    type: str
    about: tuple[tuple[int, ...], ...] = ()


def relation_holds(a: SceneObject, relation: str, b: SceneObject) -> bool:
    """Whether ``a <relation> b`` is true: grid columns for left/right, rows for above/below."""
    (ra, ca), (rb, cb) = a.cell, b.cell
    return {
        "to the left of": ca < cb,
        "to the right of": ca > cb,
        "above": ra < rb,
        "below": ra > rb,
    }[relation]


def background_phrase(scene: Scene, rng: np.random.Generator) -> str:
    """Where the objects are: "on a blue background", "on the grass"."""
    word = scene.background.word
    if word in COLOURS:
        return f"on {article(word)} {word} background"
    return str(rng.choice(_TEXTURE_PHRASES[word]))


# --- captions -------------------------------------------------------------------------------


def _groups(scene: Scene) -> list[list[SceneObject]]:
    """Objects grouped by class, groups in reading order of their first object."""
    by_class: dict[str, list[SceneObject]] = {}
    for o in sorted(scene.objects, key=lambda o: POSITIONS.index(o.position)):
        by_class.setdefault(o.name, []).append(o)
    return list(by_class.values())


def _noun_phrase(
    group: list[SceneObject],
    rng: np.random.Generator | None = None,
    *,
    size: bool = False,
    position: bool = False,
) -> str:
    """ "a dog", "an old man", "two cats", "a large dog in the top left".

    A synonym replaces a singular noun when ``rng`` is given; ``size`` adds the size word when
    every object of the group shares it; ``position`` adds a singleton's position.
    """
    cls = get_class(group[0].name)
    noun = cls.name
    if len(group) == 1 and rng is not None and cls.synonyms and rng.random() < _SYNONYM_PROBABILITY:
        noun = str(rng.choice(cls.synonyms))
    sizes = {o.size for o in group}
    if size and len(sizes) == 1:
        noun = f"{sizes.pop()} {noun if len(group) == 1 else cls.plural}"
    elif len(group) > 1:
        noun = cls.plural
    n = len(group)
    phrase = f"{article(noun)} {noun}" if n == 1 else f"{NUMBER_WORDS[n]} {noun}"
    if position and len(group) == 1:
        phrase += " " + POSITION_PHRASES[group[0].position]
    return phrase


def _join(phrases: list[str]) -> str:
    return " and ".join(phrases)


def _caption_pool(scene: Scene, rng: np.random.Generator) -> list[str]:
    """Candidate references, most canonical first; every one true of the scene."""
    groups = _groups(scene)
    bg = background_phrase(scene, rng)
    plain = _join([_noun_phrase(g) for g in groups])
    verb = "is" if len(groups[0]) == 1 else "are"
    pool = [f"{plain} {bg}"]
    forms: list[Callable[[], str | None]] = [
        lambda: f"there {verb} {_join([_noun_phrase(g, rng) for g in groups])} {bg}",
        lambda: f"{_join([_noun_phrase(g, rng, position=True) for g in groups])} {bg}",
        lambda: _relation_caption(scene, rng, bg),
        lambda: f"{_join([_noun_phrase(g, rng, size=True) for g in groups])} {bg}",
        lambda: f"{rng.choice(_PICTURE_PREFIXES)} {_join([_noun_phrase(g, rng) for g in groups])}",
    ]
    pool += [c for form in forms if (c := form()) is not None]
    n = len(scene.objects)
    pool += [f"{prefix} {plain} {bg}" for prefix in _PICTURE_PREFIXES]
    pool.append(f"{NUMBER_WORDS[n]} {'object' if n == 1 else 'objects'} {bg}")
    return pool


def _relation_caption(scene: Scene, rng: np.random.Generator, bg: str) -> str | None:
    """ "a guitar to the left of a dog on the grass", from two singletons of different classes."""
    singles = [g[0] for g in _groups(scene) if len(g) == 1]
    if len(singles) < 2:
        return None
    i, j = rng.choice(len(singles), 2, replace=False)
    a, b = singles[i], singles[j]
    relation = str(rng.choice([r for r in RELATIONS if relation_holds(a, r, b)]))
    return f"{_noun_phrase([a], rng)} {relation} {_noun_phrase([b], rng)} {bg}"


def captions(scene: Scene) -> list[str]:
    """``N_CAPTIONS`` different true references for ``scene``, deterministic from its seed.

    The first is the canonical one (every object, canonical nouns, reading order).
    """
    rng = rng_for(scene.seed, "captions")
    unique = list(dict.fromkeys(_caption_pool(scene, rng)))
    if len(unique) < N_CAPTIONS:  # cannot happen: the pool's last four forms always differ
        raise RuntimeError(f"scene {scene.seed}: only {len(unique)} distinct captions")
    return unique[:N_CAPTIONS]


_COUNT_CAPTION = re.compile(r"^(?:one|two|three|four) objects? ")


def usable_captions(scene: Scene) -> list[str]:
    """The scene's references that name its objects (the "one object on ..." form does not):
    what a text-to-image model can be asked to draw."""
    return [c for c in captions(scene) if not _COUNT_CAPTION.match(c)]


# --- questions ------------------------------------------------------------------------------


_PRESENCE_TEXT = {c.name: f"is there {article(c.name)} {c.name}" for c in CLASSES}
_COUNT_TEXT = {c.name: f"how many {c.plural} are there" for c in CLASSES}


Asked = tuple[str, tuple[tuple[int, ...], ...]]
"""A question's text and what it is about (``Question.about``)."""


def _candidates(scene: Scene, qtype: str) -> dict[str, list[Asked]]:
    """Every question of one type this grammar can ask about ``scene``, grouped by answer
    (answer -> (text, about) pairs; no empty groups)."""
    counts = Counter(o.name for o in scene.objects)
    index = {id(o): i for i, o in enumerate(scene.objects)}
    unique = [o for o in scene.objects if counts[o.name] == 1]  # "the dog" names one object
    out: dict[str, list[Asked]] = {}

    def add(answer: str, text: str, *looks: list[SceneObject]) -> None:
        about = tuple(tuple(index[id(o)] for o in look) for look in looks)
        out.setdefault(answer, []).append((text, about))

    def of_class(name: str) -> list[SceneObject]:
        return [o for o in scene.objects if o.name == name]

    if qtype == "presence":
        for name in counts:
            add("yes", _PRESENCE_TEXT[name], of_class(name))
        for name in CLASS_NAMES:
            if name not in counts:
                add("no", _PRESENCE_TEXT[name])
    elif qtype == "count":
        for name in CLASS_NAMES:
            if name not in counts:
                add("zero", _COUNT_TEXT[name])
        for name, n in counts.items():
            if n <= MAX_COUNT:
                add(NUMBERS[n], _COUNT_TEXT[name], of_class(name))
    elif qtype == "position":
        for o in unique:
            add(o.position, f"where is the {o.name}", [o])
    elif qtype == "relation":
        for a in unique:
            for b in unique:
                if a is not b:
                    for r in RELATIONS:
                        add(
                            "yes" if relation_holds(a, r, b) else "no",
                            f"is the {a.name} {r} the {b.name}",
                            [a],
                            [b],
                        )
    elif qtype == "identity":
        for o in scene.objects:
            add(o.name, f"what is {POSITION_PHRASES[o.position]}", [o])
        for b in unique:
            for r in RELATIONS:
                matches = [o for o in scene.objects if o is not b and relation_holds(o, r, b)]
                if len({o.name for o in matches}) == 1:
                    add(matches[0].name, f"what is {r} the {b.name}", [b], matches)
    elif qtype == "category":
        for category, text in CATEGORY_QUESTIONS.items():
            names = [name for name in counts if get_class(name).category == category]
            if len(names) == 1:
                add(names[0], text, of_class(names[0]))
    elif qtype == "background":
        add(scene.background.word, "what is the background")
    else:
        raise ValueError(f"unknown question type {qtype!r}; known: {QUESTION_TYPES}")
    return {answer: asked for answer, asked in out.items() if asked}


def questions(
    scene: Scene, types: tuple[str, ...] = QUESTION_TYPES, draw: int = 0
) -> list[Question]:
    """One question per type that ``scene`` allows, deterministic from its seed and ``draw``.

    ``draw`` 0 is the world's own question set (evaluation uses it); other draws are independent
    samples of the same distribution, so training can ask a scene more questions of one type.

    Balance: within a type the answer is drawn from the answers the scene allows (weighted by
    ``ANSWER_WEIGHTS``, else uniformly), then a question with that answer; so "no" is as
    likely as "yes", and the question text alone says little about the answer.
    """
    rng = rng_for(scene.seed, "questions" if draw == 0 else f"questions/{draw}")
    out: list[Question] = []
    for qtype in types:
        by_answer = _candidates(scene, qtype)
        if not by_answer:
            continue
        answers = sorted(by_answer)
        weights = np.cumsum([ANSWER_WEIGHTS.get(a, 1.0) for a in answers])
        answer = answers[int(np.searchsorted(weights, rng.random() * weights[-1], side="right"))]
        asked = by_answer[answer]
        text, about = asked[int(rng.integers(len(asked)))]
        out.append(Question(text, answer, qtype, about))
    return out


def world_sentences(n_scenes: int) -> list[str]:
    """The world's words as sentences, for the word vectors (``train/words.py``) and the count
    baseline that must read the same text (``evaluate/words.py``): each class's nouns (name,
    plural, synonyms) on one line, repeated so that even rare synonyms pass a minimum count, the
    colour, texture and number words, then the captions of the first ``n_scenes`` training
    scenes."""
    from multimodal_core.world.splits import scene_in_split  # splits reads the scenes module

    nouns = [" ".join([c.name, c.plural, *c.synonyms]) for c in CLASSES]
    words = [" ".join([*BACKGROUND_WORDS, *NUMBER_WORDS])]
    scenes = (scene_in_split("train", index, size=64) for index in range(n_scenes))
    return [*nouns * 10, *words * 10, *(c for scene in scenes for c in captions(scene))]
