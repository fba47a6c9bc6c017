"""Train the world classifier (the text-to-image judge): ``python -m
multimodal_core.train.world_classifier``.

Every step renders a fresh batch of training scenes at the judge's resolution in the mix of
:mod:`multimodal_core.world.scene_mix`: one large centred object (what the GAN's curriculum draws
first), grid scenes of one or two objects (what the GAN draws later) and fuller grid scenes of up
to four (for reuse by other tabs). The validation split, drawn with the same mix, picks the best
checkpoint by the mean of its set accuracy (the top-k classes are exactly the scene's k classes)
and background accuracy; it is written to ``--out`` (config.json, fp16 model.safetensors,
training.json). Resume state goes to ``--run-dir``; ``--resume`` continues from it.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from multimodal_core.evaluate.metrics import judge_scores
from multimodal_core.models.world_classifier import WorldClassifier, WorldClassifierConfig
from multimodal_core.settings import REPO_ROOT
from multimodal_core.train import scaffold
from multimodal_core.world.backgrounds import BACKGROUND_WORDS
from multimodal_core.world.catalogue import CLASS_NAMES
from multimodal_core.world.scene_mix import scene_targets, world_scene

logger = logging.getLogger(__name__)


@dataclass
class TrainArgs:
    """Arguments of one training run (each is also a ``--flag``)."""

    out: Path = REPO_ROOT / "checkpoints" / "world_classifier"  # best checkpoint
    run_dir: Path = REPO_ROOT / "runs" / "world_classifier"  # resume state (git-ignored)
    image_size: int = 64  # the GAN's resolution
    minutes: float = 10.0  # wall-clock budget, validation included
    max_steps: int = 0  # stop after this many steps as well (0: only the time budget)
    batch_size: int = 64  # scenes per step
    lr: float = 2e-3  # AdamW; cosine-decayed over the time budget to lr * min_lr_fraction
    min_lr_fraction: float = 0.05  # the schedule's floor (see scaffold.cosine_lr)
    weight_decay: float = 1e-4  # AdamW's decoupled weight decay
    seed: int = 0  # seeds the weights
    val_scenes: int = 1000  # validation scenes (their own seed range, never trained on)
    val_every: int = 500  # steps between validations
    threads: int = 1  # torch threads; other jobs share the machine's two cores
    resume: bool = False  # continue the run in --run-dir (its budget and schedule included)
    log_every: int = 100  # steps between log lines


def parse_args(argv: Sequence[str] | None = None) -> TrainArgs:
    return scaffold.parse_args(TrainArgs, argv, __doc__)


def train(args: TrainArgs) -> dict:
    """Run (or resume) training; returns the record of the best checkpoint."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    resume = scaffold.load_state(args.run_dir, args.resume)
    config = WorldClassifierConfig(CLASS_NAMES, BACKGROUND_WORDS, image_size=args.image_size)
    model = WorldClassifier(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    parts = {"model": model, "optimizer": optimizer}
    step, elapsed, best, next_scene = scaffold.resume_run(resume, parts, {"score": -1.0})
    n_params = scaffold.parameter_count(model)
    logger.info("model: %d parameters; args %s", n_params, args)

    start = time.perf_counter()
    val = scene_targets(
        [world_scene("validation", i, args.image_size) for i in range(args.val_scenes)]
    )
    logger.info("validation scenes rendered in %.1f s", time.perf_counter() - start)
    command = scaffold.command_line("multimodal_core.train.world_classifier")
    model.train()
    clock = scaffold.Clock(elapsed)
    window, window_start, render_s = [], time.perf_counter(), 0.0
    while True:
        elapsed = clock.wall()
        if elapsed >= args.minutes * 60 or (args.max_steps and step >= args.max_steps):
            break
        t0 = time.perf_counter()
        batch = [
            world_scene("train", next_scene + i, args.image_size) for i in range(args.batch_size)
        ]
        next_scene += args.batch_size
        images, objects, backgrounds = scene_targets(batch)
        render_s += time.perf_counter() - t0
        lr = scaffold.cosine_lr(args.lr, elapsed / (args.minutes * 60.0), args.min_lr_fraction)
        scaffold.set_lr(optimizer, lr)
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
            elapsed = clock.wall()
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
                scaffold.write_record(args.out, best)
                logger.info("new best checkpoint written to %s", args.out)
            scaffold.save_run(args.run_dir, parts, step, elapsed, best, next_scene)
            if elapsed + 5 >= args.minutes * 60:
                break
    return scaffold.finish(step, best, clock)


def main(argv: Sequence[str] | None = None) -> int:
    return scaffold.main(train, TrainArgs, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
