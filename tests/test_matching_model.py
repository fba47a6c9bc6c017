"""The joint image-text space on a tiny config: shapes, unit norm, losses, checkpoint round trip,
the composed space's calls, and the evaluation's ranking, ceiling, tagging and arithmetic maths on
hand-made cases whose answers are known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from multimodal_core.evaluate import matching as evaluation
from multimodal_core.evaluate.metrics import retrieval_ranks, retrieval_scores
from multimodal_core.models.joint_embedding import (
    JointEmbedding,
    JointEmbeddingConfig,
    JointSpace,
    arithmetic,
    search,
)
from multimodal_core.train.matching import named_classes, named_labels
from multimodal_core.world.language import captions
from multimodal_core.world.scenes import scene

CLASSES = ("dog", "cat", "car", "tree")
BACKGROUNDS = ("blue", "red")
WORDS = ("a", "dog", "cat", "car", "tree", "left", "of", "on", "blue", "red")


def tiny_config(**overrides: object) -> JointEmbeddingConfig:
    values: dict = dict(
        class_names=CLASSES, background_names=BACKGROUNDS, feature_dim=8, grid=2, cell_dim=4,
        word_dim=6, text_hidden=5, hidden_dim=12, embed_dim=7,
    )  # fmt: skip
    values.update(overrides)
    return JointEmbeddingConfig(**values)


def inputs(config: JointEmbeddingConfig, batch: int = 4, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    words = 1 if config.text_input == "sentence" else 5
    lengths = torch.tensor([5, 3, 1, 4][:batch]) if words > 1 else torch.ones(batch, dtype=int)
    labels = len(config.label_names)
    targets = torch.eye(labels)[torch.arange(batch) % len(CLASSES)]
    targets[:, len(CLASSES) + torch.arange(batch) % 2] = 1.0  # each picture has a background
    return dict(
        features=torch.rand(batch, config.feature_dim, config.grid, config.grid, generator=g),
        vectors=torch.randn(batch, words, config.word_dim, generator=g),
        lengths=lengths,
        image_targets=targets,
        text_targets=targets,
        class_vectors=(
            torch.randn(labels, 1, config.word_dim, generator=g),
            torch.ones(labels, dtype=torch.long),
        ),
    )


@pytest.mark.parametrize("text_input", ["words", "sentence"])
def test_shapes_unit_norm_no_nans_and_every_parameter_learns(text_input: str) -> None:
    torch.manual_seed(0)
    config = tiny_config(text_input=text_input)
    model = JointEmbedding(config)
    out = model(**inputs(config))
    assert out.images.shape == out.texts.shape == (4, config.embed_dim)
    assert torch.allclose(out.images.norm(dim=-1), torch.ones(4), atol=1e-5)
    assert torch.allclose(out.texts.norm(dim=-1), torch.ones(4), atol=1e-5)
    assert torch.isfinite(out.loss) and out.semantic is not None and out.semantic > 0
    assert torch.isclose(out.loss, out.contrastive + out.semantic)
    out.loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert missing == []


def test_the_ablation_without_semantic_regularization_trains_the_contrastive_loss_alone() -> None:
    torch.manual_seed(0)
    config = tiny_config(semantic_weight=0.0)
    out = JointEmbedding(config)(**inputs(config))
    assert out.semantic > 0 and torch.equal(out.loss, out.contrastive)  # measured, not trained


def test_word_order_changes_the_text_embedding_but_padding_does_not() -> None:
    torch.manual_seed(0)
    model = JointEmbedding(tiny_config()).eval()
    vectors = torch.randn(1, 3, 6)
    padded = torch.cat([vectors, torch.randn(1, 2, 6)], dim=1)  # two padding rows after
    with torch.no_grad():
        a = model.encode_texts(vectors, torch.tensor([3]))
        b = model.encode_texts(vectors.flip(1), torch.tensor([3]))
        c = model.encode_texts(padded, torch.tensor([3]))
    assert not torch.allclose(a, b, atol=1e-4)  # a GRU, not a bag of words
    assert torch.allclose(a, c, atol=1e-6)


def test_the_loss_falls_on_a_tiny_batch_and_the_pairs_come_to_match() -> None:
    torch.manual_seed(0)
    config = tiny_config()
    model = JointEmbedding(config)
    batch = inputs(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = float(model(**batch).loss.detach())
    for _ in range(150):
        out = model(**batch)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    assert float(out.loss.detach()) < 0.2 * first
    with torch.no_grad():
        out = model.eval()(**batch)
        scores = out.images @ out.texts.T
        classes = model.encode_texts(*batch["class_vectors"])
        probs = torch.sigmoid(model.classify(out.images, classes))
    assert torch.equal(scores.argmax(1), torch.arange(4))
    assert torch.equal(probs > 0.5, batch["image_targets"].bool())  # the shared classifier


def test_matching_pairs_are_no_negatives() -> None:
    torch.manual_seed(0)
    config = tiny_config()
    model = JointEmbedding(config)
    batch = inputs(config)
    batch["vectors"][1] = batch["vectors"][0]  # captions 0 and 1 are the same text
    batch["lengths"][1] = batch["lengths"][0]
    matches = torch.eye(4, dtype=torch.bool)
    matches[0, 1] = matches[1, 0] = True
    masked = model(**batch, matches=matches).contrastive
    plain = model(**batch).contrastive
    assert masked < plain  # the identical caption no longer counts against its twin


def test_rejects_wrong_inputs() -> None:
    config = tiny_config()
    model = JointEmbedding(config)
    with pytest.raises(ValueError, match="image features"):
        model.encode_images(torch.rand(2, 8, 3, 3))
    with pytest.raises(ValueError, match="word vectors"):
        model.encode_texts(torch.rand(2, 3, 5), torch.tensor([3, 3]))
    with pytest.raises(ValueError, match="at least one word"):
        model.encode_texts(torch.rand(2, 3, 6), torch.tensor([3, 0]))
    with pytest.raises(ValueError, match="label embeddings"):
        model.classify(torch.rand(2, 7), torch.rand(len(CLASSES), 7))  # the backgrounds missing
    batch = inputs(config)
    del batch["class_vectors"]
    with pytest.raises(ValueError, match="labels"):
        model(**batch)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"class_names": ("dog",)}, "class_names"),
        ({"background_names": ("dog",)}, "distinct"),
        ({"class_scale": 0.0}, "class_scale"),
        ({"text_input": "letters"}, "text_input"),
        ({"embed_dim": 0}, "positive"),
        ({"temperature": 1.5}, "temperature"),
        ({"semantic_weight": -1.0}, "semantic_weight"),
    ],
)
def test_config_validation(overrides: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tiny_config(**overrides)


def test_save_load_round_trip_is_strict_and_identical(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = tiny_config()
    model = JointEmbedding(config).eval()
    model.save_pretrained(tmp_path, dtype=torch.float32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    loaded = JointEmbedding.from_pretrained(tmp_path)
    assert loaded.config == config and not loaded.training
    batch = inputs(config)
    with torch.no_grad():
        a, b = model(**batch), loaded(**batch)
    assert torch.equal(a.images, b.images) and torch.equal(a.texts, b.texts)
    assert torch.equal(a.loss, b.loss)
    values = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**values, "typo": 1}))
    with pytest.raises(ValueError, match="unknown"):
        JointEmbedding.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**values, "embed_dim": 9}))
    with pytest.raises(RuntimeError):  # weights of the wrong shape
        JointEmbedding.from_pretrained(tmp_path)


# ----- the composed space -------------------------------------------------------------------------


def tiny_space(seed: int = 0) -> JointSpace:
    torch.manual_seed(seed)
    model = JointEmbedding(tiny_config())
    vectors = torch.randn(len(WORDS), 6)

    def feature_map(images: torch.Tensor) -> torch.Tensor:  # a stand-in for the frozen CNN
        return torch.nn.functional.avg_pool2d(images, 16).repeat(1, 3, 1, 1)[:, :8]

    return JointSpace(model, feature_map, words=WORDS, vectors=vectors, tokenize=str.split)


def test_the_space_encodes_pictures_and_texts_as_its_model_does() -> None:
    space = tiny_space()
    images = torch.rand(3, 3, 32, 32)
    embedded = space.encode_images(images, batch_size=2)  # in two chunks
    with torch.no_grad():
        direct = space.model.encode_images(space.feature_map(images))
    assert torch.allclose(embedded, direct, atol=1e-6)
    texts = space.encode_texts(["a dog", "a dog on blue zebra", "cat"])
    assert torch.allclose(texts[0], space.encode_texts(["a dog zebra"])[0], atol=1e-6)
    assert space.unknown_words("a dog on blue zebra") == ["zebra"]
    with pytest.raises(ValueError, match="no known word"):
        space.encode_texts(["zebra"])
    tags = space.tags(embedded, threshold=2.0)  # nothing reaches it: the best tag alone
    assert [len(t) for t in tags] == [1, 1, 1] and tags[0][0][0] in CLASSES
    every = space.tags(embedded, threshold=-2.0)
    scores = [s for _, s in every[0]]
    assert len(every[0]) == len(CLASSES) and scores == sorted(scores, reverse=True)
    probabilities = space.label_probabilities(embedded)
    assert probabilities.shape == (3, len(CLASSES) + len(BACKGROUNDS))
    assert bool(((probabilities > 0) & (probabilities < 1)).all())


def test_arithmetic_and_search_on_known_vectors() -> None:
    dog, cat, blue, red = torch.eye(4)
    picture = torch.nn.functional.normalize(dog + blue, dim=0)[None]
    moved = arithmetic(picture, dog[None], cat[None])  # a blue picture with a cat instead
    gallery = torch.nn.functional.normalize(
        torch.stack([dog + blue, cat + blue, cat + red, dog + red]), dim=1
    )
    scores, indices = search(moved, gallery, 2)
    assert indices[0, 0] == 1 and torch.isclose(moved.norm(), torch.tensor(1.0))
    assert scores[0, 0] > scores[0, 1]
    assert search(moved, gallery, 10)[1].shape == (1, 4)  # k is capped at the gallery


# ----- the evaluation's maths ------------------------------------------------------------------


def test_ranks_count_what_scores_higher_and_break_ties_at_random() -> None:
    scores = np.array([[0.9, 0.1, 0.2], [0.8, 0.5, 0.1], [0.3, 0.3, 0.3]])
    ranks = retrieval_ranks(scores, np.random.default_rng(0))
    assert ranks[0] == 1 and ranks[1] == 2  # row 1: one item (0.8) above the true 0.5
    assert ranks[2] in (1, 2, 3)  # three-way tie
    draws = [retrieval_ranks(scores, np.random.default_rng(s))[2] for s in range(300)]
    assert set(draws) == {1, 2, 3} and abs(np.mean(draws) - 2.0) < 0.2
    figures = retrieval_scores(np.array([1, 1, 2, 7, 20]))
    assert figures == {"medr": 2.0, "r1": 0.4, "r5": 0.6, "r10": 0.8}
    with pytest.raises(ValueError, match="square"):
        retrieval_ranks(np.zeros((2, 3)), np.random.default_rng(0))


def test_the_content_oracle_ceiling_is_one_over_the_group_size() -> None:
    # Scenes 0-1 share their content, 2-4 another, 5 is alone: R@1 = (2 * 1/2 + 3 * 1/3 + 1) / 6.
    keys = ["a", "a", "b", "b", "b", "c"]
    assert np.array_equal(evaluation.oracle_scores(keys)[0], [1, 1, 0, 0, 0, 0])
    figures = evaluation.ceiling(keys, draws=1, n=6, seed=0)
    many = [evaluation.ceiling(keys, 1, 6, seed)["r1_t2i"] for seed in range(2000)]
    assert abs(np.mean(many) - 3 / 6) < 0.02
    assert figures["medr_t2i"] <= 2 and figures["r10_i2t"] == 1.0


def test_a_perfect_space_reaches_recall_one_and_a_reversed_one_ranks_last() -> None:
    pairs = torch.eye(5)
    perfect = evaluation.retrieval(pairs, pairs, draws=1, n=5, seed=0)
    assert perfect["r1_t2i"] == perfect["r1_i2t"] == 1.0 and perfect["medr_i2t"] == 1.0
    worst = evaluation.retrieval(pairs, 1 - pairs, draws=1, n=5, seed=0)
    assert worst["r1_t2i"] == 0.0 and worst["medr_t2i"] == 5.0


def test_content_names_classes_with_counts_and_the_background() -> None:
    s = scene(3, size=64)
    names, background = evaluation.content(s)
    assert sum(n for _, n in names) == len(s.objects) and background == s.background.word
    assert evaluation.content(scene(3, size=96)) == evaluation.content(s)  # size is not content


def test_tag_counts_and_the_threshold_that_maximises_f1() -> None:
    similarity = np.array([[0.9, 0.6, 0.1], [0.2, 0.3, 0.8], [0.1, 0.05, 0.0]])
    truth = np.array([[1, 0, 0], [0, 0, 1], [1, 0, 0]], dtype=bool)
    # At 0.5: row 0 tags {0, 1}, row 1 {2}, row 2 nothing above: its best, class 0.
    assert evaluation.tag_counts(similarity, truth, 0.5) == (3, 4, 3)
    assert evaluation.tag_counts(similarity, truth, 0.7) == (3, 3, 3)
    assert 0.6 < evaluation.best_threshold(similarity, truth) <= 0.8


def test_an_arithmetic_answer_holds_y_lacks_x_and_keeps_the_background() -> None:
    scenes = [scene(seed, size=64) for seed in range(40)]
    queries = evaluation.arithmetic_queries(scenes, 10, seed=0)
    assert queries
    for query in queries:
        asked = scenes[query.index]
        assert asked.count(query.minus) and not asked.count(query.plus)
        targets = evaluation.valid_targets(scenes, query)
        assert not targets[query.index]
        for s in np.array(scenes, dtype=object)[targets]:
            assert s.count(query.plus) and not s.count(query.minus)
            assert s.background.word == asked.background.word


def test_a_caption_names_the_classes_it_mentions_longest_noun_first() -> None:
    assert named_classes("a dog to the left of a kitten on grass", ["dog", "cat", "car"]) == {
        "dog",
        "cat",
    }
    assert named_classes("an old man and a man on a red background", ["grandpa", "man"]) == {
        "grandpa",
        "man",
    }
    assert named_classes("an old man on a red background", ["grandpa", "man"]) == {"grandpa"}
    assert named_classes("three objects on a blue background", ["dog"]) == set()
    s = scene(5, size=64)
    canonical = captions(s)[0]
    assert named_labels(canonical, s) == {*s.class_names, s.background.word}
    assert named_labels("a picture of nothing at all", s) == set()
