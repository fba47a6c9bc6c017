"""The VQA task, CLI and tab on a tiny random checkpoint (plumbing, not quality), and the
mapping of unknown words with a stand-in encoder (the real one is tested with the checkpoint)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from multimodal_core import hub
from multimodal_core.cli import main as cli_main
from multimodal_core.errors import InputError, ModelUnavailableError
from multimodal_core.models.vqa import (
    QuestionVocabulary,
    StackedAttentionVQA,
    VQAConfig,
    save_answers,
)
from multimodal_core.settings import get_settings
from multimodal_core.synonyms import SynonymMapper
from multimodal_core.tasks import vqa

ANSWERS = ["yes", "no", "dog", "cat", "red", "two"]
NOUNS = {"dog": "dog", "dogs": "dog", "cat": "cat", "cats": "cat", "fish": "fish", "red": "red"}
QUESTIONS = [
    "is there a dog",
    "how many cats are there",
    "where is the fish",
    "what is to the left of the fish",
]


def _vocab() -> QuestionVocabulary:
    return QuestionVocabulary.build(QUESTIONS, NOUNS)


GROUPS = {"dog": ("dog", "dogs", "puppy", "puppies", "hound"), "cat": ("cat", "cats", "kitten"),
          "fish": ("fish",), "red": ("red",)}  # fmt: skip


class FakeEncoder:
    """Unit vectors by meaning: dog words, cat words, fish, red; anything else is unrelated."""

    def encode(self, texts: list[str]) -> torch.Tensor:
        rows = []
        for text in texts:
            vector = torch.zeros(6)
            for axis, words in enumerate(GROUPS.values()):
                if text.split()[-1] in words:
                    vector[axis] = 1.0
            if not vector.any():
                vector[4 + len(text) % 2] = 1.0  # unrelated to every noun
            rows.append(vector)
        return torch.stack(rows)


@pytest.fixture()
def tiny_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A random 32 px VQA model saved as the built-in checkpoint, served by the default hub."""
    torch.manual_seed(0)
    vocab = _vocab()
    config = VQAConfig(vocab_size=len(vocab), num_answers=len(ANSWERS), image_size=32,
                       encoder_channels=(4, 8), feature_dim=8, embed_dim=6, attention_dim=8,
                       classifier_dim=16)  # fmt: skip
    folder = tmp_path / "checkpoints" / vqa.CHECKPOINTS[vqa.BUILTIN]
    StackedAttentionVQA(config).save_pretrained(folder)
    vocab.save(folder)
    save_answers(ANSWERS, folder)
    monkeypatch.setenv("MMC_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    get_settings.cache_clear()
    hub.default_hub().unload(vqa.BUILTIN)
    model = hub.get(vqa.BUILTIN)
    model._mapper = SynonymMapper(model.vocab, FakeEncoder().encode)
    yield folder
    hub.default_hub().unload(vqa.BUILTIN)
    monkeypatch.delenv("MMC_CHECKPOINTS_DIR")
    get_settings.cache_clear()


@pytest.fixture()
def picture(tmp_path: Path) -> Path:
    path = tmp_path / "scene.png"
    pixels = (np.random.default_rng(0).random((80, 120, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_answer_has_top_five_from_the_vocabulary_and_an_overlay(
    tiny_checkpoint: Path, picture: Path
) -> None:
    result = vqa.answer_question(picture, "Is there a dog?")
    assert result.model == vqa.BUILTIN and result.question == "Is there a dog?"
    assert result.read_as == "is there a dog" and result.word_mappings == []
    assert len(result.top) == 5 and all(a in ANSWERS for a, _ in result.top)
    scores = [p for _, p in result.top]
    assert scores == sorted(scores, reverse=True) and result.answer == result.top[0][0]
    assert result.attention is not None and result.attention.shape == (8, 8)
    assert result.attention.sum() == pytest.approx(1.0, abs=1e-4)  # mean of softmax maps
    assert result.overlay is not None and result.overlay.shape == (80, 120, 3)
    assert result.not_sure == (scores[0] < vqa.NOT_SURE_BELOW)
    assert any("Not sure" in n for n in result.notes) == result.not_sure
    json.dumps(result.to_dict())


def test_batch_matches_single_calls(tiny_checkpoint: Path) -> None:
    rng = np.random.default_rng(1)
    images = [rng.random((32, 32, 3), dtype=np.float32) for _ in QUESTIONS]
    batched = vqa.answer_builtin(images, QUESTIONS, overlay=False)
    for image, question, result in zip(images, QUESTIONS, batched, strict=True):
        (alone,) = vqa.answer_builtin([image], [question], overlay=False)
        assert alone.top[0][0] == result.top[0][0]
        assert alone.top[0][1] == pytest.approx(result.top[0][1], abs=1e-5)


def test_unknown_words_are_mapped_or_left_out(tiny_checkpoint: Path, picture: Path) -> None:
    result = vqa.answer_question(picture, "is there a puppy")
    assert result.question == "is there a puppy" and result.read_as == "is there a dog"
    assert any("“puppy” as “dog”" in n for n in result.notes)
    assert result.to_dict()["word_mappings"] == [
        {"word": "puppy", "read_as": "dog", "close_call": None}
    ]
    assert vqa.answer_question(picture, "is there a dog").top == result.top
    result = vqa.answer_question(picture, "is there a dog zorblax")
    assert result.read_as == "is there a dog" and any("left out" in n for n in result.notes)
    assert result.to_dict()["word_mappings"] == [
        {"word": "zorblax", "read_as": None, "close_call": None}
    ]
    result = vqa.answer_question(picture, "is there a zorblax dog")  # read as one phrase
    assert result.read_as == "is there a dog"


def test_a_word_almost_as_close_to_another_noun_is_called_a_guess() -> None:
    """ "pet" lies between dog and cat (cosines 0.74 and 0.67): read as "dog", but marked as a
    guess; "puppy" is clearly a dog."""
    axes = {"dog": 0, "dogs": 0, "cat": 1, "cats": 1, "fish": 2, "red": 3}
    mixes = {"pet": (1.0, 0.9), "puppy": (1.0, 0.2)}

    def embed(texts: list[str]) -> torch.Tensor:
        rows = torch.zeros((len(texts), 6))
        for row, text in enumerate(texts):
            if text in axes:
                rows[row, axes[text]] = 1.0
            elif text in mixes:
                rows[row, :2] = torch.tensor(mixes[text])
            else:
                rows[row, 5] = 1.0
        return torch.nn.functional.normalize(rows, dim=-1)

    mapper = SynonymMapper(_vocab(), embed)
    text, (pet,) = mapper.map("is there a pet")
    assert text == "is there a dog" and pet.close_call == "cat"
    assert pet.reading() == "“pet” as “dog” (a guess: “cat” is almost as close)"
    assert pet.to_dict() == {"word": "pet", "read_as": "dog", "close_call": "cat"}
    (puppy,) = mapper.map("is there a puppy")[1]
    assert puppy.close_call is None and puppy.reading() == "“puppy” as “dog”"


@pytest.mark.parametrize("question", ["blorp zzz", "Zorblax?"])
def test_a_question_without_a_known_word_is_refused(
    tiny_checkpoint: Path, picture: Path, question: str
) -> None:
    """Every word left out would leave an empty question, which the model would still answer."""
    with pytest.raises(InputError, match="knows none of the words") as error:
        vqa.answer_question(picture, question)
    assert "what is on the left?" in str(error.value)


def test_without_the_encoder_unknown_words_are_left_out_and_none_known_is_refused(
    tiny_checkpoint: Path,
) -> None:
    model = hub.get(vqa.BUILTIN)
    model._mapper = None

    def missing() -> None:
        raise ModelUnavailableError("The sentence encoder could not be loaded.")

    text, changes, notes = model.known_words("is there a puppy", encoder=missing)
    assert text == "is there a" and changes[0].phrase == "puppy" and "left out" in notes[0]
    with pytest.raises(InputError, match="knows none of the words"):
        model.known_words("blorp zzz", encoder=missing)


def _world_question_forms(scenes: int = 60) -> set[str]:
    """Every question form the world's grammar asks of some validation scenes, with each class
    noun (singular or plural) replaced by N."""
    from multimodal_core.world import language
    from multimodal_core.world.catalogue import CLASSES
    from multimodal_core.world.qa_stores import world_dataset

    nouns = {form for c in CLASSES for form in (c.name, c.plural)}
    dataset = world_dataset("validation", 64, False)
    forms = set()
    for index in range(scenes):
        scene = dataset.scene(index)
        for draw in range(4):
            for q in language.questions(scene, draw=draw):
                forms.add(" ".join("N" if w in nouns else w for w in q.text.split()))
    return forms


def test_the_kinds_of_question_are_the_ones_the_models_were_trained_on() -> None:
    """Each example is a form the world's grammar asks (nouns aside), or one of easy-vqa's own
    training questions; together they cover every question type of the world's grammar."""
    import easy_vqa

    from multimodal_core.world import language
    from multimodal_core.world.catalogue import CLASSES

    nouns = {form for c in CLASSES for form in (c.name, c.plural)}
    forms = _world_question_forms()
    world = [q for _, q in vqa.question_kinds("builtin")]
    for question in world:
        words = question.rstrip("?").split()
        assert " ".join("N" if w in nouns else w for w in words) in forms, question
    assert len(world) >= len(language.QUESTION_TYPES)
    trained = set(easy_vqa.get_train_questions()[0])
    assert all(q in trained for _, q in vqa.question_kinds("easyvqa"))
    assert vqa.question_kinds("vilt") == [] and vqa.question_kinds("blip") == []


def test_synonym_mapper_keeps_number_and_reads_phrases() -> None:
    mapper = SynonymMapper(_vocab(), FakeEncoder().encode)
    assert mapper.map("how many puppies are there")[0] == "how many dogs are there"
    assert mapper.map("where is the kitten")[0] == "where is the cat"
    assert mapper.map("is there a big dog")[0] == "is there a dog"  # "big dog" as one phrase
    text, changes = mapper.map("is there a hound")
    assert text == "is there a dog" and changes[0].replacement == "dog"
    text, changes = mapper.map("what is to the left of the qq")
    assert text == "what is to the left of the" and changes[0].replacement is None
    with pytest.raises(ValueError, match="nouns"):
        SynonymMapper(QuestionVocabulary.build(QUESTIONS), FakeEncoder().encode)


@pytest.mark.parametrize(
    ("question", "match"),
    [("", "at least one word"), ("  ?!  ", "at least one word"), (None, "at least one word"),
     ("why " * 400, "characters long")],
)  # fmt: skip
def test_empty_or_long_questions_get_sentences(
    tiny_checkpoint: Path, picture: Path, question: str | None, match: str
) -> None:
    with pytest.raises(InputError, match=match):
        vqa.answer_question(picture, question)


def test_bad_choices_and_files_get_sentences(
    tiny_checkpoint: Path, picture: Path, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match="Unknown model"):
        vqa.answer_question(picture, "is there a dog", model="gpt")
    fake = tmp_path / "photo.png"
    fake.write_text("not a picture")
    with pytest.raises(InputError):
        vqa.answer_question(fake, "is there a dog")


def test_missing_checkpoint_is_a_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, picture: Path
) -> None:
    monkeypatch.setenv("MMC_CHECKPOINTS_DIR", str(tmp_path / "nowhere"))
    get_settings.cache_clear()
    hub.default_hub().unload(vqa.BUILTIN)
    try:
        with pytest.raises(ModelUnavailableError, match="missing"):
            vqa.answer_question(picture, "is there a dog")
    finally:
        monkeypatch.delenv("MMC_CHECKPOINTS_DIR")
        get_settings.cache_clear()
        hub.default_hub().unload(vqa.BUILTIN)


def test_cli_prints_json_last(
    tiny_checkpoint: Path, picture: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    overlay = tmp_path / "attention.png"
    code = cli_main(["vqa", str(picture), "is there a dog", "--json", "--attention", str(overlay)])
    assert code == 0
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert payload["answer"] in ANSWERS and len(payload["top"]) == 5
    assert payload["question"] == "is there a dog" and payload["read_as"] == "is there a dog"
    assert payload["word_mappings"] == []
    assert overlay.is_file()
    assert cli_main(["vqa", str(picture), "   "]) == 2
    assert "at least one word" in capsys.readouterr().err


@pytest.mark.slow  # launching a server takes seconds
def test_tab_answers_over_http(tiny_checkpoint: Path, picture: Path) -> None:
    import gradio as gr
    from gradio_client import Client, handle_file

    from multimodal_core.ui import vqa as tab

    with gr.Blocks() as demo:
        tab.build_tab()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False)
        answer, top, _overlay, notes = client.predict(
            handle_file(str(picture)), "is there a puppy", "builtin", api_name="/vqa"
        )
        assert answer.startswith("## ") and answer[3:] in ANSWERS
        assert len(top["confidences"]) == 5
        assert notes.startswith("**Read as:** “is there a dog”") and "“puppy” as “dog”" in notes
        with pytest.raises(Exception, match="knows none of the words"):
            client.predict(handle_file(str(picture)), "blorp zzz", "builtin", api_name="/vqa")
        with pytest.raises(Exception, match="at least one word"):
            client.predict(handle_file(str(picture)), "", "builtin", api_name="/vqa")
        kinds = tab._question_kinds()
        assert all(q in kinds for _, q in vqa.question_kinds("builtin"))
    finally:
        demo.close()
