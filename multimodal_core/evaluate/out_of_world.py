"""Evaluate the out-of-world score on held-out material: ``python -m multimodal_core.evaluate
out-of-world [--json]``.

World: ``--scenes`` test-split scenes as the tasks see them (seeds the training never reads).
Not world: the held-out photos of :mod:`multimodal_core.world.real_pictures` (whole sources the
head never saw in any form), whole and as greyscale, rotated, mirrored and cropped copies. For
each it reports the share flagged out of the world at the head's stored threshold, and the same
for two baselines a skeptic would try first, each with its threshold set on validation scenes:
the world classifier's top object probability, and the built-in captioner's mean log
probability per word (its old out-of-world warning, without the object-count rule). The last
line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from multimodal_core import media
from multimodal_core.decoding import beam_search
from multimodal_core.models.out_of_world import OutOfWorldHead
from multimodal_core.models.show_attend_tell import ShowAttendTell
from multimodal_core.models.world_classifier import WorldClassifier
from multimodal_core.settings import get_settings
from multimodal_core.world import real_pictures

BASELINE_SCENES = range(6000, 8000)
"""Validation indices that set the baselines' thresholds: after the head's fit (0..2999) and
calibration (3000..5999) scenes, so no baseline borrows the head's data."""


def _batches(pictures: list[np.ndarray], size: int, batch: int = 256):
    for i in range(0, len(pictures), batch):
        yield media.square_batch(pictures[i : i + batch], size)


@torch.inference_mode()
def head_scores(classifier: WorldClassifier, head: OutOfWorldHead, pictures: list) -> np.ndarray:
    """The head's world probability of each picture."""
    size = classifier.config.image_size
    parts = [
        head(classifier.feature_statistics(x)).world_probability for x in _batches(pictures, size)
    ]
    return torch.cat(parts).numpy()


@torch.inference_mode()
def top_object_probability(classifier: WorldClassifier, pictures: list) -> np.ndarray:
    """The world classifier's most confident object: a scene always holds one it knows."""
    size = classifier.config.image_size
    parts = [classifier(x).object_logits.sigmoid().amax(1) for x in _batches(pictures, size)]
    return torch.cat(parts).numpy()


@torch.inference_mode()
def caption_mean_log_prob(captioner: ShowAttendTell, pictures: list) -> np.ndarray:
    """Mean log probability per token of the captioner's best beam (beam 5, as the tab);
    -inf when no beam ended its sentence, which the old warning also flagged."""
    size = captioner.config.image_size
    scores = []
    for x in _batches(pictures, size, batch=64):
        for hyps in beam_search(captioner, x, 5):
            best = hyps[0]
            mean = best.log_prob / max(len(best.token_log_probs), 1)
            scores.append(mean if best.finished else -np.inf)
    return np.array(scores)


def _flagged(scores: np.ndarray, threshold: float) -> float:
    return float((scores < threshold).mean())


def evaluate(args: argparse.Namespace) -> dict:
    """Every figure of the module docstring, as a dict."""
    classifier = WorldClassifier.from_pretrained(args.classifier)
    head = OutOfWorldHead.from_pretrained(args.head)
    world = real_pictures.world_pictures("test", 0, args.scenes, held_out_ok=True)
    rng = np.random.default_rng(args.seed)
    photos, sources = real_pictures.real_pictures(real_pictures.HELD_OUT_SOURCES, rng, args.crops)
    whole = [real_pictures.source_pictures(s)[0] for s in sorted(set(sources))]
    validation = real_pictures.world_pictures(
        "validation", BASELINE_SCENES.start, len(BASELINE_SCENES)
    )

    threshold = head.config.threshold
    world_p, photo_p = head_scores(classifier, head, world), head_scores(classifier, head, photos)
    whole_p = head_scores(classifier, head, whole)
    per_source = {
        s: _flagged(photo_p[np.array(sources) == s], threshold) for s in sorted(set(sources))
    }
    result: dict = {
        "threshold": round(threshold, 6),
        "n_world": len(world),
        "n_photos": len(photos),
        "n_photo_sources": len(whole),
        "world_flagged": round(_flagged(world_p, threshold), 4),
        "photos_flagged": round(_flagged(photo_p, threshold), 4),
        "whole_photos_flagged": round(_flagged(whole_p, threshold), 4),
        "photos_flagged_by_source": {s: round(v, 3) for s, v in per_source.items()},
        "world_flag_target": 0.02,
        "photos_flag_target": 1.0,
    }
    baselines = {"classifier_top_probability": lambda p: top_object_probability(classifier, p)}
    if not args.no_caption_baseline:
        captioner = ShowAttendTell.from_pretrained(args.captioner)
        baselines["caption_mean_log_prob"] = lambda p: caption_mean_log_prob(captioner, p)
    for name, score in baselines.items():
        on_world, on_photos = score(world), score(photos)
        cuts = {name: float(np.quantile(score(validation), args.baseline_world_rate))}
        if name == "caption_mean_log_prob":  # the old warning at its own shipped threshold too
            config = json.loads((args.captioner / "generation_config.json").read_text())
            cuts["caption_shipped_threshold"] = float(config["out_of_world_mean_log_prob"])
        for label, cut in cuts.items():
            result[f"baseline_{label}"] = {
                "threshold": round(cut, 4),
                "world_flagged": round(_flagged(on_world, cut), 4),
                "photos_flagged": round(_flagged(on_photos, cut), 4),
            }
    return result


def markdown_table(result: dict) -> str:
    rows = [("out-of-world head (this model)", result)]
    rows += [
        (k.removeprefix("baseline_"), v) for k, v in result.items() if k.startswith("baseline_")
    ]
    lines = [
        f"{result['n_world']} held-out world scenes, {result['n_photos']} pictures from "
        f"{result['n_photo_sources']} held-out photos",
        "",
        "| score | world scenes flagged (target <= 2%) | held-out photos flagged (target 100%) |",
        "|---|---|---|",
    ]
    lines += [f"| {n} | {v['world_flagged']:.1%} | {v['photos_flagged']:.1%} |" for n, v in rows]
    lines += [
        "",
        f"whole held-out photos flagged: {result['whole_photos_flagged']:.0%}; by source: "
        + ", ".join(f"{s} {v:.0%}" for s, v in result["photos_flagged_by_source"].items()),
    ]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    checkpoints = get_settings().checkpoints_dir
    parser.add_argument("--head", type=Path, default=checkpoints / "out_of_world")
    parser.add_argument("--classifier", type=Path, default=checkpoints / "world_classifier")
    parser.add_argument("--captioner", type=Path, default=checkpoints / "captioning")
    parser.add_argument("--scenes", type=int, default=3000, help="held-out world scenes")
    parser.add_argument("--crops", type=int, default=20, help="random crops per held-out photo")
    parser.add_argument("--seed", type=int, default=1, help="seeds the crops (training used 0)")
    parser.add_argument(
        "--baseline-world-rate", type=float, default=0.01,
        help="share of validation scenes the baselines flag (as the head's calibration)",
    )  # fmt: skip
    parser.add_argument(
        "--no-caption-baseline", action="store_true", help="skip the captioner (slowest part)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", action="store_true", help="the JSON line is always last")


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    result = evaluate(args)
    print(markdown_table(result))
    return result
