"""The Words task: nearest words, analogies, similarity, the map and the skip-gram's pairs, on a
tiny checkpoint of known geometry and on the shipped vectors; bad input gets one sentence."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from multimodal_core import hub
from multimodal_core.cli import main as cli_main
from multimodal_core.errors import InputError, ModelUnavailableError
from multimodal_core.models.word_vectors import Vocabulary, WordVectors, WordVectorsConfig
from multimodal_core.settings import get_settings
from multimodal_core.tasks import words

SHIPPED = Path(__file__).resolve().parent.parent / "checkpoints" / "words"
GEOMETRY = {  # royalty, gender (+ male), fruit; king - man = queen - woman, all of one length
    "king": (1.0, 1.0, 0.0),
    "queen": (1.0, -1.0, 0.0),
    "man": (-1.0, 1.0, 0.0),
    "woman": (-1.0, -1.0, 0.0),
    "prince": (0.9, 1.0, 0.1),
    "apple": (0.0, 0.0, 1.0),
    "pear": (0.1, 0.0, 1.0),
}


def use_checkpoints(monkeypatch: pytest.MonkeyPatch, folder: Path) -> Iterator[None]:
    monkeypatch.setenv("MMC_CHECKPOINTS_DIR", str(folder))
    get_settings.cache_clear()
    hub.default_hub().unload(words.BUILTIN)
    yield
    hub.default_hub().unload(words.BUILTIN)
    monkeypatch.delenv("MMC_CHECKPOINTS_DIR")
    get_settings.cache_clear()


@pytest.fixture()
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The built-in choice served from a checkpoint of :data:`GEOMETRY`."""
    folder = tmp_path / "checkpoints" / "words"
    model = WordVectors(WordVectorsConfig(vocab_size=len(GEOMETRY), dim=3))
    model.vectors.data = torch.tensor(list(GEOMETRY.values()))
    model.save_pretrained(folder)
    Vocabulary(tuple(GEOMETRY), tuple(range(len(GEOMETRY), 0, -1))).save(folder)
    yield from use_checkpoints(monkeypatch, folder.parent)


def test_analogy_answers_with_the_input_words_left_out(tiny: None) -> None:
    result = words.explore("king - man + woman")
    assert result.kind == "expression" and result.query == "king - man + woman"
    assert result.answers[0][0] == "queen"
    assert {"king", "man", "woman"}.isdisjoint(w for w, _ in result.answers)
    assert result.answers == sorted(result.answers, key=lambda a: -a[1])


def test_neighbours_are_ranked_by_cosine(tiny: None) -> None:
    result = words.explore("apple")
    assert result.kind == "neighbours"
    assert result.answers[0] == ("pear", pytest.approx(float(np.cos(np.arctan(0.1))), abs=1e-3))
    assert result.answers[-1][1] <= result.answers[0][1]


def test_the_map_places_the_named_words_and_draws_a_picture(tiny: None) -> None:
    result = words.explore("king - man + woman", map_words="king, queen, man, woman, apple")
    assert result.map_words == ["king", "queen", "man", "woman", "apple"]
    xy = np.array(result.map_xy)
    assert xy.shape == (5, 2) and np.abs(xy).max() == pytest.approx(1.0)
    # king - man and queen - woman are the same offset, and PCA is linear: parallel on the map
    assert np.allclose(xy[0] - xy[2], xy[1] - xy[3], atol=1e-6)
    assert result.map_picture is not None and result.map_picture.dtype == np.uint8
    payload = result.to_dict()
    json.dumps(payload)
    assert payload["map"][0]["word"] == "king" and "map_picture" not in payload


def test_unknown_words_get_one_sentence_with_the_closest_spellings(tiny: None) -> None:
    with pytest.raises(InputError, match=r"“kingg” \(did you mean king\?\)") as error:
        words.explore("kingg - man")
    assert "\n" not in str(error.value) and str(error.value).endswith(".")
    result = words.explore("king", map_words="king queen zebra")
    assert result.map_words == ["king", "queen"]
    assert any("“zebra”" in note and "left off the map" in note for note in result.notes)


@pytest.mark.parametrize(
    ("query", "match"),
    [
        ("", "type a word"),
        ("   ", "type a word"),
        ("' + '", "type a word"),
        ("3 + 4", "joined by \\+ and -"),
        ("king * 2", "joined by \\+ and -"),
        ("<script>", "joined by \\+ and -"),
        ("king " * 13, "at most 12 words"),
        ("a" * 10_000, "10,000 characters"),
    ],
)
def test_bad_queries_get_one_sentence(tiny: None, query: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        words.explore(query)


def test_expression_parsing() -> None:
    assert words.parse_expression("King - man +woman") == [(1, "king"), (-1, "man"), (1, "woman")]
    assert words.parse_expression("dog cat") == [(1, "dog"), (1, "cat")]
    with pytest.raises(InputError):
        words.explore("king", model="glove")


def test_similarity_is_the_cosine_of_two_words(tiny: None) -> None:
    assert words.similarity("king", "queen").cosine == pytest.approx(0.0, abs=1e-3)
    assert words.similarity("apple", "pear").cosine == pytest.approx(1.01**-0.5, abs=1e-3)
    with pytest.raises(InputError, match="one English word in each box"):
        words.similarity("king queen", "man")
    with pytest.raises(InputError, match="“zebra”"):
        words.similarity("king", "zebra")


def test_context_pairs_are_every_word_within_the_window() -> None:
    pairs = words.context_pairs("the cat sat on the mat", window=2, picture=False)
    assert pairs.words == ["the", "cat", "sat", "on", "the", "mat"]
    assert ("cat", "the") in pairs.pairs and ("cat", "on") in pairs.pairs
    assert ("cat", "mat") not in pairs.pairs
    assert len(pairs.pairs) == 2 * (2 * 6 - 3)  # each pair of words at most 2 apart, both ways
    picture = words.context_pairs("a b c").picture
    assert picture is not None and picture.ndim == 3
    with pytest.raises(InputError, match="at most 24 words"):
        words.context_pairs("word " * 25)
    with pytest.raises(InputError, match="type a sentence"):
        words.context_pairs("123 !!")


def test_missing_vectors_name_the_built_in_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in use_checkpoints(monkeypatch, tmp_path / "nowhere"):
        with pytest.raises(ModelUnavailableError, match="built-in skip-gram"):
            words.explore("king")


def test_the_model_runs_only_inside_hub_gpu(tiny: None) -> None:
    model = hub.get(words.BUILTIN)
    with pytest.raises(hub.OutsideModelCallError):
        model.similarities(torch.ones(1, 3))


def test_minilm_choice_searches_the_vocabulary_with_the_shared_encoder(tiny: None) -> None:
    result = words.explore("apple", model="minilm")
    assert result.model == "minilm" and len(result.answers) == len(GEOMETRY) - 1
    assert result.answers[0][0] == "pear"  # the fruit, not a royal or a person
    assert words.similarity("zebra", "horse", "minilm").cosine > 0.3  # it knows any word


@pytest.mark.skipif(not SHIPPED.is_dir(), reason="the shipped vectors are not trained yet")
def test_shipped_vectors_answer_the_classic_analogy_and_know_every_world_word() -> None:
    from multimodal_core.world import catalogue

    result = words.explore("king - man + woman", picture=False)
    assert "queen" in [w for w, _ in result.answers[:3]]
    vocabulary = set(Vocabulary.from_pretrained(SHIPPED).words)
    nouns = {w for c in catalogue.CLASSES for w in (c.name, c.plural, *c.synonyms)}
    assert {w for n in nouns for w in n.split()} - vocabulary == set()
    assert (SHIPPED / "model.safetensors").stat().st_size < 6.5 * 2**20


def test_cli_prints_json_last(tiny: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["words", "king - man + woman", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert payload["answers"][0]["word"] == "queen"
    assert cli_main(["words", "--similar", "king", "queen", "--json"]) == 0
    assert "cosine" in json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert cli_main(["words", "--near", "kingg"]) == 2
    assert "did you mean king" in capsys.readouterr().err
