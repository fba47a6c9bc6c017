"""The shipped VQA checkpoints on real inputs (slow: they load the checkpoints and MiniLM).

Golden checks: the example scenes of the app (examples/examples.json holds every question and
its true answer) answered through the same task call the tab makes, and questions whose noun is
an unseen synonym answered as their canonical form.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multimodal_core.settings import REPO_ROOT

pytestmark = pytest.mark.slow

WORLD = REPO_ROOT / "checkpoints" / "vqa_world"
EASYVQA = REPO_ROOT / "checkpoints" / "vqa_easyvqa"
EXAMPLES = REPO_ROOT / "examples"

# (synonym, canonical): one-word catalogue synonyms the model never saw in training.
SYNONYMS = [("puppy", "dog"), ("kitten", "cat"), ("bunny", "rabbit"), ("bike", "bicycle"),
            ("automobile", "car"), ("plane", "airplane"), ("phone", "telephone"),
            ("football", "ball"), ("sax", "saxophone"), ("lady", "woman"),
            ("grandmother", "grandma"), ("home", "house")]  # fmt: skip
TEMPLATES = ["is there a {}", "where is the {}", "what is to the left of the {}"]


def _vqa_examples() -> list[tuple[Path, str, str]]:
    entries = json.loads((EXAMPLES / "examples.json").read_text())["examples"]
    return [
        (EXAMPLES / e["file"], q["question"], q["answer"])
        for e in entries
        if "vqa" in e.get("task", "")
        for q in e["questions"]
    ]


@pytest.mark.skipif(not (WORLD / "model.safetensors").is_file(), reason="no world checkpoint")
def test_world_checkpoint_answers_the_example_scenes() -> None:
    from multimodal_core.tasks import vqa

    examples = _vqa_examples()
    assert len(examples) >= 12
    right = [vqa.answer_question(path, q).answer == a for path, q, a in examples]
    assert sum(right) / len(right) >= 0.9, list(zip(examples, right, strict=True))
    path, question, answer = examples[0]
    result = vqa.answer_question(path, question)
    assert result.answer == answer and result.top[0][1] > vqa.NOT_SURE_BELOW
    assert result.overlay is not None


@pytest.mark.skipif(not (WORLD / "model.safetensors").is_file(), reason="no world checkpoint")
def test_unseen_synonyms_get_the_canonical_answer() -> None:
    from multimodal_core.tasks import vqa

    path = EXAMPLES / "scene_20000001.png"
    for synonym, canonical in SYNONYMS:
        for template in TEMPLATES:
            asked = vqa.answer_question(path, template.format(synonym))
            plain = vqa.answer_question(path, template.format(canonical))
            assert asked.read_as == plain.read_as, (synonym, template)
            assert asked.answer == plain.answer
            assert any(f"“{synonym}”" in note for note in asked.notes)


@pytest.mark.skipif(not (EASYVQA / "model.safetensors").is_file(), reason="no easy-vqa checkpoint")
def test_easyvqa_checkpoint_answers_test_images() -> None:
    import easy_vqa

    from multimodal_core.tasks import vqa

    texts, answers, ids = easy_vqa.get_test_questions()
    paths = easy_vqa.get_test_image_paths()
    right = [
        vqa.answer_question(paths[i], t, "easyvqa").answer == a
        for t, a, i in list(zip(texts, answers, ids, strict=True))[:40]
    ]
    assert sum(right) / len(right) >= 0.9
