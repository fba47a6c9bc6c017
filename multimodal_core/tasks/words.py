"""Word vectors: nearest words, analogies ("king - man + woman"), similarity, a 2-D map, and what
the skip-gram predicts for a sentence.

Models, by choice key: ``builtin`` (hub ``words``: skip-gram vectors trained here on a
dictionary and WordNet, ``checkpoints/words``) and ``minilm`` (the shared MiniLM sentence
encoder, pretrained elsewhere and shipped with a pip package, embedding each word alone; it
searches the built-in vocabulary's most frequent words). Both work offline.
"""

from __future__ import annotations

import difflib
import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from multimodal_core import hub, viz
from multimodal_core.backends import shared
from multimodal_core.choices import ModelChoice, ModelChoices
from multimodal_core.errors import InputError, ModelUnavailableError
from multimodal_core.models import word_vectors
from multimodal_core.models.word_vectors import Vocabulary, WordVectors, tokenize
from multimodal_core.settings import get_settings
from multimodal_core.sound_pictures import figure_to_array

BUILTIN = "words"
CHOICES = ModelChoices(
    (
        ModelChoice(
            "builtin", "Built-in: skip-gram word vectors (trained here, offline)", (BUILTIN,)
        ),
        ModelChoice(
            "minilm",
            "MiniLM sentence encoder, one word at a time (pretrained, shipped, offline)",
            (shared.SENTENCE_ENCODER.name,),
        ),
    ),
    presets={"builtin": "builtin", "pretrained": "minilm"},
)
CHECKPOINT = "words"
TOP_K = 10
MINILM_WORDS = 10_000  # the built-in vocabulary's most frequent words that MiniLM searches
MAX_TERMS = 12  # words in one expression
MAX_MAP_WORDS = 30
MAX_SENTENCE_WORDS = 24
WINDOW = word_vectors.WordVectorsConfig().window  # the skip-gram's window, for its picture
EXAMPLES: tuple[str, ...] = (
    "king - man + woman",
    "dog",
    "paris - france + italy",
    "walking - walk + swim",
    "piano",
    "brother - man + woman",
)


class BuiltinWords(hub.ModelWrapper):
    """The shipped skip-gram vectors and their vocabulary."""

    def __init__(self, model: WordVectors, vocabulary: Vocabulary) -> None:
        self.model = model
        self.vocabulary = vocabulary
        self.index = {w: i for i, w in enumerate(vocabulary.words)}

    @property
    def words(self) -> tuple[str, ...]:
        return self.vocabulary.words

    def vectors(self, words: list[str]) -> torch.Tensor:
        """(n, d) unit vectors of known words."""
        rows = torch.tensor([self.index[w] for w in words])
        return F.normalize(self.model.vectors[rows].float(), dim=-1)

    def similarities(self, queries: torch.Tensor) -> torch.Tensor:
        """(n, V) cosine similarities of (n, d) queries to every word."""
        return self.model(queries.to(self.model.vectors.device)).cpu()


def _load_builtin() -> BuiltinWords:
    folder = get_settings().checkpoints_dir / CHECKPOINT
    if not (folder / "model.safetensors").is_file():
        raise ModelUnavailableError(
            "The built-in skip-gram word vectors are missing (checkpoints/words); retrain them "
            "with python -m multimodal_core.train.words, or choose another model."
        )
    return BuiltinWords(*word_vectors.load(folder))


SPEC = hub.ModelSpec(BUILTIN, "words", _load_builtin, 9.8, "built-in skip-gram word vectors")
hub.register(SPEC)
shared.register()


class Space(Protocol):
    """What the tab asks of a model: unit vectors of words, and scores against its words."""

    words: tuple[str, ...] | list[str]

    def knows(self, word: str) -> bool: ...

    def vectors(self, words: list[str]) -> torch.Tensor: ...

    def similarities(self, queries: torch.Tensor) -> torch.Tensor: ...


class BuiltinSpace:
    def __init__(self, model: BuiltinWords) -> None:
        self.model = model
        self.words = model.words

    def knows(self, word: str) -> bool:
        return word in self.model.index

    def vectors(self, words: list[str]) -> torch.Tensor:
        return self.model.vectors(words)

    def similarities(self, queries: torch.Tensor) -> torch.Tensor:
        return self.model.similarities(queries)


class EncoderSpace:
    """MiniLM's vector of each word typed alone; it searches the ``MINILM_WORDS`` most frequent
    words of the built-in vocabulary (embedded once, on first use)."""

    def __init__(self, encoder: Any, words: list[str]) -> None:
        self.encoder = encoder
        self.words = words
        self.matrix = torch.cat([encoder.encode(words[i : i + 512]) for i in
                                 range(0, len(words), 512)])  # fmt: skip

    def knows(self, word: str) -> bool:
        return True  # its tokenizer splits any word into pieces it knows

    def vectors(self, words: list[str]) -> torch.Tensor:
        return self.encoder.encode(words)

    def similarities(self, queries: torch.Tensor) -> torch.Tensor:
        return F.normalize(queries, dim=-1) @ self.matrix.T


_ENCODER_SPACES: dict[tuple[int, str], EncoderSpace] = {}
"""MiniLM's matrix of the vocabulary's words, per (encoder, checkpoints folder)."""
_ENCODER_LOCK = threading.Lock()


def _vocabulary_words(n: int) -> list[str]:
    try:
        return list(Vocabulary.from_pretrained(get_settings().checkpoints_dir / CHECKPOINT).words)[
            :n
        ]
    except (OSError, ValueError):
        raise ModelUnavailableError(
            "The word list that MiniLM searches comes with the built-in skip-gram word vectors "
            "(checkpoints/words/vocabulary.txt), which is missing or damaged."
        ) from None


def _space(choice: str) -> Space:
    """The model of a choice key, as a :class:`Space` (call inside ``hub.gpu``)."""
    name = CHOICES.get(choice).models[0]
    model = hub.get(name)
    if name == BUILTIN:
        return BuiltinSpace(model)
    key = (id(model), str(get_settings().checkpoints_dir))
    with _ENCODER_LOCK:
        if key not in _ENCODER_SPACES:
            _ENCODER_SPACES.clear()  # a reloaded encoder or new settings replace the old matrix
            _ENCODER_SPACES[key] = EncoderSpace(model, _vocabulary_words(MINILM_WORDS))
        return _ENCODER_SPACES[key]


# ----- what people type ------------------------------------------------------------------------


_TERM = re.compile(r"\s*([+-]?)\s*([^\s+-]+)")
_ALLOWED = re.compile(r"[A-Za-z'\s+-]*")


def parse_expression(text: str | None) -> list[tuple[int, str]]:
    """ "king - man + woman" -> [(1, "king"), (-1, "man"), (1, "woman")]; a word without a sign
    is added. InputError (one sentence) for an empty, over-long or malformed expression."""
    text = (text or "").strip()
    limit = get_settings().max_text_chars
    if len(text) > limit:
        raise InputError(
            f"The query is {len(text):,} characters long; please keep it under {limit}."
        )
    if not text:
        raise InputError("Please type a word, or an analogy such as “king - man + woman”.")
    if not _ALLOWED.fullmatch(text):
        raise InputError(
            "Please use English words joined by + and -, for example “king - man + woman”."
        )
    terms = [(-1 if sign == "-" else 1, term.lower()) for sign, term in _TERM.findall(text)]
    terms = [(sign, w) for sign, term in terms for w in tokenize(term)]
    if not terms:
        raise InputError("Please type a word, or an analogy such as “king - man + woman”.")
    if len(terms) > MAX_TERMS:
        raise InputError(f"Please use at most {MAX_TERMS} words in one expression.")
    return terms


def closest_spellings(word: str, words: tuple[str, ...] | list[str], n: int = 3) -> list[str]:
    return difflib.get_close_matches(word, words, n=n, cutoff=0.7)


def unknown_sentence(unknown: list[str], space: Space) -> str:
    """One sentence naming the unknown words and the closest known spellings."""
    parts = []
    for word in unknown:
        near = closest_spellings(word, space.words)
        parts.append(f"“{word}”" + (f" (did you mean {', '.join(near)}?)" if near else ""))
    n = len(space.words)
    return f"Not among the {n:,} words these vectors know: {'; '.join(parts)}."


# ----- results ---------------------------------------------------------------------------------


@dataclass
class WordsResult:
    """The answers to a word or an expression, and the map of the words around it."""

    query: str
    kind: str  # "neighbours" of one word, or an "expression" such as an analogy
    terms: list[tuple[int, str]]
    answers: list[tuple[str, float]]
    model: str
    map_words: list[str] = field(default_factory=list)
    map_xy: list[tuple[float, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    map_picture: np.ndarray | None = None

    def to_dict(self) -> dict:
        """JSON-ready: no picture."""
        values = asdict(self)
        values.pop("map_picture")
        values["answers"] = [{"word": w, "cosine": round(s, 4)} for w, s in self.answers]
        values["terms"] = [{"sign": "+" if s > 0 else "-", "word": w} for s, w in self.terms]
        values["map"] = [
            {"word": w, "x": round(x, 4), "y": round(y, 4)}
            for w, (x, y) in zip(values.pop("map_words"), values.pop("map_xy"), strict=True)
        ]
        return values


def _analogy_lines(terms: list[tuple[int, str]], answer: str | None) -> list[tuple[str, str]]:
    """For "a - b + c" -> d: the arrows b -> a and c -> d that should be parallel."""
    signs = [s for s, _ in terms]
    if answer is None or signs != [1, -1, 1]:
        return []
    (_, a), (_, b), (_, c) = terms
    return [(b, a), (c, answer)]


def map_picture(
    words: list[str], xy: np.ndarray, lines: list[tuple[str, str]], title: str
) -> np.ndarray:
    """The words at their 2-D places, with the analogy's arrows."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.8), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    figure.subplots_adjust(left=0.04, right=0.96, bottom=0.04, top=0.92)
    place = {w: p for w, p in zip(words, xy, strict=True)}
    for (start, end), colour in zip(lines, ("#1f5fa8", "#c0392b"), strict=False):
        if start in place and end in place:
            axes.annotate(
                "",
                place[end],
                place[start],
                arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.6},
            )
    axes.scatter(xy[:, 0], xy[:, 1], s=18, color="#333333")
    for word, (x, y) in zip(words, xy, strict=True):
        axes.annotate(word, (x, y), xytext=(4, 4), textcoords="offset points", fontsize=10)
    axes.set_xlim(-1.25, 1.25)
    axes.set_ylim(-1.2, 1.2)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title(title, fontsize=10)
    return figure_to_array(figure)


def _known(space: Space, words: list[str]) -> tuple[list[str], list[str]]:
    known = [w for w in dict.fromkeys(words) if space.knows(w)]
    return known, [w for w in dict.fromkeys(words) if not space.knows(w)]


def _query_text(terms: list[tuple[int, str]]) -> str:
    return " ".join(("- " if s < 0 else "+ ") + w for s, w in terms).removeprefix("+ ")


@hub.gpu
def _explore(
    terms: list[tuple[int, str]], choice: str, map_words: list[str], picture: bool
) -> WordsResult:
    """3CosAdd: the words nearest to the signed sum of the terms' unit vectors, the terms
    themselves excluded; then the map of the named words (or of the query and its answers)."""
    space = _space(choice)
    words = [w for _, w in terms]
    _, unknown = _known(space, words)
    if unknown:
        raise InputError(unknown_sentence(unknown, space))
    signs = torch.tensor([float(s) for s, _ in terms])[:, None]
    scores = space.similarities((signs * space.vectors(words)).sum(0, keepdim=True))[0]
    order = torch.argsort(scores, descending=True)[: TOP_K + len(words)].tolist()
    answers = [(space.words[i], float(scores[i])) for i in order if space.words[i] not in words]
    answers = answers[:TOP_K]
    kind = "neighbours" if len(terms) == 1 and terms[0][0] > 0 else "expression"
    result = WordsResult(_query_text(terms), kind, terms, answers, choice)
    shown_answers = [w for w, _ in answers[: 8 if kind == "neighbours" else 1]]
    shown, left_out = _known(space, map_words or [*words, *shown_answers])
    if left_out:
        result.notes.append(unknown_sentence(left_out, space) + " They are left off the map.")
    if len(shown) >= 2:
        xy = viz.pca_2d(space.vectors(shown).numpy())
        result.map_words, result.map_xy = shown, [(float(x), float(y)) for x, y in xy]
        if picture:
            lines = _analogy_lines(terms, answers[0][0] if answers else None)
            title = f"{len(shown)} words: their first two principal components"
            result.map_picture = map_picture(shown, xy, lines, title)
    elif map_words:
        result.notes.append("The map needs at least two known words.")
    return result


def parse_words(text: str | None, limit: int, what: str) -> list[str]:
    """The words of a list such as "king, queen, man, woman"; InputError beyond ``limit``."""
    text = (text or "").strip()
    if len(text) > get_settings().max_text_chars:
        raise InputError(f"The {what} is too long; please keep it under "
                         f"{get_settings().max_text_chars} characters.")  # fmt: skip
    words = list(dict.fromkeys(tokenize(text)))
    if len(words) > limit:
        raise InputError(f"Please name at most {limit} words for the {what}, not {len(words)}.")
    return words


def explore(
    query: str | None, model: str = "builtin", map_words: str | None = "", picture: bool = True
) -> WordsResult:
    """The nearest words to a word, or the answers to an expression such as "king - man +
    woman", and a 2-D map; InputError (one sentence) for bad input or an unknown word."""
    terms = parse_expression(query)
    words = parse_words(map_words, MAX_MAP_WORDS, "map")
    CHOICES.get(model)
    return _explore(terms, model, words, picture)


@dataclass
class Similarity:
    first: str
    second: str
    cosine: float
    model: str

    def to_dict(self) -> dict:
        return {**asdict(self), "cosine": round(self.cosine, 4)}


@hub.gpu
def _similarity(first: str, second: str, choice: str) -> Similarity:
    space = _space(choice)
    _, unknown = _known(space, [first, second])
    if unknown:
        raise InputError(unknown_sentence(unknown, space))
    a, b = space.vectors([first, second])
    return Similarity(first, second, float(a @ b), choice)


def similarity(first: str | None, second: str | None, model: str = "builtin") -> Similarity:
    """The cosine similarity of two words' vectors."""
    words = [tokenize(text or "") for text in (first, second)]
    if any(len(w) != 1 for w in words):
        raise InputError("Please type one English word in each box, for example “cup” and “mug”.")
    CHOICES.get(model)
    return _similarity(words[0][0], words[1][0], model)


# ----- what the skip-gram predicts -------------------------------------------------------------


@dataclass
class ContextPairs:
    """The (centre, context) pairs a skip-gram learns from one sentence."""

    words: list[str]
    window: int
    pairs: list[tuple[str, str]]
    picture: np.ndarray | None = None

    def to_dict(self) -> dict:
        return {"words": self.words, "window": self.window,
                "pairs": [list(p) for p in self.pairs]}  # fmt: skip


def context_pairs(sentence: str | None, window: int = WINDOW, picture: bool = True) -> ContextPairs:
    """Every (centre word, context word) pair at most ``window`` words apart: for each, the
    skip-gram raises the score of the context word's output vector (a column of W') against the
    centre word's input vector (a row of W), and lowers it for a few random words."""
    words = tokenize(sentence or "")
    if not words:
        raise InputError("Please type a sentence in English, for example “the cat sat on the mat”.")
    if len(words) > MAX_SENTENCE_WORDS:
        raise InputError(f"Please type at most {MAX_SENTENCE_WORDS} words, not {len(words)}.")
    pairs = [
        (centre, words[j])
        for i, centre in enumerate(words)
        for j in range(max(0, i - window), min(len(words), i + window + 1))
        if j != i
    ]
    result = ContextPairs(words, window, pairs)
    if picture:
        result.picture = pairs_picture(words, window)
    return result


def pairs_picture(words: list[str], window: int) -> np.ndarray:
    """A grid: row = centre word (its vector in W), column = a word it must predict (W')."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    n = len(words)
    grid = np.zeros((n, n))
    for i in range(n):
        grid[i, max(0, i - window) : i + window + 1] = 1.0
        grid[i, i] = 0.5
    side = min(7.2, 2.2 + 0.28 * n)
    figure = Figure(figsize=(side, side), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    figure.subplots_adjust(left=0.22, right=0.97, bottom=0.03, top=0.78)
    axes.imshow(grid, cmap=ListedColormap(["#ffffff", "#f2c14e", "#1f5fa8"]), vmin=0, vmax=1)
    axes.set_xticks(range(n), words, rotation=90, fontsize=9)
    axes.set_yticks(range(n), words, fontsize=9)
    axes.xaxis.tick_top()
    axes.set_ylabel("centre word: its row of W (input)")
    axes.set_title(f"context words to predict (W', output), window {window}: "
                   f"{int(grid.sum() - 0.5 * n)} pairs", fontsize=9, pad=60)  # fmt: skip
    axes.set_xticks(np.arange(-0.5, n), minor=True)
    axes.set_yticks(np.arange(-0.5, n), minor=True)
    axes.grid(which="minor", color="#dddddd", linewidth=0.5)
    axes.tick_params(which="minor", length=0)
    return figure_to_array(figure)


def examples() -> list[str]:
    return list(EXAMPLES)
