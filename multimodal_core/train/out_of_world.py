"""Train and calibrate the out-of-world head: ``python -m multimodal_core.train.out_of_world``.

The frozen world classifier turns each picture into pooled statistics of its feature maps
(``WorldClassifier.feature_statistics``); a logistic regression
(:class:`~multimodal_core.models.out_of_world.OutOfWorldHead`) learns world against not-world on
them. World: validation-split scenes as the tasks see them
(:func:`~multimodal_core.world.real_pictures.world_pictures`), never a test seed. Not world: the
training sources of :mod:`multimodal_core.world.real_pictures` with their crops, greyscale,
rotated and mirrored copies, scikit-image's small face photos, and noise; the held-out photos are
not touched. The threshold is then set on other validation scenes, so that ``--world-flag-rate``
of them would be flagged, and stored in the head's config. Written to ``--out`` (config.json,
model.safetensors, training.json).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from multimodal_core import media
from multimodal_core.models.out_of_world import OutOfWorldConfig, OutOfWorldHead
from multimodal_core.models.world_classifier import WorldClassifier
from multimodal_core.settings import REPO_ROOT
from multimodal_core.train import scaffold
from multimodal_core.world import real_pictures

logger = logging.getLogger(__name__)


@dataclass
class TrainArgs:
    """Arguments of one training run (each is also a ``--flag``)."""

    out: Path = REPO_ROOT / "checkpoints" / "out_of_world"  # the head and its threshold
    classifier: Path = REPO_ROOT / "checkpoints" / "world_classifier"  # frozen features
    run_dir: Path = REPO_ROOT / "runs" / "out_of_world"  # the log (git-ignored)
    fit_scenes: int = 3000  # validation scenes the head learns from (indices 0..N-1)
    calibration_scenes: int = 3000  # further validation scenes that set the threshold
    world_flag_rate: float = 0.01  # share of calibration scenes flagged; half the 2% target
    crops: int = 40  # random crops per training photo (its whole, grey, rotated copies too)
    noise: int = 150  # noise pictures among the negatives
    steps: int = 300  # full-batch L-BFGS iterations (the problem is convex and small)
    l2: float = 2e-3  # L2 penalty on the weights: photos of new sources gain from a smooth boundary
    seed: int = 0  # seeds the crops and the noise
    threads: int = 1  # torch threads; other jobs share the machine's two cores


def parse_args(argv: Sequence[str] | None = None) -> TrainArgs:
    return scaffold.parse_args(TrainArgs, argv, __doc__)


def statistics(
    classifier: WorldClassifier, pictures: list[np.ndarray], batch: int = 256
) -> torch.Tensor:
    """(N, D) feature statistics of float pictures of any size, squashed to the classifier's
    input as the tasks do."""
    size = classifier.config.image_size
    with torch.inference_mode():
        parts = [
            classifier.feature_statistics(media.square_batch(pictures[i : i + batch], size))
            for i in range(0, len(pictures), batch)
        ]
    return torch.cat(parts).float()


def fit(
    head: OutOfWorldHead, features: torch.Tensor, targets: torch.Tensor, args: TrainArgs
) -> float:
    """Minimise the head's weighted cross-entropy plus ``l2 / 2 * |w|^2``; returns the final
    cross-entropy."""
    optimizer = torch.optim.LBFGS(
        head.parameters(), max_iter=args.steps, history_size=20, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = head(features, targets).loss + 0.5 * args.l2 * head.linear.weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return float(head(features, targets).loss)


def train(args: TrainArgs) -> dict:
    """Fit the head, set its threshold, save it; returns the training record."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    clock = scaffold.Clock()
    classifier = WorldClassifier.from_pretrained(args.classifier)

    world = statistics(classifier, real_pictures.world_pictures("validation", 0, args.fit_scenes))
    photos, sources = real_pictures.real_pictures(real_pictures.TRAIN_SOURCES, rng, args.crops)
    others = real_pictures.faces() + real_pictures.noise_pictures(rng, args.noise)
    not_world = statistics(classifier, photos + others)
    logger.info(
        "features: %d world scenes, %d pictures of %d sources, %d faces and noise (%.0f s)",
        len(world), len(photos), len(set(sources)), len(others), clock.wall(),
    )  # fmt: skip

    features = torch.cat([world, not_world])  # (N, D)
    targets = torch.cat([torch.ones(len(world)), torch.zeros(len(not_world))])
    head = OutOfWorldHead(OutOfWorldConfig(feature_dim=classifier.config.statistics_dim))
    head.fit_standardisation(features)
    loss = fit(head, features, targets, args)
    # Shipped in float16 like every checkpoint: calibrate the weights as they will be loaded.
    head.save_pretrained(args.out)
    head = OutOfWorldHead.from_pretrained(args.out)

    calibration = real_pictures.world_pictures(
        "validation", args.fit_scenes, args.calibration_scenes
    )
    with torch.inference_mode():
        p_world = head(statistics(classifier, calibration)).world_probability
        p_fit_world = head(world).world_probability
        p_not_world = head(not_world).world_probability
    threshold = float(torch.quantile(p_world.double(), args.world_flag_rate))
    head.config.threshold = threshold
    record = {
        "threshold": threshold,
        "val_world_flagged": round(float((p_world < threshold).float().mean()), 4),
        "fit_world_flagged": round(float((p_fit_world < threshold).float().mean()), 4),
        "fit_not_world_flagged": round(float((p_not_world < threshold).float().mean()), 4),
        "n_fit_world": len(world),
        "n_fit_not_world": len(not_world),
        "n_calibration_world": len(calibration),
        "train_sources": sorted(set(sources)),
        "final_loss": round(loss, 5),
        "wall_seconds": round(clock.wall(), 1),
        "command": scaffold.command_line("multimodal_core.train.out_of_world"),
        "args": asdict(args),
        "parameters": scaffold.parameter_count(head),
    }
    head.save_pretrained(args.out)
    scaffold.write_record(args.out, record)
    logger.info("head written to %s: %s", args.out, record)
    return record


def main(argv: Sequence[str] | None = None) -> int:
    return scaffold.main(train, TrainArgs, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
