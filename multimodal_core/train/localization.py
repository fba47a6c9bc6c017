"""Train the sound-source localizer on the world: ``python -m multimodal_core.train.localization``.

Only audio-visual correspondence trains it: a batch holds B pictures and the clips of one of
their sound-capable objects, and a symmetric InfoNCE asks each picture to pick its own clip
among the B and each clip its own picture. Boxes are never read here except by validation.

Scenes and their clips are rendered into a replay buffer (a few new ones a step; a clip with
speech costs about 30 ms to render), pictures are flipped left-right at random. Every
``val_every`` steps the model is measured on validation scenes (pointing, cIoU at 0.5, AUC),
the map threshold and the confidence level are calibrated there, and the best checkpoint by
pointing + cIoU@0.5 + AUC is written to ``--out``. Resume state goes to ``--run-dir``;
``--resume`` continues from it, including the elapsed time that drives the schedule.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from multimodal_core import audio
from multimodal_core.evaluate.metrics import argmax_yx, auc, box_mask, ciou, ciou_at, in_box
from multimodal_core.models.localization import LocalizationConfig, SoundLocalizer, pixel_map
from multimodal_core.settings import REPO_ROOT
from multimodal_core.train import scaffold
from multimodal_core.world.catalogue import CLASS_NAMES
from multimodal_core.world.datasets import LocalizationDataset

logger = logging.getLogger(__name__)

THRESHOLDS = tuple(np.round(np.arange(0.05, 0.86, 0.05), 2))  # map cuts tried in calibration
MAP_SMOOTHINGS = (1, 3)  # neighbourhoods (cells) tried in calibration: none, 3 x 3


@dataclass
class TrainArgs:
    """Arguments of one training run (each is also a ``--flag``)."""

    out: Path = REPO_ROOT / "checkpoints" / "localization"  # where the best checkpoint goes
    run_dir: Path = REPO_ROOT / "runs" / "localization"  # resume state (git-ignored)
    minutes: float = 35.0  # wall-clock budget, validation included
    max_steps: int = 0  # stop after this many steps as well (0: only the time budget)
    batch_size: int = 48  # 47 negatives a side; the B x B x regions attention grows as B^2
    lr: float = 2e-3  # Adam; warm-up, then cosine-decayed over the budget
    min_lr_fraction: float = 0.05  # the schedule's floor (see scaffold.cosine_lr)
    warmup_steps: int = 100  # steps of linear warm-up before the cosine decay
    weight_decay: float = 1e-4  # AdamW's decoupled weight decay
    grad_clip: float = 5.0  # gradient-norm clip
    topk_regions: int = 0  # > 0: also match the mean of each picture's k best regions
    topk_weight: float = 1.0  # weight of the top-k term
    seed: int = 0  # seeds the weights and the sampling
    seconds: float = 2.0  # clip length; the audio net pools over time, so any length works
    buffer_size: int = 4096  # rendered pairs kept for sampling (about 300 MB)
    prefill: int = 768  # pairs rendered before the first step
    fresh_per_step: int = 6  # new pairs rendered per step
    val_scenes: int = 300  # validation scenes (their own seed range, never trained on)
    val_every: int = 200  # steps between validations
    threads: int = 1  # torch threads; other jobs share the machine's two cores
    resume: bool = False  # continue the run in --run-dir (its budget and schedule included)
    calibrate: bool = False  # only recalibrate the checkpoint at --out (after a map change)
    log_every: int = 25  # steps between log lines


def parse_args(argv: Sequence[str] | None = None) -> TrainArgs:
    return scaffold.parse_args(TrainArgs, argv, __doc__)


def features(config: LocalizationConfig) -> audio.FeatureConfig:
    """The log-mel settings a checkpoint was trained with."""
    return audio.FeatureConfig(
        sample_rate=config.sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
    )


class PairBuffer:
    """A ring of rendered training pairs: uint8 pictures (N, 3, H, W), float16 log-mels."""

    def __init__(self, capacity: int, dataset: LocalizationDataset, first_index: int) -> None:
        self.dataset = dataset
        size = dataset.size
        self.feature_config: audio.FeatureConfig | None = None
        self.images = torch.zeros((capacity, 3, size, size), dtype=torch.uint8)
        self.mels: torch.Tensor | None = None
        self.capacity = capacity
        self.filled = 0
        self.cursor = 0
        self.next_index = first_index  # the next training scene to render

    def add(self, n: int, feature_config: audio.FeatureConfig) -> None:
        for _ in range(n):
            item = self.dataset[self.next_index % len(self.dataset)]
            mel = audio.log_mel(item.audio, feature_config)  # (n_mels, T)
            if self.mels is None:
                self.mels = torch.zeros((self.capacity, *mel.shape), dtype=torch.float16)
            self.images[self.cursor] = (item.image * 255).round().to(torch.uint8)
            self.mels[self.cursor] = mel.to(torch.float16)
            self.next_index += 1
            self.cursor = (self.cursor + 1) % self.capacity
            self.filled = min(self.filled + 1, self.capacity)

    def sample(self, rng: np.random.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """n distinct pairs, pictures flipped left-right at random: (n, 3, H, W), (n, M, T)."""
        picks = torch.from_numpy(rng.choice(self.filled, n, replace=False))
        images = self.images[picks].float().div_(255.0)
        flip = torch.from_numpy(rng.random(n) < 0.5)
        images[flip] = images[flip].flip(-1)
        assert self.mels is not None
        return images, self.mels[picks].float()


@dataclass
class ValidationSet:
    images: torch.Tensor  # (V, 3, H, W)
    mels: torch.Tensor  # (V, M, T)
    boxes: np.ndarray  # (V, 4) of the sounding object
    labels: np.ndarray  # (V,) class index of the sounding object
    classes: list[set[int]]  # class indices present in each picture (for mismatched pairs)


def validation_set(n: int, feature_config: audio.FeatureConfig, seconds: float) -> ValidationSet:
    dataset = LocalizationDataset("validation", size=128, length=n, seconds=seconds)
    items = [dataset[i] for i in range(n)]
    return ValidationSet(
        images=torch.stack([item.image for item in items]),
        mels=torch.stack([audio.log_mel(item.audio, feature_config) for item in items]),
        boxes=np.stack([item.box.numpy() for item in items]),
        labels=np.array([item.label for item in items]),
        classes=[
            {CLASS_NAMES.index(name) for name in dataset.scene(i).class_names} for i in range(n)
        ],
    )


@torch.no_grad()
def similarity_maps(
    model: SoundLocalizer, images: torch.Tensor, mels: torch.Tensor, batch: int = 50
) -> torch.Tensor:
    """Matched pairs' grid similarities (V, g, g), in eval mode, in batches."""
    out = []
    for start in range(0, len(images), batch):
        sl = slice(start, start + batch)
        out.append(model(images[sl], mels[sl]).similarity)
    return torch.cat(out)


def map_scores(similarity: torch.Tensor, data: ValidationSet, smoothing: int) -> dict[str, float]:
    """Pointing, and cIoU@0.5 and AUC at the threshold where their sum is best, of the maps
    drawn with ``smoothing``."""
    size = data.images.shape[-1]
    heats = pixel_map(similarity, size, size, smoothing).numpy()
    pointing = float(
        np.mean([in_box(argmax_yx(h), b) for h, b in zip(heats, data.boxes, strict=True)])
    )
    truths = [box_mask(b, size, size) for b in data.boxes]
    by_threshold = {}
    for threshold in THRESHOLDS:
        values = [ciou(h, t, threshold) for h, t in zip(heats, truths, strict=True)]
        by_threshold[float(threshold)] = (ciou_at(values), auc(values))
    best = max(by_threshold, key=lambda t: sum(by_threshold[t]))
    return {
        "pointing": pointing,
        "ciou": by_threshold[best][0],
        "auc": by_threshold[best][1],
        "threshold": best,
        "ciou_at_0.5_threshold": by_threshold[0.5][0],
    }


def validate(model: SoundLocalizer, data: ValidationSet) -> dict[str, float]:
    """Map scores with the best smoothing and threshold; the calibrated confidence level."""
    was_training = model.training
    model.eval()
    similarity = similarity_maps(model, data.images, data.mels)
    options = {s: map_scores(similarity, data, s) for s in MAP_SMOOTHINGS}
    smoothing = max(options, key=lambda s: sum(options[s][k] for k in ("pointing", "ciou", "auc")))
    # Confidence: peak similarity of true pairs against pairs whose sound's class is absent.
    peaks = similarity.flatten(1).amax(1).numpy()
    n = len(data.labels)
    wrong_mels = torch.roll(data.mels, 1, 0)
    wrong_labels = np.roll(data.labels, 1)
    absent = np.array([wrong_labels[i] not in data.classes[i] for i in range(n)])
    wrong_peaks = np.full(1, -1.0)  # no mismatched pair: any level above -1 separates
    if absent.any():
        wrong = similarity_maps(model, data.images[absent], wrong_mels[absent])
        wrong_peaks = wrong.flatten(1).amax(1).numpy()
    cuts = np.linspace(-1, 1, 201)
    balanced = [((peaks >= c).mean() + (wrong_peaks < c).mean()) / 2 for c in cuts]
    confident = float(cuts[int(np.argmax(balanced))])
    model.train(was_training)
    return {
        **options[smoothing],
        "smoothing": smoothing,
        "confident_similarity": round(confident, 3),
        "confidence_balanced_accuracy": float(max(balanced)),
    }


def save_best(model: SoundLocalizer, scores: dict, args: TrainArgs, record: dict) -> None:
    """The checkpoint with the calibrated threshold and confidence level in its config."""
    config = replace(
        model.config,
        map_threshold=scores["threshold"],
        map_smoothing=scores["smoothing"],
        confident_similarity=scores["confident_similarity"],
    )
    calibrated = SoundLocalizer(config)
    calibrated.load_state_dict(model.state_dict())
    calibrated.save_pretrained(args.out)
    scaffold.write_record(args.out, record)


def calibrate(args: TrainArgs) -> dict:
    """Recalibrate the map smoothing, threshold and confidence level of the checkpoint at
    ``args.out`` on the validation scenes, without training: for a change in how maps are drawn
    from the grid."""
    model = SoundLocalizer.from_pretrained(args.out).eval()
    data = validation_set(args.val_scenes, features(model.config), args.seconds)
    scores = validate(model, data)
    record = json.loads((args.out / "training.json").read_text())
    command = "python -m multimodal_core.train.localization --calibrate"
    defaults = TrainArgs()
    for name in ("out", "val_scenes", "seconds"):
        if getattr(args, name) != getattr(defaults, name):
            command += f" --{name.replace('_', '-')} {getattr(args, name)}"
    record["calibration"] = {"command": command, "validation": scores}
    save_best(model, scores, args, record)
    logger.info("recalibrated %s: %s", args.out, scores)
    return record


def train(args: TrainArgs) -> dict:
    """Run (or resume) training; returns the record of the best checkpoint."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    resume = scaffold.load_state(args.run_dir, args.resume)
    config = (
        LocalizationConfig.from_dict(resume.record["config"])
        if resume is not None
        else LocalizationConfig()
    )
    model = SoundLocalizer(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    parts = {"model": model, "optimizer": optimizer}
    step, elapsed, best, first_scene = scaffold.resume_run(resume, parts, {"score": -1.0})
    n_params = scaffold.parameter_count(model)
    logger.info("model: %d parameters, %d x %d grid; %s", n_params, *(config.grid_size,) * 2, args)

    feature_config = features(config)
    rng = np.random.default_rng([args.seed, step])
    start = time.perf_counter()
    val = validation_set(args.val_scenes, feature_config, args.seconds)
    dataset = LocalizationDataset("train", size=config.image_size, seconds=args.seconds)
    buffer = PairBuffer(args.buffer_size, dataset, first_scene)
    buffer.add(args.prefill, feature_config)
    logger.info(
        "validation and %d pairs rendered in %.0f s", args.prefill, time.perf_counter() - start
    )
    command = scaffold.command_line("multimodal_core.train.localization")
    model.train()
    clock = scaffold.Clock(elapsed)
    window_loss, window_start = [], time.perf_counter()
    while True:
        elapsed = clock.wall()
        if elapsed >= args.minutes * 60 or (args.max_steps and step >= args.max_steps):
            break
        buffer.add(args.fresh_per_step, feature_config)
        images, mels = buffer.sample(rng, args.batch_size)
        lr = scaffold.cosine_lr(
            args.lr, elapsed / (args.minutes * 60.0), args.min_lr_fraction, step, args.warmup_steps
        )
        scaffold.set_lr(optimizer, lr)
        out = model(images, mels, True, args.topk_regions, args.topk_weight)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        step += 1
        window_loss.append(float(out.loss.detach()))
        if step % args.log_every == 0:
            rate = len(window_loss) / (time.perf_counter() - window_start)
            logger.info(
                "step %d  %.1f min  loss %.3f  lr %.2e  %.2f steps/s  temperatures %.3f %.3f",
                step, elapsed / 60, np.mean(window_loss), lr, rate,
                float(model.attention.log_attention_scale.detach().exp()) ** -1,
                float(model.log_logit_scale.detach().exp()) ** -1,
            )  # fmt: skip
            window_loss, window_start = [], time.perf_counter()
        last = (args.max_steps and step >= args.max_steps) or clock.wall() >= args.minutes * 60
        if step % args.val_every == 0 or last:
            scores = validate(model, val)
            elapsed = clock.wall()
            logger.info("validation at step %d (%.1f min): %s", step, elapsed / 60, scores)
            score = scores["pointing"] + scores["ciou"] + scores["auc"]
            if score > best["score"]:
                best = {
                    "score": score,
                    "validation": scores,
                    "step": step,
                    "minutes": round(elapsed / 60, 2),
                    "seed": args.seed,
                    "command": command,
                    "args": asdict(args),
                    "parameters": n_params,
                }
                save_best(model, scores, args, best)
                logger.info("new best checkpoint written to %s", args.out)
            scaffold.save_run(
                args.run_dir, parts, step, elapsed, best, buffer.next_index, config=asdict(config)
            )
    return scaffold.finish(step, best, clock)


def run(args: TrainArgs) -> dict:
    """``--calibrate`` recalibrates the checkpoint at ``--out``; otherwise train."""
    return calibrate(args) if args.calibrate else train(args)


def main(argv: Sequence[str] | None = None) -> int:
    return scaffold.main(run, TrainArgs, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
