"""Evaluate the world classifier (the text-to-image judge) on held-out scenes: ``python -m
multimodal_core.evaluate world-classifier [--json]``.

On ``--scenes`` test scenes of each kind it was trained on (one large centred object; grids of
one or two objects; grids of one to four) it reports set accuracy (its top-k classes are exactly
the scene's k classes), per-object recall in the top k, and background accuracy; for the centred
kind (what the GAN draws) also the per-class accuracy and the classes it confuses most. The last
line printed is one JSON object.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import torch

from multimodal_core.evaluate.metrics import judge_scores
from multimodal_core.models.world_classifier import WorldClassifier
from multimodal_core.settings import get_settings
from multimodal_core.world.scene_mix import SCENE_MIX, scene_targets
from multimodal_core.world.splits import scene_in_split

KIND_NAMES: tuple[str, ...] = ("centred", "grid_1_2", "grid_1_4")  # the order of SCENE_MIX


def evaluate(judge_dir: Path, n_scenes: int = 1000) -> dict:
    """Every figure of the module docstring, as a dict."""
    judge = WorldClassifier.from_pretrained(judge_dir)
    size = judge.config.image_size
    result: dict = {"scenes_per_kind": n_scenes}
    for name, (_, options) in zip(KIND_NAMES, SCENE_MIX, strict=True):
        scenes = [
            scene_in_split("test", i, held_out_ok=True, size=size, **options)
            for i in range(n_scenes)
        ]
        images, objects, backgrounds = scene_targets(scenes)
        for key, value in judge_scores(judge, images, objects, backgrounds).items():
            result[f"{name}_{key}"] = round(value, 4)
        if name == "centred":
            with torch.inference_mode():
                top = torch.cat(
                    [
                        judge(images[i : i + 256]).object_logits.argmax(1)
                        for i in range(0, n_scenes, 256)
                    ]
                )
            names = judge.config.class_names
            truth = [s.objects[0].name for s in scenes]
            per_class: dict[str, list[bool]] = {}
            confusions: Counter[str] = Counter()
            for t, p in zip(truth, top.tolist(), strict=True):
                per_class.setdefault(t, []).append(names[p] == t)
                if names[p] != t:
                    confusions[f"{t} -> {names[p]}"] += 1
            result["centred_per_class"] = {
                c: round(sum(v) / len(v), 3) for c, v in sorted(per_class.items())
            }
            result["centred_confusions"] = dict(confusions.most_common(8))
    return result


def markdown_table(result: dict) -> str:
    lines = ["| scenes | set accuracy | object recall | background |", "|---|---|---|---|"]
    for name in KIND_NAMES:
        lines.append(
            f"| {name} | {result[f'{name}_set_acc']:.3f} | {result[f'{name}_object_recall']:.3f} "
            f"| {result[f'{name}_background_acc']:.3f} |"
        )
    worst = sorted(result["centred_per_class"].items(), key=lambda kv: kv[1])[:5]
    lines += ["", "weakest classes (centred): " + ", ".join(f"{c} {v:.2f}" for c, v in worst)]
    lines += [
        "confusions: " + ", ".join(f"{k} ({n})" for k, n in result["centred_confusions"].items())
    ]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--judge", type=Path, default=get_settings().checkpoints_dir / "world_classifier"
    )
    parser.add_argument("--scenes", type=int, default=1000, help="held-out scenes per kind")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", action="store_true", help="the JSON line is always last")


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    result = evaluate(args.judge, args.scenes)
    print(markdown_table(result))
    return result
