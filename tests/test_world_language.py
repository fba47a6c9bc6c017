"""Every caption and every answer is true of its scene, checked against the annotations by an
independent reading of the grammar (geometry recomputed from the boxes, not from the
grammar's own helpers), and answers are balanced per question type."""

from __future__ import annotations

import itertools
import re
from collections import Counter

import pytest

from multimodal_core.world import language
from multimodal_core.world.backgrounds import COLOURS
from multimodal_core.world.catalogue import CLASS_NAMES, CLASSES, get_class
from multimodal_core.world.scenes import Scene, SceneObject, scene

N_SCENES = 300

# Noun -> class, for canonical names, plurals and synonyms (the grammar's words, read back).
SINGULAR = {c.name: c.name for c in CLASSES} | {s: c.name for c in CLASSES for s in c.synonyms}
PLURAL = {c.plural: c.name for c in CLASSES}
NUMBER_WORDS = {
    w: i for i, w in enumerate(("zero", "one", "two", "three", "four", "five", "six", "seven"))
}
POSITION_PHRASES = {
    "in the top left": (0, 0),
    "at the top": (0, 1),
    "in the top right": (0, 2),
    "on the left": (1, 0),
    "in the center": (1, 1),
    "on the right": (1, 2),
    "in the bottom left": (2, 0),
    "at the bottom": (2, 1),
    "in the bottom right": (2, 2),
}
POSITION_WORDS = dict(zip(language.POSITION_PHRASES, POSITION_PHRASES.values(), strict=True))


def cell(o: SceneObject, size: int) -> tuple[int, int]:
    """(row, column) of the box centre on a 3 x 3 grid, from the box alone."""
    x0, y0, x1, y1 = o.box
    return min(2, int((y0 + y1) / 2 * 3 / size)), min(2, int((x0 + x1) / 2 * 3 / size))


def holds(a: SceneObject, relation: str, b: SceneObject, size: int) -> bool:
    (ra, ca), (rb, cb) = cell(a, size), cell(b, size)
    return {
        "to the left of": ca < cb,
        "to the right of": ca > cb,
        "above": ra < rb,
        "below": ra > rb,
    }[relation]


def background_phrases(s: Scene) -> list[str]:
    word = s.background.word
    if word in COLOURS:
        return [f"on {'an' if word[0] in 'aeiou' else 'a'} {word} background"]
    return {
        "grass": ["on the grass", "on grass"],
        "brick": ["in front of a brick wall"],
        "gravel": ["on the gravel", "on gravel"],
    }[word]


def check_article(words: list[str]) -> None:
    for article, nxt in itertools.pairwise(words):
        if article in ("a", "an"):
            assert (article == "an") == (nxt[0] in "aeiou"), " ".join(words)


def check_noun_phrase(s: Scene, phrase: str) -> list[SceneObject]:
    """Check one noun phrase ("a large dog in the top left", "two cats") against the scene and
    return the objects it denotes."""
    position = None
    for p in POSITION_PHRASES:
        if phrase.endswith(" " + p):
            position, phrase = POSITION_PHRASES[p], phrase[: -len(p) - 1]
            break
    words = phrase.split()
    determiner, rest = words[0], words[1:]
    size_word = rest[0] if rest[0] in ("small", "large") and len(rest) > 1 else None
    noun = " ".join(rest[1:] if size_word else rest)
    if determiner in ("a", "an"):
        name, count = SINGULAR[noun], 1
    else:
        name, count = PLURAL[noun], NUMBER_WORDS[determiner]
    objects = [o for o in s.objects if o.name == name]
    assert len(objects) == count, f"{phrase!r}: scene has {len(objects)} {name}"
    if size_word:
        assert all(o.size == size_word for o in objects), phrase
    if position:
        assert count == 1 and cell(objects[0], s.size) == position, phrase
    return objects


def check_caption(s: Scene, caption: str) -> None:
    assert caption == caption.strip().lower() and "  " not in caption
    assert re.fullmatch(r"[a-z ]+", caption), caption
    words = caption.split()
    check_article(words)
    body = caption
    for prefix in ("there is ", "there are ", "a picture of ", "an image of ", "a drawing of "):
        if body.startswith(prefix):
            body = body[len(prefix) :]
            break
    for bg in background_phrases(s):
        if body.endswith(" " + bg):
            body = body[: -len(bg) - 1]
            break
    else:
        assert caption.startswith(("a picture of", "an image of", "a drawing of")), caption
    m = re.fullmatch(r"(\w+) objects?", body)
    if m:
        assert NUMBER_WORDS[m[1]] == len(s.objects), caption
        return
    for relation in language.RELATIONS:
        if f" {relation} " in body:
            left, right = body.split(f" {relation} ")
            (a,), (b,) = check_noun_phrase(s, left), check_noun_phrase(s, right)
            assert holds(a, relation, b, s.size), caption
            return
    numbers = "|".join(NUMBER_WORDS)
    parts = re.split(rf" and (?=an? |(?:{numbers}) )", body)
    mentioned = [check_noun_phrase(s, p) for p in parts]
    # A list names every object of the scene, each class once.
    assert sorted(o.name for group in mentioned for o in group) == sorted(
        o.name for o in s.objects
    ), caption
    if caption.startswith("there is "):
        assert len(mentioned[0]) == 1
    if caption.startswith("there are "):
        assert len(mentioned[0]) > 1


def check_question(s: Scene, q: language.Question) -> None:
    assert re.fullmatch(r"[a-z ]+", q.text), q.text
    check_article(q.text.split())
    assert q.answer in language.ANSWERS and q.type in language.QUESTION_TYPES
    names = [o.name for o in s.objects]
    unique = {o.name: o for o in s.objects if names.count(o.name) == 1}
    text = q.text
    if m := re.fullmatch(r"is there an? (.+)", text):
        expected = "yes" if SINGULAR[m[1]] in names else "no"
    elif m := re.fullmatch(r"how many (.+) are there", text):
        expected = ["zero", "one", "two", "three", "four"][names.count(PLURAL[m[1]])]
    elif m := re.fullmatch(r"where is the (.+)", text):
        o = unique[m[1]]
        expected = next(w for w, rc in POSITION_WORDS.items() if rc == cell(o, s.size))
    elif m := re.fullmatch(
        r"is the (.+?) (to the left of|to the right of|above|below) the (.+)", text
    ):
        expected = "yes" if holds(unique[m[1]], m[2], unique[m[3]], s.size) else "no"
    elif m := re.fullmatch(r"what is (to the left of|to the right of|above|below) the (.+)", text):
        b = unique[m[2]]
        matches = {o.name for o in s.objects if o is not b and holds(o, m[1], b, s.size)}
        assert len(matches) == 1, text
        expected = matches.pop()
    elif m := re.fullmatch(r"what is ((?:in|at|on) the .+)", text):
        at = [o for o in s.objects if cell(o, s.size) == POSITION_PHRASES[m[1]]]
        assert len(at) == 1
        expected = at[0].name
    elif m := re.fullmatch(r"which (\w+) is there", text):
        present = {n for n in names if get_class(n).category == m[1]}
        assert len(present) == 1, text
        expected = present.pop()
    elif text == "what is the background":
        expected = s.background.word
    else:
        pytest.fail(f"question outside the grammar: {text!r}")
    assert q.answer == expected, f"{text!r}: answer {q.answer!r}, annotations say {expected!r}"


@pytest.fixture(scope="module")
def scenes() -> list[Scene]:
    """A mix of default scenes and the repeated-class scenes VQA uses."""
    return [scene(seed, 96) for seed in range(N_SCENES)] + [
        scene(seed, 96, repeat_probability=0.5) for seed in range(N_SCENES, 2 * N_SCENES)
    ]


def test_every_caption_is_true(scenes: list[Scene]) -> None:
    for s in scenes:
        caps = language.captions(s)
        assert len(caps) == language.N_CAPTIONS >= 5
        assert len(set(caps)) == len(caps)
        for c in caps:
            check_caption(s, c)


def test_every_answer_is_true(scenes: list[Scene]) -> None:
    for s in scenes:
        for q in language.questions(s):
            check_question(s, q)


def test_questions_say_which_objects_answer_them(scenes: list[Scene]) -> None:
    """``about`` names, in order, the objects a reader looks at: both nouns of a relation, the
    reference then the answer of "what is above the cat", every object a count counts."""
    seen = Counter()
    for s in scenes:
        for q in language.questions(s) + language.questions(s, ("relation", "identity"), 1):
            looks = [[s.objects[i] for i in look] for look in q.about]
            words = q.text.split()
            seen[q.type, len(looks)] += 1
            if q.type == "relation":
                (a,), (b,) = looks
                relation = next(r for r in language.RELATIONS if f" {r} " in q.text)
                assert q.text == f"is the {a.name} {relation} the {b.name}"
                assert language.relation_holds(a, relation, b) == (q.answer == "yes")
            elif q.type == "count":
                counted = [
                    i for i, o in enumerate(s.objects) if get_class(o.name).plural == words[2]
                ]
                assert q.about == ((tuple(counted),) if counted else ())
            elif q.type == "identity" and len(looks) == 2:
                (reference,), answers = looks
                assert q.text.endswith(f" the {reference.name}")
                assert {o.name for o in answers} == {q.answer}
            elif q.type == "position":
                ((o,),) = looks
                assert q.text == f"where is the {o.name}" and o.position == q.answer
            elif q.type in ("identity", "category"):
                ((o, *more),) = looks
                assert {o.name for o in (o, *more)} == {q.answer}
            elif q.type == "presence":
                assert bool(looks) == (q.answer == "yes")
            else:
                assert looks == []
    assert seen["relation", 2] and seen["identity", 2] and seen["identity", 1]


def test_center_layout_and_crowded_scenes_are_described_truly() -> None:
    for seed in range(40):
        s = scene(seed, 64, layout="center", n_objects=(1, 1))
        for c in language.captions(s):
            check_caption(s, c)
        crowded = scene(seed, 96, classes=CLASS_NAMES[:30], n_objects=(4, 6), distractors=(0, 3),
                        repeat_probability=0.7)  # fmt: skip
        for c in language.captions(crowded):
            check_caption(crowded, c)
        for q in language.questions(crowded):
            check_question(crowded, q)


def test_other_draws_are_true_and_differ_from_the_worlds_own(scenes: list[Scene]) -> None:
    differing = 0
    for s in scenes:
        extra = language.questions(s, ("relation", "count"), draw=1)
        assert {q.type for q in extra} <= {"relation", "count"}
        for q in extra:
            check_question(s, q)
        own = [q for q in language.questions(s) if q.type in ("relation", "count")]
        differing += own != extra
    assert language.questions(scenes[0], draw=0) == language.questions(scenes[0])
    assert differing > len(scenes) // 4  # an independent sample, not the same questions again


def test_captions_and_questions_are_deterministic() -> None:
    a, b = scene(7), scene(7)
    assert language.captions(a) == language.captions(b)
    assert language.questions(a) == language.questions(b)


def test_answer_vocabulary_is_fixed_and_unique() -> None:
    assert len(set(language.ANSWERS)) == len(language.ANSWERS)
    assert set(CLASS_NAMES) <= set(language.ANSWERS)


def test_answers_are_balanced_per_type(scenes: list[Scene]) -> None:
    """No type can be answered from the question alone by always giving its commonest answer:
    over VQA-like scenes the commonest answer's share is at most 0.6 for the yes/no types
    (presence, relation; 0.5 is perfect balance), at most 0.45 for count (five answers, of
    which "four" is rare), and at most 0.25 for the types with nine or more answers
    (position, identity, category, background)."""
    bound = {"presence": 0.6, "relation": 0.6, "count": 0.45}
    counts: dict[str, Counter[str]] = {t: Counter() for t in language.QUESTION_TYPES}
    for s in scenes[N_SCENES:]:
        for q in language.questions(s):
            counts[q.type][q.answer] += 1
    for qtype, answers in counts.items():
        total = sum(answers.values())
        assert total >= 60, f"{qtype}: only {total} questions"
        top, n = answers.most_common(1)[0]
        assert n / total <= bound.get(qtype, 0.25), f"{qtype}: {top!r} is {n / total:.2f}"
