"""Stacked-attention VQA on a tiny config: shapes, attention, gradients, checkpoints, vocabulary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from multimodal_core.models.vqa import (
    QuestionVocabulary,
    RelationReadout,
    StackedAttentionVQA,
    VQAConfig,
    attention_supervision_loss,
    load_answers,
    save_answers,
    top_k,
)

ANSWERS = ["yes", "no", "dog", "cat", "two"]


def tiny_config(**overrides: object) -> VQAConfig:
    values = dict(
        vocab_size=12,
        num_answers=len(ANSWERS),
        image_size=32,
        encoder_channels=(4, 8),
        feature_dim=8,
        embed_dim=6,
        attention_dim=8,
        classifier_dim=16,
    )
    values.update(overrides)
    return VQAConfig(**values)


def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two images, three questions (two about the second image), padded ids, answers."""
    images = torch.rand(2, 3, 32, 32)
    questions = torch.tensor([[2, 3, 4, 5], [6, 7, 0, 0], [8, 9, 10, 0]])
    return images, questions, torch.tensor([0, 1, 1]), torch.tensor([0, 2, 4])


def test_forward_shapes_attention_and_every_parameter_learns() -> None:
    torch.manual_seed(0)
    config = tiny_config()
    model = StackedAttentionVQA(config)
    images, questions, index, answers = batch()
    out = model(images, questions, index, answers)
    assert out.logits.shape == (3, len(ANSWERS))
    assert out.attention.shape == (3, config.hops, config.num_regions) == (3, 2, 64)
    assert out.count_gates is not None and out.count_gates.shape == (3, 64)
    assert torch.allclose(out.attention.sum(-1), torch.ones(3, 2), atol=1e-5)
    assert ((out.count_gates > 0) & (out.count_gates < 1)).all()
    assert out.loss is not None and torch.isfinite(out.loss)
    assert torch.isfinite(out.logits).all()
    out.loss.backward()
    missing = [
        n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0
    ]
    assert missing == []


def test_features_are_shared_by_the_questions_about_one_image() -> None:
    torch.manual_seed(1)
    model = StackedAttentionVQA(tiny_config()).eval()
    images, questions, index, _ = batch()
    with torch.no_grad():
        shared = model(images, questions, index).logits
        one_by_one = torch.cat(
            [model(images[int(i)][None], questions[r][None]).logits for r, i in enumerate(index)]
        )
    assert torch.allclose(shared, one_by_one, atol=1e-5)
    assert model(images[:1], questions[:1]).loss is None


def test_padding_does_not_change_the_answer() -> None:
    torch.manual_seed(2)
    model = StackedAttentionVQA(tiny_config()).eval()
    image = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        short = model(image, torch.tensor([[6, 7]])).logits
        padded = model(image, torch.tensor([[6, 7, 0, 0, 0]])).logits
    assert torch.allclose(short, padded, atol=1e-6)


def test_question_only_baseline_has_no_image_stream() -> None:
    torch.manual_seed(3)
    model = StackedAttentionVQA(tiny_config(use_image=False))
    assert not any(
        n.startswith(("image_encoder", "hops", "count")) for n, _ in model.named_parameters()
    )
    images, questions, index, answers = batch()
    out = model(images, questions, index, answers)
    assert out.logits.shape == (3, len(ANSWERS)) and out.count_gates is None
    assert out.attention.shape == (3, 0, 0)
    model.eval()
    with torch.no_grad():  # the picture cannot matter
        assert torch.equal(model(images, questions, index).logits,
                           model(torch.rand(2, 3, 32, 32), questions, index).logits)  # fmt: skip


def test_without_count_glimpse_and_with_hop_glimpses() -> None:
    out = StackedAttentionVQA(tiny_config(count_glimpse=False, hops=1))(*batch())
    assert out.count_gates is None and out.attention.shape == (3, 1, 64)
    model = StackedAttentionVQA(tiny_config(hop_glimpses=True))
    out = model(*batch())
    assert out.logits.shape == (3, len(ANSWERS))
    assert out.loss is not None
    out.loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_hop_positions_read_where_each_hop_looked() -> None:
    torch.manual_seed(4)
    model = StackedAttentionVQA(tiny_config(hop_positions=True))
    positions = model.image_encoder.region_positions()
    grid = model.config.grid_size
    row, col = 2, 5  # region ids run row by row, x along a row
    assert torch.allclose(
        positions[row * grid + col],
        torch.tensor([-1 + 2 * col / (grid - 1), -1 + 2 * row / (grid - 1)]),
    )
    out = model(*batch())
    assert out.loss is not None
    out.loss.backward()
    first_layer = model.classifier[1]
    assert first_layer.in_features == 8 + 2 * 2 + 8 + 1  # query, 2 hops x (x, y), count glimpse
    assert first_layer.weight.grad[:, 8:12].abs().sum() > 0  # the positions reach the loss


def test_hop_relations_reach_the_classifier_and_depend_on_which_hop_is_first() -> None:
    torch.manual_seed(7)
    model = StackedAttentionVQA(tiny_config(hop_relations=True))
    out = model(*batch())
    assert out.loss is not None
    out.loss.backward()
    first_layer = model.classifier[1]
    assert first_layer.in_features == 8 + RelationReadout.features + 8 + 1
    assert first_layer.weight.grad[:, 8 : 8 + RelationReadout.features].abs().sum() > 0
    assert all(p.grad is not None for p in model.relations.parameters())
    where = torch.tensor([[[-0.7, 0.0], [0.7, 0.0]]])
    question = torch.randn(1, 8)
    with torch.no_grad():
        ahead, behind = model.relations(where, question), model.relations(where.flip(1), question)
    assert not torch.allclose(ahead, behind)  # "a left of b" is not "b left of a"


def test_relation_readout_learns_grid_relations_from_two_positions() -> None:
    """The comparison the world's relation questions need: cells of a 3 x 3 grid, positions
    jittered inside them, and which relation is asked only in the question vector."""
    torch.manual_seed(8)
    config = tiny_config(hop_relations=True)
    readout = RelationReadout(config)
    head = torch.nn.Linear(RelationReadout.features, 2)
    relation_vectors = torch.randn(4, config.feature_dim)  # left of, right of, above, below

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cells = torch.randint(0, 3, (n, 2, 2))  # (n, object, (column, row))
        where = cells * (2 / 3) - 2 / 3 + (torch.rand(n, 2, 2) - 0.5) * 0.3
        relation = torch.randint(0, 4, (n,))
        (c1, r1), (c2, r2) = cells[:, 0].T, cells[:, 1].T
        holds = torch.stack([c1 < c2, c1 > c2, r1 < r2, r1 > r2], 1)[torch.arange(n), relation]
        return where, relation_vectors[relation], holds.long()

    optimizer = torch.optim.Adam([*readout.parameters(), *head.parameters()], lr=1e-2)
    for _ in range(200):
        where, question, holds = sample(128)
        loss = torch.nn.functional.cross_entropy(head(readout(where, question)), holds)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    where, question, holds = sample(2000)
    with torch.no_grad():
        accuracy = (head(readout(where, question)).argmax(1) == holds).float().mean()
    assert accuracy > 0.97, accuracy


def test_attention_supervision_loss_is_the_mass_on_each_hops_target() -> None:
    attention = torch.tensor([[[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]], [[0.2, 0.2, 0.6], [1, 0, 0]]])
    targets = torch.tensor([[[1, 1, 0], [0, 0, 1]], [[0, 0, 0], [0, 0, 0]]], dtype=torch.bool)
    loss = attention_supervision_loss(attention, targets)  # question 2 has no target: left out
    assert torch.isclose(loss, -(torch.log(torch.tensor(0.8)) + torch.log(torch.tensor(0.8))) / 2)
    none = attention_supervision_loss(attention.requires_grad_(), torch.zeros_like(targets))
    assert none.item() == 0.0 and none.requires_grad
    with pytest.raises(ValueError, match="differ"):
        attention_supervision_loss(attention, targets[:, :1])


def test_attention_supervision_sends_each_hop_where_it_is_told() -> None:
    torch.manual_seed(6)
    model = StackedAttentionVQA(tiny_config())
    images, questions, image_index, _ = batch()
    n = model.config.num_regions
    targets = torch.zeros(3, 2, n, dtype=torch.bool)
    targets[:, 0, :4] = True  # hop 1: the top-left regions; hop 2: the last ones
    targets[:, 1, -4:] = True
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        attention = model(images, questions, image_index).attention
        loss = attention_supervision_loss(attention, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        attention = model(images, questions, image_index).attention
    mass = (attention * targets).sum(-1)  # (Q, hops); 4 of 16 regions: 0.25 by chance
    assert (mass > 0.8).all(), mass


def test_question_attention_learns_and_ignores_padding() -> None:
    torch.manual_seed(5)
    config = tiny_config(question_attention=True, hop_glimpses=True, hop_positions=True)
    model = StackedAttentionVQA(config)
    out = model(*batch())
    assert out.loss is not None
    out.loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    # what each hop reads from the words reaches the loss (a softmax score's bias never does)
    for read in model.reads:
        assert read.project.weight.grad.abs().sum() > 0
        assert read.score.weight.grad.abs().sum() > 0
    model.eval()
    image = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        short = model(image, torch.tensor([[6, 7]])).logits
        padded = model(image, torch.tensor([[6, 7, 0, 0, 0]])).logits
        other = model(image, torch.tensor([[7, 6]])).logits
    assert torch.allclose(short, padded, atol=1e-6)
    assert not torch.allclose(short, other, atol=1e-4)


def test_rejects_wrong_inputs() -> None:
    model = StackedAttentionVQA(tiny_config())
    images, questions, index, _ = batch()
    with pytest.raises(ValueError, match="expected images of shape"):
        model(torch.rand(1, 3, 31, 32), questions[:1])
    with pytest.raises(ValueError, match="image_index"):
        model(images, questions, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="past the images"):
        model(images, questions, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="answers"):
        model(images, questions, index, torch.tensor([0]))
    with pytest.raises(ValueError, match="question ids"):
        model(images, torch.zeros(2, 0, dtype=torch.long))


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"vocab_size": 2}, "vocab_size"),
        ({"num_answers": 1}, "num_answers"),
        ({"image_size": 30}, "divisible"),
        ({"dropout": 1.0}, "dropout"),
        ({"unk_id": 0}, "distinct"),
        ({"hops": 0}, "hops"),
        ({"hop_relations": True, "hops": 1}, "hop_relations"),
        ({"hop_relations": True, "use_image": False}, "hop_relations"),
    ],
)
def test_config_validation(overrides: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tiny_config(**overrides)


def test_save_load_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(4)
    model = StackedAttentionVQA(tiny_config()).eval()
    model.save_pretrained(tmp_path, dtype=torch.float32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    loaded = StackedAttentionVQA.from_pretrained(tmp_path)
    assert loaded.config == model.config and not loaded.training
    images, questions, index, _ = batch()
    with torch.no_grad():
        a, b = model(images, questions, index), loaded(images, questions, index)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.attention, b.attention)


def test_float16_checkpoint_is_close_and_load_is_strict(tmp_path: Path) -> None:
    torch.manual_seed(5)
    model = StackedAttentionVQA(tiny_config()).eval()
    model.save_pretrained(tmp_path)
    loaded = StackedAttentionVQA.from_pretrained(tmp_path)
    assert next(loaded.parameters()).dtype == torch.float32
    images, questions, index, _ = batch()
    with torch.no_grad():
        close = torch.allclose(model(images, questions, index).logits,
                               loaded(images, questions, index).logits, atol=1e-2)  # fmt: skip
    assert close
    config = json.loads((tmp_path / "config.json").read_text())
    config["surprise"] = 1
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="surprise"):
        StackedAttentionVQA.from_pretrained(tmp_path)
    del config["surprise"]
    config["feature_dim"] = 16  # weights no longer fit
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(RuntimeError, match="size mismatch"):
        StackedAttentionVQA.from_pretrained(tmp_path)


def test_vocabulary_and_answers(tmp_path: Path) -> None:
    vocab = QuestionVocabulary.build(["Is there an apple?", "how many dogs are there"])
    assert vocab.words[:2] == ["<pad>", "<unk>"] and "an" not in vocab and "a" in vocab
    assert vocab.tokenize("Is there AN Airplane?") == ["is", "there", "a", "airplane"]
    assert vocab.unknown("is there a puppy puppy") == ["puppy"]
    ids = vocab.encode("is there a puppy")
    assert ids[-1] == vocab.index["<unk>"] and len(ids) == 4
    assert vocab.encode("???") == [vocab.index["<unk>"]]
    assert vocab.encode_batch(["is there", "how many dogs are there"]).shape == (2, 5)
    vocab.save(tmp_path)
    save_answers(ANSWERS, tmp_path)
    assert QuestionVocabulary.from_pretrained(tmp_path).words == vocab.words
    assert load_answers(tmp_path) == ANSWERS
    with pytest.raises(ValueError, match="start with"):
        QuestionVocabulary(["a", "b"])


def test_top_k_is_sorted_and_from_the_vocabulary() -> None:
    logits = torch.tensor([[0.0, 3.0, 1.0, -1.0, 2.0]])
    best = top_k(logits, ANSWERS, k=3)[0]
    assert [a for a, _ in best] == ["no", "two", "dog"]
    assert all(a in ANSWERS for a, _ in best)
    assert best[0][1] > best[1][1] > best[2][1] and sum(
        p for _, p in top_k(logits, ANSWERS, 5)[0]
    ) == pytest.approx(1.0)
