"""Pieces of the VQA training entry point: arguments, world data, resizing, accuracy, vocabulary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from multimodal_core.models.vqa import QuestionVocabulary, StackedAttentionVQA, VQAConfig
from multimodal_core.train import vqa as train
from multimodal_core.world import language


def test_arguments_and_default_folders() -> None:
    args = train.parse_args(["--data", "easyvqa", "--question-only", "--minutes", "2"])
    assert args.data == "easyvqa" and args.question_only and args.minutes == 2.0
    assert args.out is not None and args.out.name == "vqa_easyvqa_question_only"
    assert train.parse_args(["--out", "/tmp/x"]).out == Path("/tmp/x")
    with pytest.raises(ValueError, match="--data"):
        train.TrainArgs(data="coco")


def test_world_scenes_carry_every_question_with_answer_ids() -> None:
    store = train.world_store("validation", 3, 32)
    batch = store.batch([0, 1, 2])
    assert batch.images.shape == (3, 3, 32, 32) and batch.images.max() <= 1.0
    assert len(batch.questions) == len(batch.types) == batch.answers.shape[0] >= 3
    assert set(batch.image_index.tolist()) == {0, 1, 2}
    assert set(batch.types) <= set(language.QUESTION_TYPES)
    assert all(0 <= a < len(language.ANSWERS) for a in batch.answers.tolist())
    image, qas = train.world_qas("validation", 0, 32, render_size=48)  # rendered larger
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    first = [q for q, i in zip(batch.questions, batch.image_index, strict=True) if i == 0]
    assert [q[0] for q in qas] == first


def test_focus_asks_more_questions_of_the_focus_types_without_duplicates() -> None:
    per_type = {}
    for focus in (((), 0), (("relation", "count"), 3)):
        texts, types = [], []
        for index in range(40):
            _, qas = train.world_qas("validation", index, 32, focus=focus)
            texts += [(index, text) for text, _, _ in qas]
            types += [qtype for _, _, qtype in qas]
        assert len(set(texts)) == len(texts)
        per_type[focus[1]] = {t: types.count(t) for t in set(types)}
    assert per_type[3]["relation"] > 1.5 * per_type[0]["relation"]
    assert per_type[3]["count"] > 1.5 * per_type[0]["count"]
    assert per_type[3]["background"] == per_type[0]["background"]  # other types unchanged


def test_resize_square_keeps_sizes_and_range() -> None:
    pixels = (np.random.default_rng(0).random((40, 60, 3)) * 255).astype(np.uint8)
    out = train.resize_square(pixels, 32)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert train.resize_square(out, 32) is out
    flat = np.full((50, 50, 3), 77, np.uint8)
    assert (train.resize_square(flat, 24) == 77).all()


def test_accuracy_counts_per_type() -> None:
    store = train.world_store("validation", 4, 32)
    vocab = QuestionVocabulary.build([q for b in store.batches() for q in b.questions])
    config = VQAConfig(vocab_size=len(vocab), num_answers=len(language.ANSWERS), image_size=32,
                       encoder_channels=(4, 8), feature_dim=8, embed_dim=6, attention_dim=8,
                       classifier_dim=16)  # fmt: skip
    torch.manual_seed(0)
    scores = train.accuracy(StackedAttentionVQA(config), vocab, store.batches(2))
    assert scores["n"] == sum(len(b.questions) for b in store.batches())
    assert 0.0 <= scores["acc"] <= 1.0 and set(scores["per_type"]) <= set(language.QUESTION_TYPES)


def test_easyvqa_types_and_vocabulary_nouns() -> None:
    assert train.easyvqa_type("yes") == "yes/no"
    assert train.easyvqa_type("circle") == "shape"
    assert train.easyvqa_type("teal") == "color"
    vocab = train.easyvqa_vocabulary()
    assert {"circle", "red"} <= set(vocab.nouns) and "yes" not in vocab.nouns


def test_the_kept_checkpoint_is_chosen_by_overall_plus_weakest_type() -> None:
    lopsided = {"acc": 0.9933, "per_type": {"count": 0.995, "relation": 0.901}}
    balanced = {"acc": 0.9916, "per_type": {"count": 0.990, "relation": 0.947}}
    assert train.selection_score(balanced) > train.selection_score(lopsided)
    assert train.selection_score({"acc": -1.0}) < train.selection_score(lopsided)  # no best yet
