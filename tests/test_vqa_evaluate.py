"""The VQA evaluation's measure of where the attention hops look."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from multimodal_core.evaluate import vqa as evaluate
from multimodal_core.models.vqa import QuestionVocabulary, VQAConfig
from multimodal_core.world.qa_stores import hop_targets, world_store


class _Looker:
    """A stand-in model whose hops look evenly over the regions they are given."""

    def __init__(self, config: VQAConfig, targets: torch.Tensor) -> None:
        self.config, self.targets = config, targets

    def __call__(self, images: torch.Tensor, questions: torch.Tensor, index: torch.Tensor):
        attention = self.targets.float()
        return SimpleNamespace(attention=attention / attention.sum(-1, keepdim=True).clamp(1e-9))


def test_looks_scores_hop_peaks_against_the_questions_objects() -> None:
    store = world_store("validation", 12, 96, grid=12)
    (batch,) = store.batches()
    config = VQAConfig(vocab_size=10, num_answers=5)
    targets = hop_targets(batch.looks, config.hops, config.num_regions)
    vocab = QuestionVocabulary(["<pad>", "<unk>"])
    assert "relation" in batch.types and targets.any()
    right = evaluate._looks((_Looker(config, targets), vocab), [batch])
    assert right == {
        "hop_on_object": 1.0,
        "relation_hop1_on_first": 1.0,
        "relation_hop2_on_second": 1.0,
    }
    # Swapping the hops of two-object questions: each hop now looks at the other noun.
    swapped = targets.clone()
    two = [q for q, look in enumerate(batch.looks) if len(look) == 2]
    swapped[two] = targets[two].flip(1)
    wrong = evaluate._looks((_Looker(config, swapped), vocab), [batch])
    assert wrong["relation_hop1_on_first"] == wrong["relation_hop2_on_second"] == 0.0
    assert 0.0 < wrong["hop_on_object"] < 1.0  # one-object questions still look right
    question_only = VQAConfig(vocab_size=10, num_answers=5, use_image=False)
    assert (
        evaluate._looks((_Looker(question_only, targets), vocab), [batch])["hop_on_object"] is None
    )
