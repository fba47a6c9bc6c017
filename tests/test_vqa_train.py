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
            texts += [(index, qa[0]) for qa in qas]
            types += [qa[2] for qa in qas]
        assert len(set(texts)) == len(texts)
        per_type[focus[1]] = {t: types.count(t) for t in set(types)}
    assert per_type[3]["relation"] > 1.5 * per_type[0]["relation"]
    assert per_type[3]["count"] > 1.5 * per_type[0]["count"]
    assert per_type[3]["background"] == per_type[0]["background"]  # other types unchanged


def test_object_regions_cover_the_object_or_its_best_region() -> None:
    mask = np.zeros((96, 96), dtype=bool)
    mask[8:24, 40:56] = True  # rows 1-2, columns 5-6 of a 12 x 12 grid of 8 px regions
    regions = train.object_regions(mask, 12).reshape(12, 12)
    assert set(zip(*np.nonzero(regions), strict=True)) == {(1, 5), (1, 6), (2, 5), (2, 6)}
    speck = np.zeros((96, 96), dtype=bool)
    speck[50, 70] = True  # far below the coverage: still one region, the one it is in
    assert np.flatnonzero(train.object_regions(speck, 12)).tolist() == [6 * 12 + 8]


def test_relation_looks_send_hop_one_to_the_first_noun_and_hop_two_to_the_second() -> None:
    checked = 0
    for index in range(30):
        _, qas = train.world_qas("validation", index, 96, focus=(("relation",), 2), grid=12)
        scene = train._world_dataset("validation", 96, False).scene(index)
        for text, _, qtype, looks in qas:
            if qtype == "background":
                assert looks.shape[0] == 0
            if qtype != "relation":
                continue
            words = text.split()  # is the <first> <relation> the <second>
            first, second = ({o.name: o for o in scene.objects}[w] for w in (words[2], words[-1]))
            targets = train.hop_targets([looks], hops=2, regions=144)[0]
            for hop, obj in ((0, first), (1, second)):
                assert (targets[hop].numpy() == train.object_regions(obj.mask, 12)).all()
            checked += 1
    assert checked >= 20
    one = train.hop_targets([np.eye(1, 4, 2, dtype=bool), train.NO_LOOKS], hops=2, regions=4)
    assert one[0].tolist() == [[False, False, True, False]] * 2 and not one[1].any()


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
