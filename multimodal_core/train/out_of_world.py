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

``--kind sound`` and ``--kind voice`` fit the same head on the frozen localization model's audio
net (:func:`~multimodal_core.models.out_of_world.sound_statistics`) instead, with the material of
:mod:`multimodal_core.world.real_sounds`. Sound: world = validation sounds as the sound tabs get
them (localization tracks and single sources), not world = the training kinds of generated
signals, other GM programs and the training recordings, speech included. Voice: world = the
validation people's voices and the training recordings that are speech, not = the same
generated signals, the non-speech training recordings and the world's object sounds. The held-out
kinds and recordings are not touched; the threshold is set on other validation voices or sounds.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from multimodal_core import media
from multimodal_core.models.localization import SoundLocalizer
from multimodal_core.models.out_of_world import (
    OutOfWorldConfig,
    OutOfWorldHead,
    embedding_dim,
    hearing_config,
    recording_statistics,
    sound_statistics_dim,
)
from multimodal_core.models.world_classifier import WorldClassifier
from multimodal_core.settings import REPO_ROOT
from multimodal_core.train import scaffold
from multimodal_core.world import real_pictures, real_sounds

KINDS = ("picture", "sound", "voice")

logger = logging.getLogger(__name__)


@dataclass
class TrainArgs:
    """Arguments of one training run (each is also a ``--flag``)."""

    kind: str = "picture"  # picture, sound (from the world's sound world?) or voice (speech?)
    out: Path | None = None  # the head and its threshold; default checkpoints/out_of_world[_KIND]
    classifier: Path = REPO_ROOT / "checkpoints" / "world_classifier"  # frozen picture features
    localizer: Path = REPO_ROOT / "checkpoints" / "localization"  # its audio net: sound features
    run_dir: Path | None = None  # the log (git-ignored); default runs/out_of_world[_KIND]
    fit_scenes: int = 3000  # validation scenes the head learns from (indices 0..N-1)
    calibration_scenes: int = 3000  # further validation scenes that set the threshold
    world_flag_rate: float = 0.01  # share of calibration scenes flagged; half the 2% target
    crops: int = 40  # random crops per training photo (its whole, grey, rotated copies too)
    noise: int = 150  # noise pictures among the negatives
    steps: int = 300  # full-batch L-BFGS iterations (the problem is convex and small)
    l2: float = 2e-3  # L2 penalty on the weights: photos of new sources gain from a smooth boundary
    seed: int = 0  # seeds the crops and the noise
    threads: int = 1  # torch threads; other jobs share the machine's two cores
    sound_fit: int = 2000  # sound and voice kinds: validation sounds (voices) the head learns from
    sound_calibration: int = 2000  # further validation sounds (voices) that set the threshold
    signals: int = 150  # generated not-world sounds of each training kind
    recording_crops: int = 40  # random windows of each training recording (and it whole)
    object_sounds: int = 1000  # voice kind: the world's non-speech sounds among the negatives

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        suffix = "" if self.kind == "picture" else f"_{self.kind}"
        self.out = self.out or REPO_ROOT / "checkpoints" / f"out_of_world{suffix}"
        self.run_dir = self.run_dir or REPO_ROOT / "runs" / f"out_of_world{suffix}"


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
    if args.kind != "picture":
        return train_sound(args)
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

    calibration = real_pictures.world_pictures(
        "validation", args.fit_scenes, args.calibration_scenes
    )
    return fit_and_calibrate(
        args, classifier.config.statistics_dim, world, not_world,
        lambda: statistics(classifier, calibration), clock,
        {"train_sources": sorted(set(sources))},
    )  # fmt: skip


def fit_and_calibrate(
    args: TrainArgs,
    feature_dim: int,
    world: torch.Tensor,
    not_world: torch.Tensor,
    calibration: Callable[[], torch.Tensor],
    clock: scaffold.Clock,
    extra: dict,
    reference_dim: int = 0,
) -> dict:
    """Fit a head on world (label 1) against not-world (0) features, save it, set its threshold
    on the ``calibration`` features at ``world_flag_rate`` and save again; returns the record.

    With ``reference_dim`` the head also stores the embeddings (the features' last
    ``reference_dim``) of the world examples, and each of its two rules gets half the rate.
    """
    assert args.out is not None  # set by TrainArgs.__post_init__
    features = torch.cat([world, not_world])  # (N, D)
    targets = torch.cat([torch.ones(len(world)), torch.zeros(len(not_world))])
    config = OutOfWorldConfig(feature_dim=feature_dim, reference_dim=reference_dim)
    config.reference_size = len(world) if reference_dim else 0
    head = OutOfWorldHead(config)
    head.fit_standardisation(features)
    if reference_dim:
        head.fit_reference(world)
    loss = fit(head, features, targets, args)
    # Shipped in float16 like every checkpoint: calibrate the weights as they will be loaded.
    head.save_pretrained(args.out)
    head = OutOfWorldHead.from_pretrained(args.out)

    calibration_features = calibration()
    rate = args.world_flag_rate / 2 if reference_dim else args.world_flag_rate
    with torch.inference_mode():
        p_world = head(calibration_features).world_probability
        head.config.threshold = float(torch.quantile(p_world.double(), rate))
        nearest = head.nearest_similarity(calibration_features)
        if nearest is not None:
            head.config.reference_threshold = float(torch.quantile(nearest.double(), rate))

        def flagged(x: torch.Tensor) -> float:
            return round(float((~head.is_in_world(x)).float().mean()), 4)

        record = {
            "kind": args.kind,
            "threshold": head.config.threshold,
            "reference_threshold": head.config.reference_threshold,
            "val_world_flagged": flagged(calibration_features),
            "fit_world_flagged": flagged(world),
            "fit_not_world_flagged": flagged(not_world),
        }
    record |= {
        "n_fit_world": len(world),
        "n_fit_not_world": len(not_world),
        "n_calibration_world": len(calibration_features),
        **extra,
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


def sound_material(
    kind: str, rng: np.random.Generator, args: TrainArgs
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(world, not world) recordings for the sound or the voice head: see the module docstring."""
    signals = real_sounds.signals(real_sounds.TRAIN_KINDS, rng, args.signals)
    names, crops = real_sounds.TRAIN_RECORDINGS, args.recording_crops
    if kind == "sound":
        world = real_sounds.world_sounds("validation", 0, args.sound_fit)
        return world, signals + real_sounds.recording_crops(names, rng, crops)
    world = real_sounds.world_voices("validation", 0, args.sound_fit)
    world += real_sounds.recording_crops(names, rng, crops, speech=True)
    objects = real_sounds.world_object_sounds("validation", 0, args.object_sounds)
    return world, signals + objects + real_sounds.recording_crops(names, rng, crops, speech=False)


def train_sound(args: TrainArgs) -> dict:
    """The sound or the voice head (``args.kind``) on the localization model's audio net."""
    rng = np.random.default_rng(args.seed)
    clock = scaffold.Clock()
    net = SoundLocalizer.from_pretrained(args.localizer)
    features = hearing_config(net.config)
    world, not_world = sound_material(args.kind, rng, args)
    world_f = recording_statistics(net.audio, features, world)
    not_world_f = recording_statistics(net.audio, features, not_world)
    logger.info(
        "%s features: %d world, %d not world (%.0f s)",
        args.kind, len(world), len(not_world), clock.wall(),
    )  # fmt: skip
    sound = args.kind == "sound"
    draw = real_sounds.world_sounds if sound else real_sounds.world_voices
    return fit_and_calibrate(
        args, sound_statistics_dim(net.audio), world_f, not_world_f,
        lambda: recording_statistics(
            net.audio, features, draw("validation", args.sound_fit, args.sound_calibration)
        ),
        clock,
        {"train_kinds": list(real_sounds.TRAIN_KINDS),
         "train_recordings": list(real_sounds.TRAIN_RECORDINGS),
         "train_programs": list(real_sounds.TRAIN_PROGRAMS)},
        embedding_dim(net.audio) if sound else 0,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    return scaffold.main(train, TrainArgs, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
