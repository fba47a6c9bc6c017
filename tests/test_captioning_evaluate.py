"""The captioning evaluation's claim reader and metrics, checked on the world's true references."""

from __future__ import annotations

import argparse
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from multimodal_core.evaluate import captioning as captioning_evaluation
from multimodal_core.evaluate.captioning import ClaimTally, read_claims
from multimodal_core.evaluate.metrics import caption_scores, precision_recall_f1
from multimodal_core.models.show_and_tell import ShowAndTell, ShowAndTellConfig
from multimodal_core.models.show_attend_tell import ShowAttendTell, ShowAttendTellConfig, Vocabulary
from multimodal_core.settings import get_settings
from multimodal_core.world import language
from multimodal_core.world.splits import scene_in_split


def test_every_reference_is_read_as_true() -> None:
    """References are true by construction: the reader must find no false claim in them."""
    tally = ClaimTally()
    for index in range(60):
        scene = scene_in_split("train", index, size=64)
        for caption in language.captions(scene):
            tally.add(caption, scene)
    summary = tally.summary()
    assert summary["object_precision"] == 1.0
    assert summary["count_acc"] == 1.0
    assert summary["position_acc"] == 1.0 and tally.positions_stated > 20
    assert summary["relation_acc"] == 1.0 and tally.relations_stated > 5
    assert summary["background_acc"] == 1.0


def test_claims_of_a_caption() -> None:
    claims = read_claims(
        "two large cats and an old man in the top left to the right of a schoolgirl on the grass"
    )
    assert [names for names, _ in claims.objects] == [("cat",), ("grandpa",), ("girl",)]
    assert [count for _, count in claims.objects] == [2, 1, 1]
    assert claims.positions == [(1, "top left")]
    assert claims.relations == [(1, "to the right of", 2)]
    assert claims.background == "grass"
    assert read_claims("three objects on a blue background").total == 3


def test_wrong_captions_are_caught() -> None:
    scene = scene_in_split("train", 0, size=64)
    absent = next(c for c in ("elephant", "pizza", "drum", "key") if not scene.count(c))
    tally = ClaimTally()
    tally.add(f"five {absent}s on a background", scene)
    summary = tally.summary()
    assert summary["object_precision"] == 0.0 and summary["object_recall"] == 0.0
    assert math.isnan(summary["position_acc"])


def test_caption_scores_and_f1() -> None:
    refs = [["a dog on a red background", "there is a dog on a red background"]]
    perfect = caption_scores(["a dog on a red background"], refs)
    assert perfect["bleu4"] == pytest.approx(1.0, abs=1e-6)
    worse = caption_scores(["a cat on the grass"], refs)
    assert worse["bleu4"] < 0.1
    assert precision_recall_f1(3, 4, 6) == pytest.approx(
        {"precision": 0.75, "recall": 0.5, "f1": 0.6}
    )


@pytest.fixture()
def tiny_checkpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Random 32 px checkpoints of both built-in models, the world's vocabulary, in their
    folders of a checkpoints folder that the settings point at."""
    vocab = Vocabulary.build(["a dog on a red background", "two cats on the grass"])
    shared = dict(
        vocab_size=len(vocab), image_size=32, encoder_channels=(4, 8), encoder_dim=8,
        embed_dim=8, decoder_dim=16, max_length=6,
    )  # fmt: skip
    torch.manual_seed(0)
    models = {
        "captioning": ShowAttendTell(ShowAttendTellConfig(**shared, attention_dim=8)),
        "show_and_tell": ShowAndTell(ShowAndTellConfig(**shared, image_dim=16)),
    }
    for folder, model in models.items():
        model.save_pretrained(tmp_path / folder)
        vocab.save(tmp_path / folder)
    monkeypatch.setenv("MMC_CHECKPOINTS_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    monkeypatch.delenv("MMC_CHECKPOINTS_DIR")
    get_settings.cache_clear()


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    captioning_evaluation.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_model_choice_and_figures_by_number_of_objects(tiny_checkpoints: Path) -> None:
    assert _args().model == "show_attend_tell"  # today's behaviour stays the default
    results = {}
    for name in ("show_attend_tell", "show_and_tell"):
        results[name] = captioning_evaluation.run(_args("--model", name, "--n", "12", "--no-sweep"))
        result = results[name]
        assert result["model"] == name and result["n"] == 12
        folder = "captioning" if name == "show_attend_tell" else "show_and_tell"
        assert result["checkpoint"] == str(tiny_checkpoints / folder)
        for decoder in captioning_evaluation.DECODERS:
            groups = result["results"][decoder]["by_objects"]
            assert sum(g["scenes"] for g in groups.values()) == 12
            assert set(groups) <= {"1", "2", "3", "4"} and len(groups) > 1
    # Random models caption the same scenes differently: each run read its own checkpoint.
    assert (
        results["show_and_tell"]["results"]["greedy"]["examples"]
        != (results["show_attend_tell"]["results"]["greedy"]["examples"])
    )
    table = captioning_evaluation.ablation_table(results)
    assert table.count("| show_and_tell | greedy |") == 1 + len(groups)  # overall + by objects
    assert "| show_attend_tell | beam5 |" in table and "| beam3 |" not in table


def test_by_objects_counts_each_group_alone() -> None:
    scenes = [scene_in_split("train", index, size=64) for index in range(30)]
    references = [language.captions(s) for s in scenes]
    truths = [refs[0] for refs in references]
    groups = captioning_evaluation.by_objects(truths, scenes, references)
    sizes = Counter(str(len(s.objects)) for s in scenes)
    assert {count: g["scenes"] for count, g in groups.items()} == dict(sizes)
    assert len(groups) > 1
    for group in groups.values():  # true captions: right in every group
        assert group["bleu4"] == pytest.approx(1.0, abs=1e-6)
        assert group["object_f1"] == 1.0 and group["count_acc"] == 1.0
