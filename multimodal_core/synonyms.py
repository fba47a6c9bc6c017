"""Unknown words of a question read as the known words they mean, by sentence-embedding similarity.

The built-in VQA models know only the words of their training questions; a person asks about a
"puppy" or "bikes". :class:`SynonymMapper` maps each unknown word (or the phrase it starts) to the
closest noun of the model's vocabulary with the shared sentence encoder, or leaves it out when
nothing is close. The task uses it on every question, the evaluation measures it on held-out
synonyms; it needs only an ``embed`` function and a vocabulary, so both can use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

SYNONYM_THRESHOLD = 0.5  # cosine below which an unknown word is left out rather than guessed
CLOSE_CALL = 0.08
"""A mapping whose runner-up (a noun of another meaning) is within this cosine of the winner is
a guess, and the person is told so: "colour" is about as close to "blue" as to "gray" (0.06),
"cup" to "ball" as to "car" (0.07), where "puppy" is 0.27 closer to "dog" than to "cat"."""


class Vocabulary(Protocol):
    """What the mapper reads of a question vocabulary (``models.vqa.QuestionVocabulary``)."""

    nouns: dict[str, str]
    """Every noun form it knows -> its singular (the canonical noun), the plural listed before
    any synonym ("dog": "dog", "dogs": "dog", "puppy": "dog")."""

    def tokenize(self, text: str) -> list[str]: ...

    def __contains__(self, word: object) -> bool: ...


@dataclass(frozen=True)
class WordMapping:
    """An unknown phrase of the question and the known noun it was read as (None: left out);
    ``close_call``: a noun of another meaning almost as close (:data:`CLOSE_CALL`), if any."""

    phrase: str
    replacement: str | None
    similarity: float
    close_call: str | None = None

    def to_dict(self) -> dict:
        """What the JSON outputs carry (the similarity is the mapper's business)."""
        return {"word": self.phrase, "read_as": self.replacement, "close_call": self.close_call}

    def reading(self) -> str:
        """For the person: “colour” as “blue” (a guess: “gray” is almost as close)."""
        text = f"“{self.phrase}” as “{self.replacement}”"
        if self.close_call:
            text += f" (a guess: “{self.close_call}” is almost as close)"
        return text


class SynonymMapper:
    """Maps unknown words of a question to the vocabulary's nouns by sentence-encoder similarity.

    For an unknown word the candidates are the word alone and the phrase it starts up to the next
    known noun ("slice of pizza", "electric guitar"); the phrase and noun with the highest cosine
    win. The noun takes the plural form when the phrase looks plural ("puppies" -> "dogs"), and
    a phrase below ``threshold`` is left out.
    """

    def __init__(
        self,
        vocab: Vocabulary,
        embed: Callable[[list[str]], torch.Tensor],
        threshold: float = SYNONYM_THRESHOLD,
    ) -> None:
        if not vocab.nouns:
            raise ValueError("the vocabulary names no nouns to map unknown words to")
        self.vocab = vocab
        self.embed = embed
        self.threshold = threshold
        self.forms = sorted(vocab.nouns)
        self.canonical = [vocab.nouns[f] for f in self.forms]
        self.plural: dict[str, str] = {}
        for form, singular in vocab.nouns.items():
            # The first other form of a noun is its plural ("dogs"); later ones are synonyms
            # ("puppy", "hound"). "fish" has no other plural form and keeps its singular.
            if form != singular:
                self.plural.setdefault(singular, form)
        self._form_vectors: torch.Tensor | None = None

    @staticmethod
    def looks_plural(word: str) -> bool:
        return len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us"))

    def _similarities(self, vectors: torch.Tensor) -> torch.Tensor:
        """Cosine of each row of vectors (n, d) with each noun form: (n, forms)."""
        if self._form_vectors is None:
            self._form_vectors = self.embed(self.forms)
        return vectors @ self._form_vectors.T

    def _close_call(self, sims: torch.Tensor, singular: str) -> str | None:
        """The closest noun of another meaning than ``singular`` when it is almost as close."""
        other = [i for i, c in enumerate(self.canonical) if c != singular]
        if not other:
            return None
        best = max(other, key=lambda i: float(sims[i]))
        close = float(sims.max()) - float(sims[best]) < CLOSE_CALL
        return self.canonical[best] if close else None

    def map(self, question: str) -> tuple[str, list[WordMapping]]:
        """The question in known words only, and what was changed."""
        tokens = self.vocab.tokenize(question)
        out: list[str] = []
        changes: list[WordMapping] = []
        i = 0
        while i < len(tokens):
            if tokens[i] in self.vocab:
                out.append(tokens[i])
                i += 1
                continue
            ends = [i]  # last token of each candidate phrase
            for j in range(i + 1, min(i + 3, len(tokens))):
                if tokens[j] in self.vocab.nouns:
                    ends.append(j)
                    break
            phrases = [" ".join(tokens[i : j + 1]) for j in ends]
            sims = self._similarities(self.embed(phrases))  # (phrases, forms)
            scores, forms = sims.max(dim=-1).values, sims.argmax(dim=-1)
            pick = int(scores.argmax())
            score, phrase, end = float(scores[pick]), phrases[pick], ends[pick]
            if score < self.threshold:
                changes.append(WordMapping(tokens[i], None, round(score, 3)))
                i += 1
                continue
            singular = self.canonical[int(forms[pick])]
            last = tokens[end]
            plural = (
                self.vocab.nouns[last] != last
                if last in self.vocab.nouns
                else self.looks_plural(last)
            )
            word = self.plural.get(singular, singular) if plural else singular
            out.append(word)
            guess = self._close_call(sims[pick], singular)
            changes.append(WordMapping(phrase, word, round(score, 3), guess))
            i = end + 1
        return " ".join(out), changes
