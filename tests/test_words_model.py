"""Word vectors: tokenizing, the checkpoint round trip, the corpus readers and the count
baseline's arithmetic, on tiny inputs (no training, no Debian corpus needed)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from multimodal_core.evaluate import words as evaluate_words
from multimodal_core.models import word_vectors
from multimodal_core.models.word_vectors import Vocabulary, WordVectors, WordVectorsConfig
from multimodal_core.train.words import shipped_rows


def test_tokenize_keeps_lower_case_letter_runs() -> None:
    assert word_vectors.tokenize("The King's 3 horses, well-fed!") == [
        "the", "king", "horses", "well", "fed",
    ]  # fmt: skip


def tiny(tmp_path: Path) -> tuple[WordVectors, Vocabulary]:
    words = ("king", "queen", "man", "woman")
    model = WordVectors(WordVectorsConfig(vocab_size=4, dim=3))
    model.vectors.data = torch.tensor([[1.0, 1, 0], [1, -1, 0], [0, 1, 0], [0, -1, 0]])
    model.save_pretrained(tmp_path)
    vocabulary = Vocabulary(words, (40, 30, 20, 10))
    vocabulary.save(tmp_path)
    return model, vocabulary


def test_checkpoint_round_trip_keeps_vectors_and_vocabulary(tmp_path: Path) -> None:
    model, vocabulary = tiny(tmp_path)
    loaded, words = word_vectors.load(tmp_path)
    assert words == vocabulary
    assert torch.equal(loaded.vectors.float(), model.vectors)  # small integers survive float16
    assert (tmp_path / "vocabulary.txt").read_text().splitlines()[0] == "king\t40"


def test_forward_is_cosine_similarity_to_every_word(tmp_path: Path) -> None:
    model, _ = tiny(tmp_path)
    scores = model(torch.tensor([[2.0, 2.0, 0.0]]))
    assert scores.shape == (1, 4)
    assert scores[0].tolist() == pytest.approx([1.0, 0.0, 2**-0.5, -(2**-0.5)], abs=1e-6)


def test_a_vocabulary_that_disagrees_with_the_vectors_is_refused(tmp_path: Path) -> None:
    tiny(tmp_path)
    Vocabulary(("king", "queen"), (2, 1)).save(tmp_path)
    with pytest.raises(ValueError, match="2 words"):
        word_vectors.load(tmp_path)
    (tmp_path / "vocabulary.txt").write_text("king 3\n")
    with pytest.raises(ValueError, match="word<TAB>count"):
        Vocabulary.from_pretrained(tmp_path)


def test_gcide_reader_drops_headers_pronunciations_and_source_notes(tmp_path: Path) -> None:
    path = tmp_path / "gcide.dict.dz"
    text = (
        "00-database-url\n   ftp://ftp.gnu.org/gnu/gcide\n\n"
        "Dog \\Dog\\, n. [AS. docga.]\n   1. A quadruped of the genus {Canis}.\n"
        "      [1913 Webster]\n\n   Syn: hound\n"
    )
    with gzip.open(path, "wt", encoding="utf-8") as file:
        file.write(text)
    assert list(word_vectors.gcide_paragraphs(path)) == [
        ["dog", "n", "a", "quadruped", "of", "the", "genus", "canis"],
        ["syn", "hound"],
    ]


def test_wordnet_reader_reads_lemmas_and_glosses(tmp_path: Path) -> None:
    line = "02084071 05 n 02 dog 0 domestic_dog 0 001 @ 02083346 n 0000 | a member of the genus\n"
    for part in ("noun", "verb", "adj", "adv"):
        licence = "  1 This software and database is being provided to you\n"
        (tmp_path / f"data.{part}").write_text(licence + (line if part == "noun" else ""))
    assert list(word_vectors.wordnet_glosses(tmp_path)) == [
        ["dog", "domestic", "dog", "a", "member", "of", "the", "genus"]
    ]


def test_shipped_rows_are_the_frequent_words_and_every_world_word() -> None:
    frequent = ["the", "of", "dog", "piano", "kitten", "zebu"]
    assert shipped_rows(frequent, {"dog", "kitten"}, ship=2) == [0, 1, 2, 4]


def test_cooccurrences_count_pairs_within_the_window_inside_a_sentence() -> None:
    sentences = [["a", "b", "c"], ["c", "a"]]
    counts = evaluate_words.cooccurrences(sentences, ["a", "b", "c"], window=1).toarray()
    # a-b once, b-c once, c-a once (second sentence); nothing across the sentence boundary
    assert counts.tolist() == [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
    wide = evaluate_words.cooccurrences(sentences, ["a", "b", "c"], window=2).toarray()
    assert wide[0, 2] == 2 and np.allclose(wide, wide.T)


def test_ppmi_svd_separates_two_topics() -> None:
    rng = np.random.default_rng(0)
    pets, music = ["dog", "cat", "pet"], ["piano", "flute", "song"]
    sentences = [list(rng.choice(topic, 6)) for _ in range(300) for topic in (pets, music)]
    words = pets + music
    vectors = evaluate_words.ppmi_svd(
        evaluate_words.cooccurrences(sentences, words, 2), dim=2, seed=0
    )
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = unit @ unit.T
    assert cosine[0, 1] > 0.9 and cosine[3, 4] > 0.9  # within a topic
    assert cosine[0, 3] < 0.3  # across topics


def test_evaluation_without_the_corpus_reports_no_baseline_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The baseline's figures are never taken from the card: without the corpus they are null
    and one sentence says why; the vectors' own figures are still measured."""
    pytest.importorskip("gensim")
    import argparse

    names = (
        "king queen man woman tiger cat love sex money cash old new hard difficult happy cheerful"
    )
    vocabulary = Vocabulary(tuple(names.split()), tuple(range(16, 0, -1)))
    model = WordVectors(WordVectorsConfig(vocab_size=16, dim=8))
    model.vectors.data = torch.randn(16, 8, generator=torch.Generator().manual_seed(0))
    model.save_pretrained(tmp_path)
    vocabulary.save(tmp_path)
    sentence = "The training corpus is not installed; on Debian or Ubuntu run apt-get install x."
    monkeypatch.setattr(word_vectors, "corpus_missing", lambda: sentence)
    parser = argparse.ArgumentParser()
    evaluate_words.add_arguments(parser)
    result = evaluate_words.run(parser.parse_args(["--vectors", str(tmp_path)]))
    assert result["baseline_note"] == sentence and sentence in capsys.readouterr().out
    assert all(result[f"baseline_{key}"] is None for key in evaluate_words.SCORES)
    assert result["vocabulary"] == 16 and 0 < result["analogy_coverage"] < 0.01
    assert -1 <= result["ws353_spearman"] <= 1 and result["ws353_oov"] > 0.9
    assert result["analogy_acc"] <= result["analogy_coverage"]
    assert result["above_baseline"] == {}
