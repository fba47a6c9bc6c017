"""Word vectors (skip-gram's input matrix W), their vocabulary, and the corpus they are read from.

A checkpoint is ``config.json`` + ``model.safetensors`` (the (V, d) matrix, float16) +
``vocabulary.txt`` (one ``word<TAB>count`` line per row, most frequent first), so the app needs
neither gensim nor its pickle format. The forward pass scores query vectors against every word
by cosine similarity, so nearest words and analogies are one matrix product.

The corpus readers live here too because training (skip-gram) and evaluation (the count
baseline) must read the same words, split by the same :func:`tokenize` that the tab applies to
what people type.
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from multimodal_core.models.checkpoint import ConfigMixin, PretrainedModel, resolve_file

VOCABULARY_NAME = "vocabulary.txt"
_TOKEN = re.compile(r"[a-z]+")
_POSSESSIVE = re.compile(r"'s\b")


def tokenize(text: str) -> list[str]:
    """Lower-case runs of letters: "The King's horses" -> ["the", "king", "horses"]. Digits and
    punctuation are dropped; the benchmarks hold letters only."""
    return _TOKEN.findall(_POSSESSIVE.sub("", text.lower()))


@dataclass
class WordVectorsConfig(ConfigMixin):
    """The matrix's shape and how it was trained (recorded, not used at run time)."""

    vocab_size: int = 20_000
    dim: int = 128
    window: int = 5  # the skip-gram's context window: up to this many words on each side
    negative: int = 5  # negative samples per (centre, context) pair

    def __post_init__(self) -> None:
        if self.vocab_size < 1 or self.dim < 1 or self.window < 1:
            raise ValueError(f"vocab_size, dim and window must be positive: {self}")


class WordVectors(PretrainedModel):
    """The (V, d) input vectors; ``forward`` gives cosine similarities of queries to each word."""

    config_class = WordVectorsConfig

    def __init__(self, config: WordVectorsConfig) -> None:
        super().__init__()
        self.config = config
        self.vectors = nn.Parameter(torch.zeros(config.vocab_size, config.dim), requires_grad=False)

    def forward(self, queries: torch.Tensor) -> torch.Tensor:
        """(n, d) query vectors -> (n, V) cosine similarities to every word."""
        unit = F.normalize(self.vectors.float(), dim=-1)
        return F.normalize(queries.float(), dim=-1) @ unit.T


@dataclass(frozen=True)
class Vocabulary:
    """The words of the matrix's rows, most frequent first, with their corpus counts."""

    words: tuple[str, ...]
    counts: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.words) != len(self.counts) or len(set(self.words)) != len(self.words):
            raise ValueError("a vocabulary needs one count per word and no word twice")

    def save(self, directory: str | os.PathLike) -> None:
        lines = [f"{w}\t{c}\n" for w, c in zip(self.words, self.counts, strict=True)]
        (Path(directory) / VOCABULARY_NAME).write_text("".join(lines), encoding="utf-8")

    @classmethod
    def from_pretrained(cls, path_or_repo: str | os.PathLike) -> Vocabulary:
        text = Path(resolve_file(path_or_repo, VOCABULARY_NAME)).read_text(encoding="utf-8")
        rows = [line.split("\t") for line in text.splitlines()]
        if any(len(row) != 2 for row in rows):
            raise ValueError(f"{VOCABULARY_NAME} needs one 'word<TAB>count' per line")
        return cls(tuple(w for w, _ in rows), tuple(int(c) for _, c in rows))


def load(path_or_repo: str | os.PathLike) -> tuple[WordVectors, Vocabulary]:
    """A checkpoint's vectors and vocabulary; ValueError when their sizes disagree."""
    model = WordVectors.from_pretrained(path_or_repo)
    vocabulary = Vocabulary.from_pretrained(path_or_repo)
    if len(vocabulary.words) != model.config.vocab_size:
        raise ValueError(
            f"{VOCABULARY_NAME} has {len(vocabulary.words)} words, the vectors "
            f"{model.config.vocab_size} rows"
        )
    return model, vocabulary


# ----- the corpus ------------------------------------------------------------------------------

GCIDE = Path("/usr/share/dictd/gcide.dict.dz")
"""Debian's dict-gcide: the GNU Collaborative International Dictionary of English (GPL-2+)."""
WORDNET = Path("/usr/share/wordnet")
"""Debian's wordnet-base: WordNet 3.0 (the WordNet 3.0 licence)."""
CORPUS_PACKAGES = ("dict-gcide", "wordnet-base")
_GCIDE_NOTE = re.compile(r"\[[^\]]*\]|\\[^\\]*\\")  # [1913 Webster], \pro*nun`ci*a"tion\


def corpus_missing() -> str | None:
    """None when the Debian corpus is installed, else the sentence that says how to get it."""
    if GCIDE.is_file() and (WORDNET / "data.noun").is_file():
        return None
    return (
        "The training corpus is not installed; on Debian or Ubuntu run "
        f"apt-get install {' '.join(CORPUS_PACKAGES)}."
    )


def gcide_paragraphs(path: Path = GCIDE) -> Iterator[list[str]]:
    """Each paragraph of the dictionary (a headword line, one sense, a quotation) as tokens,
    without pronunciations and source notes such as "[1913 Webster]"."""
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as lines:
        paragraph: list[str] = []
        for line in lines:
            if line.strip():
                paragraph.append(_GCIDE_NOTE.sub(" ", line))
                continue
            header = paragraph and paragraph[0].startswith("00-database")
            if paragraph and not header and (tokens := tokenize(" ".join(paragraph))):
                yield tokens
            paragraph = []
        if tokens := tokenize(" ".join(paragraph)):
            yield tokens


def wordnet_glosses(folder: Path = WORDNET) -> Iterator[list[str]]:
    """Each synset's words and gloss (definition and examples) as tokens, from data.noun,
    data.verb, data.adj and data.adv."""
    for part in ("noun", "verb", "adj", "adv"):
        with (folder / f"data.{part}").open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if line.startswith("  "):  # the licence header
                    continue
                head, _, gloss = line.partition(" | ")
                fields = head.split()
                n_words = int(fields[3], 16)
                lemmas = [w.replace("_", " ") for w in fields[4 : 4 + 2 * n_words : 2]]
                if tokens := tokenize(" ".join(lemmas) + " " + gloss):
                    yield tokens


def corpus_sentences(world: Sequence[str] = ()) -> list[list[str]]:
    """The whole corpus, tokenized: GCIDE paragraphs, WordNet glosses, then ``world`` sentences
    (the synthetic world's captions), in a fixed order."""
    sentences = [*gcide_paragraphs(), *wordnet_glosses()]
    return sentences + [tokens for text in world if (tokens := tokenize(text))]
