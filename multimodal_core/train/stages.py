"""A training stage with its own time budget, as voice-to-face trains its face side, its judge
and its voice encoder one after the other: steps until the budget is spent, validation every
``val_every`` steps and at the end, the best weights kept, resume state at every validation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from multimodal_core.train import scaffold

logger = logging.getLogger(__name__)

MIN_LR_FRACTION = 0.05  # each stage's schedule ends at lr * 0.05 (see scaffold.cosine_lr)
LOG_EVERY = 50  # steps between log lines


@dataclass
class Stage:
    """What one stage trains and how.

    ``step(rng)`` takes one optimiser step (the stage's learning rate is already set) and returns
    the losses to log; ``validate(step, best)`` measures the model, keeps its weights when they
    beat ``best`` and returns the best record so far. ``module`` and ``optimiser`` are what the
    resume state holds.
    """

    name: str
    module: torch.nn.Module
    optimiser: torch.optim.Optimizer
    minutes: float
    seed: int
    step: Callable[[np.random.Generator], dict[str, torch.Tensor]]
    validate: Callable[[int, dict], dict]
    best: dict


def run_stage(
    stage: Stage,
    lr: float,
    val_every: int,
    run_dir: Path,
    resume: scaffold.ResumeState | None,
    finished: dict,
) -> dict:
    """Train ``stage`` until its budget is spent, continuing ``resume`` when it is this stage's
    state; returns its best record with its steps and seconds. ``finished`` (the results of the
    stages done before) goes into every resume state, so that ``--resume`` skips them."""
    step, elapsed, best = 0, 0.0, stage.best
    if resume is not None and resume.record["stage"] == stage.name:
        stage.module.load_state_dict(resume.weights["module"])
        stage.optimiser.load_state_dict(resume.weights["optimiser"])
        step, elapsed = int(resume.record["step"]), float(resume.record["elapsed"])
        best = resume.record["best"]
        logger.info("%s: resumed at step %d, %.1f min", stage.name, step, elapsed / 60)
    rng = np.random.default_rng([stage.seed, step] if step else stage.seed)
    clock = scaffold.Clock(elapsed)
    done = False
    while not done:
        progress = clock.wall() / (stage.minutes * 60.0)
        scaffold.set_lr(stage.optimiser, scaffold.cosine_lr(lr, progress, MIN_LR_FRACTION))
        losses = stage.step(rng)
        step += 1
        done = clock.wall() >= stage.minutes * 60
        if step % LOG_EVERY == 0:
            figures = "  ".join(f"{k} {v.item():.4f}" for k, v in losses.items())
            logger.info("%s step %d  %s  (%.0f s)", stage.name, step, figures, clock.wall())
        if step % val_every == 0 or done:
            best = stage.validate(step, best)
            scaffold.save_state(
                run_dir,
                {"module": stage.module.state_dict(), "optimiser": stage.optimiser.state_dict()},
                {
                    "stage": stage.name,
                    "step": step,
                    "elapsed": clock.wall(),
                    "best": best,
                    "finished": finished,
                },
            )
    return {**best, "steps": step, "seconds": round(clock.wall(), 1)}


def finish_stage(run_dir: Path, finished: dict) -> None:
    """Resume state between stages: nothing in progress, ``finished`` done."""
    scaffold.save_state(run_dir, {}, {"stage": None, "finished": finished})
