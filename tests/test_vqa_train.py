"""Pieces of the VQA training entry point: arguments, validation accuracy, vocabulary, the
checkpoint it keeps, and a short run that resumes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from multimodal_core.evaluate.metrics import vqa_accuracy
from multimodal_core.models.vqa import QuestionVocabulary, StackedAttentionVQA, VQAConfig
from multimodal_core.train import vqa as train
from multimodal_core.world import language
from multimodal_core.world.qa_stores import world_store


def test_arguments_and_default_folders() -> None:
    args = train.parse_args(["--data", "easyvqa", "--question-only", "--minutes", "2"])
    assert args.data == "easyvqa" and args.question_only and args.minutes == 2.0
    assert args.out is not None and args.out.name == "vqa_easyvqa_question_only"
    assert train.parse_args(["--out", "/tmp/x"]).out == Path("/tmp/x")
    with pytest.raises(ValueError, match="--data"):
        train.TrainArgs(data="coco")


def test_accuracy_counts_per_type() -> None:
    store = world_store("validation", 4, 32)
    vocab = QuestionVocabulary.build([q for b in store.batches() for q in b.questions])
    config = VQAConfig(vocab_size=len(vocab), num_answers=len(language.ANSWERS), image_size=32,
                       encoder_channels=(4, 8), feature_dim=8, embed_dim=6, attention_dim=8,
                       classifier_dim=16)  # fmt: skip
    torch.manual_seed(0)
    scores = vqa_accuracy(StackedAttentionVQA(config), vocab, store.batches(2))
    assert scores["n"] == sum(len(b.questions) for b in store.batches())
    assert 0.0 <= scores["acc"] <= 1.0 and set(scores["per_type"]) <= set(language.QUESTION_TYPES)


def test_easyvqa_vocabulary_nouns() -> None:
    vocab = train.easyvqa_vocabulary()
    assert {"circle", "red"} <= set(vocab.nouns) and "yes" not in vocab.nouns


def test_the_kept_checkpoint_is_chosen_by_overall_plus_weakest_type() -> None:
    lopsided = {"acc": 0.9933, "per_type": {"count": 0.995, "relation": 0.901}}
    balanced = {"acc": 0.9916, "per_type": {"count": 0.990, "relation": 0.947}}
    assert train.selection_score(balanced) > train.selection_score(lopsided)
    assert train.selection_score({"acc": -1.0}) < train.selection_score(lopsided)  # no best yet


@pytest.mark.slow
def test_a_short_run_writes_a_checkpoint_and_resumes(tmp_path: Path) -> None:
    """Two steps on world scenes with attention supervision, then a resume to a third."""
    threads = torch.get_num_threads()
    args = train.parse_args(
        ["--out", str(tmp_path / "out"), "--run-dir", str(tmp_path / "run"), "--max-steps", "2",
         "--image-size", "32", "--scenes-per-step", "4", "--buffer-size", "8",
         "--fresh-per-step", "1", "--val-scenes", "4", "--val-every", "1", "--look-weight", "0.5"]
    )  # fmt: skip
    try:
        record = train.train(args)
        assert record["total_steps"] == 2 and record["data"] == "world"
        model = StackedAttentionVQA.from_pretrained(tmp_path / "out")
        vocab = QuestionVocabulary.from_pretrained(tmp_path / "out")
        assert model.config.vocab_size == len(vocab) and model.config.image_size == 32
        resumed = train.train(replace(args, resume=True, max_steps=3))
        assert resumed["total_steps"] == 3
    finally:
        torch.set_num_threads(threads)
