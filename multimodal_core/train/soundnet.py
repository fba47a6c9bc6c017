"""Train the SoundNet student on the world: ``python -m multimodal_core.train.soundnet``.

Every training item is a "video" of the train split: a 64 px picture with one to three sounding
objects (and up to one silent one) and its soundtrack, the sum of the sounding objects' clips at
random levels and time shifts, sometimes with pink noise under it. The frozen world classifier
(``checkpoints/world_classifier``, the teacher) looks at the picture; the student hears the
soundtrack and learns to say what the teacher saw (KL divergence). No label is read: the teacher
sees the silent object too, and the student learns that no sound tells it.

Videos are rendered into a replay buffer (a few new ones a step, their teacher distributions
computed as they come). Every ``val_every`` steps the KL to the teacher on validation videos
(their own seed range) picks the best checkpoint, written to ``--out``; the log also shows the
student's top-1 on the validation videos of one source, which no decision reads. Resume state
goes to ``--run-dir``; ``--resume`` continues.
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
import torch.nn.functional as F

from multimodal_core.models.soundnet import SoundNet, SoundNetConfig, teacher_distribution
from multimodal_core.models.world_classifier import WorldClassifier
from multimodal_core.settings import REPO_ROOT
from multimodal_core.train import scaffold
from multimodal_core.world import clips as world_clips
from multimodal_core.world.catalogue import CLASS_NAMES, SOUNDING_CLASSES
from multimodal_core.world.datasets import image_tensor
from multimodal_core.world.separation import SeparationScene
from multimodal_core.world.sounds import pink_noise
from multimodal_core.world.videos import MAX_SOURCES, video

logger = logging.getLogger(__name__)


@dataclass
class TrainArgs:
    """Arguments of one training run (each is also a ``--flag``)."""

    out: Path = REPO_ROOT / "checkpoints" / "soundnet"  # where the best checkpoint goes
    run_dir: Path = REPO_ROOT / "runs" / "soundnet"  # resume state (git-ignored)
    teacher: Path = REPO_ROOT / "checkpoints" / "world_classifier"  # the frozen visual network
    minutes: float = 60.0  # wall-clock budget, validation included
    max_steps: int = 0  # stop after this many steps as well (0: only the time budget)
    batch_size: int = 32  # soundtracks per step
    lr: float = 2e-3  # AdamW; warm-up, then cosine-decayed over the budget
    min_lr_fraction: float = 0.05  # the schedule's floor (see scaffold.cosine_lr)
    warmup_steps: int = 200  # steps of linear warm-up before the cosine decay
    weight_decay: float = 1e-4  # AdamW's decoupled weight decay
    grad_clip: float = 5.0  # gradient-norm clip
    seed: int = 0  # seeds the weights and the sampling
    seconds: float = 2.0  # soundtrack length
    gain_db: float = 6.0  # each source's level is drawn in +-gain_db
    noise_probability: float = 0.3  # share of soundtracks with pink noise under them
    noise_db: float = 18.0  # the noise sits 12 to this many dB below the sources' mixture
    buffer_size: int = 4000  # videos kept in the replay buffer
    prefill: int = 1500  # videos rendered before the first step
    fresh_per_step: int = 2  # new videos rendered per step
    val_videos: int = 300  # validation videos (their own seed range)
    val_every: int = 500  # steps between validations
    threads: int = 1  # torch threads; other jobs share the machine's two cores
    resume: bool = False  # continue the run in --run-dir (its budget and schedule included)
    log_every: int = 50  # steps between log lines


def parse_args(argv: Sequence[str] | None = None) -> TrainArgs:
    return scaffold.parse_args(TrainArgs, argv, __doc__)


@torch.no_grad()
def teacher_says(teacher: WorldClassifier, items: list[SeparationScene]) -> torch.Tensor:
    """(N, C): the teacher's distribution over classes for each video's picture."""
    pictures = torch.stack([image_tensor(item.scene.image) for item in items])
    return teacher_distribution(teacher(pictures).object_logits)


class VideoBuffer:
    """A ring of rendered videos: float16 clips of up to three sources and the teacher's say."""

    def __init__(self, capacity: int, samples: int, n_classes: int, first: int) -> None:
        self.clips = torch.zeros((capacity, MAX_SOURCES, samples), dtype=torch.float16)
        self.n_sources = torch.zeros(capacity, dtype=torch.long)
        self.teacher = torch.zeros((capacity, n_classes))
        self.capacity = capacity
        self.filled = 0
        self.cursor = 0
        self.next_index = first  # the next training video to render

    def add(self, n: int, teacher: WorldClassifier, args: TrainArgs, sample_rate: int) -> None:
        items = [
            video("train", self.next_index + i, seconds=args.seconds, sample_rate=sample_rate)
            for i in range(n)
        ]
        says = teacher_says(teacher, items)
        for item, say in zip(items, says, strict=True):
            k = len(item.clips)
            self.clips[self.cursor].zero_()
            self.clips[self.cursor, :k] = torch.from_numpy(item.clips).to(torch.float16)
            self.n_sources[self.cursor] = k
            self.teacher[self.cursor] = say
            self.cursor = (self.cursor + 1) % self.capacity
            self.filled = min(self.filled + 1, self.capacity)
        self.next_index += n

    def sample(
        self, rng: np.random.Generator, n: int, args: TrainArgs
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """n soundtracks (n, samples), each source at a random level and time shift, some with
        noise, and the teacher's distributions (n, C)."""
        picks = rng.choice(self.filled, n, replace=False)
        tracks = []
        for i in picks:
            sources = self.clips[i, : int(self.n_sources[i])].float().numpy()
            gains = 10 ** (rng.uniform(-args.gain_db, args.gain_db, len(sources)) / 20)
            mix = sum(
                g * np.roll(s, int(rng.integers(len(s))))
                for g, s in zip(gains, sources, strict=True)
            )
            if rng.random() < args.noise_probability:
                level = 10 ** (-rng.uniform(12.0, args.noise_db) / 20)
                rms = float(np.sqrt(np.mean(mix**2)))
                mix = mix + pink_noise(rng, len(mix)) * rms * level
            tracks.append(torch.from_numpy(world_clips.normalise(mix.astype(np.float32), "video")))
        return torch.stack(tracks), self.teacher[torch.from_numpy(picks)]


@dataclass
class ValidationSet:
    tracks: torch.Tensor  # (N, samples): each video's sources summed at equal level
    teacher: torch.Tensor  # (N, C)
    single: list[int]  # rows of one source, for the logged top-1
    single_labels: list[int]  # their class index in CLASS_NAMES


def validation_set(
    teacher: WorldClassifier, n: int, seconds: float, sample_rate: int
) -> ValidationSet:
    items = [video("validation", i, seconds=seconds, sample_rate=sample_rate) for i in range(n)]
    tracks = torch.stack([torch.from_numpy(item.mixture) for item in items])
    single = [row for row, item in enumerate(items) if len(item.sources) == 1]
    labels = [CLASS_NAMES.index(items[row].sources[0].name) for row in single]
    return ValidationSet(tracks, teacher_says(teacher, items), single, labels)


@torch.no_grad()
def validate(model: SoundNet, data: ValidationSet) -> dict[str, float]:
    """KL to the teacher, top-1 agreement with it, and (for the log) one-source top-1 over the
    classes that sound."""
    was_training = model.training
    model.eval()
    logits = torch.cat([model(chunk).logits for chunk in data.tracks.split(64)])
    model.train(was_training)
    kl = F.kl_div(F.log_softmax(logits, dim=1), data.teacher, reduction="batchmean")
    agreement = (logits.argmax(1) == data.teacher.argmax(1)).float().mean()
    sounding = torch.tensor([CLASS_NAMES.index(c) for c in SOUNDING_CLASSES])
    guesses = sounding[logits[data.single][:, sounding].argmax(1)]
    top1 = (guesses == torch.tensor(data.single_labels)).float().mean()
    return {"kl": float(kl), "teacher_agreement": float(agreement), "single_top1": float(top1)}


def train(args: TrainArgs) -> dict:
    """Run (or resume) training; returns the record of the best checkpoint."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    teacher = WorldClassifier.from_pretrained(args.teacher).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    resume = scaffold.load_state(args.run_dir, args.resume)
    config = (
        SoundNetConfig.from_dict(resume.record["config"])
        if resume is not None
        else SoundNetConfig(class_names=teacher.config.class_names)
    )
    model = SoundNet(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    parts = {"model": model, "optimizer": optimizer}
    step, elapsed, best, first_video = scaffold.resume_run(resume, parts, {"score": -1e9})
    n_params = scaffold.parameter_count(model)
    logger.info("model: %d parameters; %s", n_params, args)

    rng = np.random.default_rng([args.seed, step])
    start = time.perf_counter()
    val = validation_set(teacher, args.val_videos, args.seconds, config.sample_rate)
    samples = round(args.seconds * config.sample_rate)
    buffer = VideoBuffer(args.buffer_size, samples, len(config.class_names), first_video)
    buffer.add(args.prefill, teacher, args, config.sample_rate)
    logger.info("validation and prefill rendered in %.0f s", time.perf_counter() - start)
    command = scaffold.command_line("multimodal_core.train.soundnet")
    model.train()
    clock = scaffold.Clock(elapsed)
    window_loss, window_start = [], time.perf_counter()
    while True:
        elapsed = clock.wall()
        if elapsed >= args.minutes * 60 or (args.max_steps and step >= args.max_steps):
            break
        buffer.add(args.fresh_per_step, teacher, args, config.sample_rate)
        tracks, says = buffer.sample(rng, args.batch_size, args)
        lr = scaffold.cosine_lr(
            args.lr, elapsed / (args.minutes * 60.0), args.min_lr_fraction, step, args.warmup_steps
        )
        scaffold.set_lr(optimizer, lr)
        out = model(tracks, says)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        step += 1
        window_loss.append(float(out.loss.detach()))
        if step % args.log_every == 0:
            rate = len(window_loss) / (time.perf_counter() - window_start)
            logger.info(
                "step %d  %.1f min  KL %.4f  lr %.2e  %.2f steps/s",
                step, elapsed / 60, np.mean(window_loss), lr, rate,
            )  # fmt: skip
            window_loss, window_start = [], time.perf_counter()
        last = (args.max_steps and step >= args.max_steps) or clock.wall() >= args.minutes * 60
        if step % args.val_every == 0 or last:
            scores = validate(model, val)
            elapsed = clock.wall()
            logger.info("validation at step %d (%.1f min): %s", step, elapsed / 60, scores)
            if -scores["kl"] > best["score"]:
                best = {
                    "score": -scores["kl"],
                    "validation": scores,
                    "step": step,
                    "minutes": round(elapsed / 60, 2),
                    "seed": args.seed,
                    "command": command,
                    "args": asdict(args),
                    "parameters": n_params,
                }
                model.save_pretrained(args.out)
                scaffold.write_record(args.out, best)
                logger.info("new best checkpoint written to %s", args.out)
            scaffold.save_run(
                args.run_dir, parts, step, elapsed, best, buffer.next_index, config=asdict(config)
            )
    return scaffold.finish(step, best, clock)


def main(argv: Sequence[str] | None = None) -> int:
    return scaffold.main(train, TrainArgs, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
