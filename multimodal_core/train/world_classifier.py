"""Train the world classifier (the text-to-image judge): ``python -m
multimodal_core.train.world_classifier``.

Every step renders a fresh batch of training scenes at the judge's resolution: a mix of one
large centred object (what the GAN's curriculum draws first), grid scenes of one or two objects
(what the GAN draws later) and fuller grid scenes of up to four (for reuse by other tabs). The
validation split, drawn with the same mix, picks the best checkpoint by the mean of its set
accuracy (the top-k classes are exactly the scene's k classes) and background accuracy; it is
written to ``--out`` (config.json, fp16 model.safetensors, training.json). Resume state goes to
``--run-dir``; ``--resume`` continues from it.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from multimodal_core.models.world_classifier import WorldClassifier, WorldClassifierConfig
from multimodal_core.settings import REPO_ROOT
from multimodal_core.world.backgrounds import BACKGROUND_WORDS
from multimodal_core.world.catalogue import CLASS_NAMES
from multimodal_core.world.scenes import Scene
from multimodal_core.world.splits import scene_in_split

logger = logging.getLogger(__name__)

SCENE_MIX: tuple[tuple[float, dict], ...] = (
    (0.4, {"layout": "center", "n_objects": (1, 1)}),
    (0.4, {"layout": "grid", "n_objects": (1, 2)}),
    (0.2, {"layout": "grid", "n_objects": (1, 4)}),
)
"""(share, scene options): the kinds of picture the judge learns from, in the order of the
index cycle below (item i uses the kind of ``i % 10``)."""
_KIND_OF_SLOT = [k for k, (share, _) in enumerate(SCENE_MIX) for _ in range(round(share * 10))]


def scene_options(index: int) -> dict:
    """Scene options of the ``index``-th scene of any split: the mix is a fixed cycle of 10."""
    return SCENE_MIX[_KIND_OF_SLOT[index % len(_KIND_OF_SLOT)]][1]


def world_scene(split: str, index: int, size: int, *, held_out_ok: bool = False) -> Scene:
    """The ``index``-th scene of ``split`` in the judge's mix."""
    return scene_in_split(split, index, held_out_ok=held_out_ok, size=size, **scene_options(index))


def scene_targets(scenes: list[Scene]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """images (B, 3, S, S) float in [0, 1], object multi-hot (B, C), background ids (B,)."""
    images = torch.from_numpy(np.stack([s.image for s in scenes])).permute(0, 3, 1, 2)
    objects = torch.zeros((len(scenes), len(CLASS_NAMES)))
    for row, s in enumerate(scenes):
        for name in s.class_names:
            objects[row, CLASS_NAMES.index(name)] = 1.0
    backgrounds = torch.tensor([BACKGROUND_WORDS.index(s.background.word) for s in scenes])
    return images.float().div_(255.0), objects, backgrounds


@torch.inference_mode()
def judge_scores(
    model: WorldClassifier, images: torch.Tensor, objects: torch.Tensor, backgrounds: torch.Tensor
) -> dict[str, float]:
    """Set accuracy (top-k classes == the k true ones), mean per-object recall in the top-k,
    background accuracy."""
    was_training = model.training
    model.eval()
    set_hits, object_hits, n_objects, bg_hits = 0, 0, 0, 0
    for start in range(0, len(images), 256):
        out = model(images[start : start + 256])
        truth = objects[start : start + 256]
        for logits, target in zip(out.object_logits, truth, strict=True):
            k = int(target.sum())
            top = set(logits.topk(k).indices.tolist())
            wanted = set(target.nonzero().flatten().tolist())
            set_hits += top == wanted
            object_hits += len(top & wanted)
            n_objects += k
        bg_hits += int((out.background_logits.argmax(1) == backgrounds[start : start + 256]).sum())
    model.train(was_training)
    n = len(images)
    return {
        "set_acc": set_hits / n,
        "object_recall": object_hits / n_objects,
        "background_acc": bg_hits / n,
    }


@dataclass
class TrainArgs:
    """Arguments of one training run (each is also a ``--flag``)."""

    out: Path = REPO_ROOT / "checkpoints" / "world_classifier"  # best checkpoint
    run_dir: Path = REPO_ROOT / "runs" / "world_classifier"  # resume state (git-ignored)
    image_size: int = 64  # the GAN's resolution
    minutes: float = 10.0  # wall-clock budget, validation included
    max_steps: int = 0  # stop after this many steps as well (0: only the time budget)
    batch_size: int = 64
    lr: float = 2e-3  # AdamW; cosine-decayed over the time budget to lr * min_lr_fraction
    min_lr_fraction: float = 0.05
    weight_decay: float = 1e-4
    seed: int = 0
    val_scenes: int = 1000
    val_every: int = 500
    threads: int = 1  # torch threads; other jobs share the machine's two cores
    resume: bool = False
    log_every: int = 100


def parse_args(argv: list[str] | None = None) -> TrainArgs:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    for f in fields(TrainArgs):
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            parser.add_argument(flag, action="store_true")
        else:
            kind = {"Path": Path, "int": int, "float": float}[str(f.type)]
            parser.add_argument(flag, type=kind, default=f.default)
    return TrainArgs(**vars(parser.parse_args(argv)))


def learning_rate(args: TrainArgs, elapsed: float) -> float:
    """Cosine decay over the wall-clock budget, from lr to lr * min_lr_fraction."""
    progress = min(elapsed / (args.minutes * 60.0), 1.0)
    floor = args.min_lr_fraction
    return args.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def train(args: TrainArgs) -> dict:
    """Run (or resume) training; returns the record of the best checkpoint."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    state_file = args.run_dir / "state.pt"
    resume = (
        torch.load(state_file, weights_only=True) if args.resume and state_file.exists() else None
    )
    config = WorldClassifierConfig(CLASS_NAMES, BACKGROUND_WORDS, image_size=args.image_size)
    model = WorldClassifier(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    step, elapsed, best, next_scene = 0, 0.0, {"score": -1.0}, 0
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        step, elapsed = int(resume["step"]), float(resume["elapsed"])
        best, next_scene = json.loads(resume["best"]), int(resume["next_scene"])
        logger.info("resumed at step %d, %.1f min", step, elapsed / 60)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("model: %d parameters; args %s", n_params, args)

    start = time.perf_counter()
    val = scene_targets(
        [world_scene("validation", i, args.image_size) for i in range(args.val_scenes)]
    )
    logger.info("validation scenes rendered in %.1f s", time.perf_counter() - start)
    command = "python -m multimodal_core.train.world_classifier " + shlex.join(sys.argv[1:])
    model.train()
    clock = time.perf_counter() - elapsed
    window, window_start, render_s = [], time.perf_counter(), 0.0
    while True:
        elapsed = time.perf_counter() - clock
        if elapsed >= args.minutes * 60 or (args.max_steps and step >= args.max_steps):
            break
        t0 = time.perf_counter()
        batch = [
            world_scene("train", next_scene + i, args.image_size) for i in range(args.batch_size)
        ]
        next_scene += args.batch_size
        images, objects, backgrounds = scene_targets(batch)
        render_s += time.perf_counter() - t0
        lr = learning_rate(args, elapsed)
        for group in optimizer.param_groups:
            group["lr"] = lr
        out = model(images, objects, backgrounds)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        step += 1
        window.append(float(out.loss.detach()))
        if step % args.log_every == 0:
            seconds = time.perf_counter() - window_start
            logger.info(
                "step %d  %.1f min  loss %.3f  lr %.2e  %.2f steps/s (rendering %.0f%%)",
                step, elapsed / 60, np.mean(window), lr, len(window) / seconds,
                100 * render_s / seconds,
            )  # fmt: skip
            window, window_start, render_s = [], time.perf_counter(), 0.0
        last = args.max_steps and step >= args.max_steps
        if step % args.val_every == 0 or last or elapsed + 5 >= args.minutes * 60:
            scores = judge_scores(model, *val)
            elapsed = time.perf_counter() - clock
            score = (scores["set_acc"] + scores["background_acc"]) / 2
            logger.info(
                "validation at step %d (%.1f min): set acc %.3f  object recall %.3f  "
                "background acc %.3f",
                step, elapsed / 60, scores["set_acc"], scores["object_recall"],
                scores["background_acc"],
            )  # fmt: skip
            if score > best["score"]:
                best = {
                    "score": score,
                    **{f"val_{k}": round(v, 4) for k, v in scores.items()},
                    "step": step,
                    "minutes": round(elapsed / 60, 2),
                    "command": command,
                    "args": asdict(args),
                    "parameters": n_params,
                }
                model.save_pretrained(args.out)
                (args.out / "training.json").write_text(
                    json.dumps(best, indent=2, default=str) + "\n"
                )
                logger.info("new best checkpoint written to %s", args.out)
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "step": step,
                    "elapsed": elapsed,
                    "best": json.dumps(best, default=str),
                    "next_scene": next_scene,
                },
                state_file,
            )
            if elapsed + 5 >= args.minutes * 60:
                break
    total = time.perf_counter() - clock
    logger.info("done: %d steps in %.1f min; best %s", step, total / 60, best)
    return {**best, "total_minutes": round(total / 60, 2), "total_steps": step}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    result = train(parse_args(argv))
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
