"""Train the sound separator on the world: ``python -m multimodal_core.train.separation``.

Mix and separate (Zhao et al. 2018): a training item is a picture with two or three sounding
objects and each one's clean clip; the clips (each at a random level within +-6 dB, shifted
in time at random) are summed, and the network must give each clip back from the mixture,
conditioned on a visual vector of its source. Nothing says which object a clip belongs to:
the frozen localization model (``checkpoints/localization``, trained from audio-visual
correspondence alone) looks for the clip in the picture, and the visual vector is its region
embedding at one of the five cells of the map's peak (drawn at random each time), the same
:func:`~multimodal_core.models.sound_of_pixels.region_feature` a click gives in the app.

Scenes are rendered into replay buffers (one for two sources, one for three; a few new scenes
a step). Every ``val_every`` steps the SI-SDR improvement on validation scenes (their own seed
range; the visual vector there is taken at each object's centre, like a click) picks the best
checkpoint, written to ``--out``. Resume state goes to ``--run-dir``; ``--resume`` continues.
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

from multimodal_core import audio
from multimodal_core.models.localization import SoundLocalizer, smoothed_grid
from multimodal_core.models.out_of_world import hearing_config
from multimodal_core.models.sound_of_pixels import (
    LEVEL_RMS,
    SeparationConfig,
    SoundOfPixels,
    check_visual_checkpoint,
    region_feature,
    weights_fingerprint,
)
from multimodal_core.settings import REPO_ROOT
from multimodal_core.train import scaffold
from multimodal_core.world.datasets import image_tensor
from multimodal_core.world.separation import SeparationScene, object_point, separation_scene

logger = logging.getLogger(__name__)

PEAK_CELLS = 5  # the map's strongest cells a training vector is drawn from


@dataclass
class TrainArgs:
    """Arguments of one training run (each is also a ``--flag``)."""

    out: Path = REPO_ROOT / "checkpoints" / "separation"  # where the best checkpoint goes
    run_dir: Path = REPO_ROOT / "runs" / "separation"  # resume state (git-ignored)
    localization: Path = REPO_ROOT / "checkpoints" / "localization"  # frozen visual net
    minutes: float = 60.0  # wall-clock budget, validation included
    max_steps: int = 0  # stop after this many steps as well (0: only the time budget)
    batch_size: int = 24  # mixtures per step
    lr: float = 2e-3  # AdamW; warm-up, then cosine-decayed over the budget
    min_lr_fraction: float = 0.05  # the schedule's floor (see scaffold.cosine_lr)
    warmup_steps: int = 100  # steps of linear warm-up before the cosine decay
    weight_decay: float = 1e-4  # AdamW's decoupled weight decay
    grad_clip: float = 5.0  # gradient-norm clip
    seed: int = 0  # seeds the weights and the sampling
    seconds: float = 2.0  # clip length
    three_share: float = 0.4  # share of steps that mix three sources instead of two
    gain_db: float = 6.0  # each source's level is drawn in +-gain_db
    buffer_size: int = 3000  # scenes kept per buffer (two and three sources)
    prefill: int = 600  # scenes rendered into each buffer before the first step
    fresh_per_step: int = 2  # new scenes rendered per step (into the step's buffer)
    val_scenes: int = 100  # two-source validation scenes (their own seed range)
    val_every: int = 250  # steps between validations
    threads: int = 1  # torch threads; other jobs share the machine's two cores
    resume: bool = False  # continue the run in --run-dir (its budget and schedule included)
    log_every: int = 25  # steps between log lines


def parse_args(argv: Sequence[str] | None = None) -> TrainArgs:
    return scaffold.parse_args(TrainArgs, argv, __doc__)


@torch.no_grad()
def peak_features(
    localizer: SoundLocalizer, item: SeparationScene, k: int = PEAK_CELLS
) -> torch.Tensor:
    """(N, k, D): for each clip, the region vectors at the k strongest cells of the map the
    localization model draws for it (3 x 3 smoothed as the app's map), nothing else read."""
    picture = image_tensor(item.scene.image)[None]
    grid = localizer.visual(picture)[0]  # (D, g, g)
    mels = audio.log_mel(torch.from_numpy(item.clips), hearing_config(localizer.config))
    sounds = localizer.audio(mels)  # (N, D)
    similarity = torch.einsum("dhw,nd->nhw", grid, sounds)
    smooth = smoothed_grid(similarity, localizer.config.map_smoothing)
    g = grid.shape[-1]
    cells = smooth.flatten(1).topk(k, dim=1).indices  # (N, k)
    return torch.stack(
        [
            torch.stack([region_feature(grid, int(c) % g, int(c) // g, g, g) for c in row])
            for row in cells
        ]
    )


@torch.no_grad()
def point_features(localizer: SoundLocalizer, item: SeparationScene) -> torch.Tensor:
    """(N, D): each source's vector at its centre (validation and evaluation: a click)."""
    grid = localizer.visual(image_tensor(item.scene.image)[None])[0]
    size = item.scene.size
    return torch.stack(
        [region_feature(grid, *object_point(o.mask), size, size) for o in item.sources]
    )


class SceneBuffer:
    """A ring of rendered scenes with ``n_sources`` sources: float16 clips and peak vectors."""

    def __init__(self, capacity: int, n_sources: int, samples: int, dim: int, first: int) -> None:
        self.n_sources = n_sources
        self.clips = torch.zeros((capacity, n_sources, samples), dtype=torch.float16)
        self.features = torch.zeros((capacity, n_sources, PEAK_CELLS, dim), dtype=torch.float16)
        self.capacity = capacity
        self.filled = 0
        self.cursor = 0
        self.next_index = first  # the next training scene to render

    def add(self, n: int, localizer: SoundLocalizer, args: TrainArgs, sample_rate: int) -> None:
        for _ in range(n):
            item = separation_scene(
                "train", self.next_index, self.n_sources, seconds=args.seconds,
                sample_rate=sample_rate,
            )  # fmt: skip
            self.clips[self.cursor] = torch.from_numpy(item.clips).to(torch.float16)
            self.features[self.cursor] = peak_features(localizer, item).to(torch.float16)
            self.next_index += 1
            self.cursor = (self.cursor + 1) % self.capacity
            self.filled = min(self.filled + 1, self.capacity)

    def sample(
        self, rng: np.random.Generator, n: int, gain_db: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """n scenes: clips (n, N, samples) at random levels and time shifts, and one of each
        source's peak vectors (n, N, D)."""
        picks = torch.from_numpy(rng.choice(self.filled, n, replace=False))
        clips = self.clips[picks].float()
        shifts = rng.integers(clips.shape[-1], size=clips.shape[:2])
        for i, j in np.ndindex(*shifts.shape):
            clips[i, j] = torch.roll(clips[i, j], int(shifts[i, j]))
        gains = torch.from_numpy(rng.uniform(-gain_db, gain_db, clips.shape[:2])).float()
        clips *= (10 ** (gains / 20))[..., None]
        cell = torch.from_numpy(rng.integers(PEAK_CELLS, size=clips.shape[:2]))
        features = self.features[picks].float()  # (n, N, k, D)
        chosen = torch.gather(
            features, 2, cell[..., None, None].expand(-1, -1, 1, features.shape[-1])
        )
        return clips, chosen[:, :, 0]


def training_batch(model: SoundOfPixels, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips (B, N, samples) -> the mixture's magnitude (B, bins, T) and the sources' (B, N,
    bins, T), the mixture scaled to the level the model hears (the sources by the same factor)."""
    rms = clips.sum(1).square().mean(-1).sqrt().clamp_min(1e-8)  # (B,)
    spec = model.stft(clips * (LEVEL_RMS / rms)[:, None, None])  # (B, N, bins, T)
    return spec.sum(1).abs(), spec.abs()


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019): a quick figure for validation."""
    scale = float(np.dot(estimate, reference) / max(np.dot(reference, reference), 1e-12))
    target = scale * reference
    noise = estimate - target
    return float(
        10 * np.log10(max(np.dot(target, target), 1e-12) / max(np.dot(noise, noise), 1e-12))
    )


@dataclass
class ValidationSet:
    items: list[SeparationScene]
    features: list[torch.Tensor]  # (N, D) per item, at each source's centre


def validation_set(
    localizer: SoundLocalizer, n: int, seconds: float, sample_rate: int
) -> ValidationSet:
    items = [
        separation_scene("validation", i, 2, seconds=seconds, sample_rate=sample_rate)
        for i in range(n)
    ]
    return ValidationSet(items, [point_features(localizer, item) for item in items])


def validate(model: SoundOfPixels, data: ValidationSet) -> dict[str, float]:
    """Mean SI-SDR improvement over the mixture of every source of the validation scenes."""
    was_training = model.training
    model.eval()
    gains = []
    for item, features in zip(data.items, data.features, strict=True):
        mixture = item.mixture
        _, waves = model.separate(torch.from_numpy(mixture), features)
        for clip, wave in zip(item.clips, waves.numpy(), strict=True):
            gains.append(si_sdr(wave, clip) - si_sdr(mixture, clip))
    model.train(was_training)
    return {"si_sdri_db": float(np.mean(gains))}


def train(args: TrainArgs) -> dict:
    """Run (or resume) training; returns the record of the best checkpoint."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    localizer = SoundLocalizer.from_pretrained(args.localization).eval()
    for p in localizer.parameters():
        p.requires_grad_(False)
    resume = scaffold.load_state(args.run_dir, args.resume)
    config = (
        SeparationConfig.from_dict(resume.record["config"])
        if resume is not None
        else SeparationConfig(
            visual_dim=localizer.config.embed_dim,
            visual_checkpoint=weights_fingerprint(args.localization),
        )
    )
    check_visual_checkpoint(config, args.localization)
    model = SoundOfPixels(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    parts = {"model": model, "optimizer": optimizer}
    step, elapsed, best, first_scene = scaffold.resume_run(resume, parts, {"score": -1e9})
    n_params = scaffold.parameter_count(model)
    logger.info("model: %d parameters; %s", n_params, args)

    rng = np.random.default_rng([args.seed, step])
    start = time.perf_counter()
    val = validation_set(localizer, args.val_scenes, args.seconds, config.sample_rate)
    samples = round(args.seconds * config.sample_rate)
    # Scene indices: the two-source buffer takes even ones, the three-source buffer odd ones.
    buffers = {n: SceneBuffer(args.buffer_size, n, samples, config.visual_dim, 0) for n in (2, 3)}
    for n, buffer in buffers.items():
        buffer.next_index = 2 * first_scene + (n - 2)
        buffer.add(args.prefill, localizer, args, config.sample_rate)
    logger.info("validation and prefill rendered in %.0f s", time.perf_counter() - start)
    command = scaffold.command_line("multimodal_core.train.separation")
    model.train()
    clock = scaffold.Clock(elapsed)
    window_loss, window_start = [], time.perf_counter()
    while True:
        elapsed = clock.wall()
        if elapsed >= args.minutes * 60 or (args.max_steps and step >= args.max_steps):
            break
        buffer = buffers[3 if rng.random() < args.three_share else 2]
        buffer.add(args.fresh_per_step, localizer, args, config.sample_rate)
        clips, features = buffer.sample(rng, args.batch_size, args.gain_db)
        lr = scaffold.cosine_lr(
            args.lr, elapsed / (args.minutes * 60.0), args.min_lr_fraction, step, args.warmup_steps
        )
        scaffold.set_lr(optimizer, lr)
        mixture, sources = training_batch(model, clips)
        out = model(mixture, features, sources)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        step += 1
        window_loss.append(float(out.loss.detach()))
        if step % args.log_every == 0:
            rate = len(window_loss) / (time.perf_counter() - window_start)
            logger.info(
                "step %d  %.1f min  loss %.4f  lr %.2e  %.2f steps/s",
                step, elapsed / 60, np.mean(window_loss), lr, rate,
            )  # fmt: skip
            window_loss, window_start = [], time.perf_counter()
        last = (args.max_steps and step >= args.max_steps) or clock.wall() >= args.minutes * 60
        if step % args.val_every == 0 or last:
            scores = validate(model, val)
            elapsed = clock.wall()
            logger.info("validation at step %d (%.1f min): %s", step, elapsed / 60, scores)
            if scores["si_sdri_db"] > best["score"]:
                best = {
                    "score": scores["si_sdri_db"],
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
            next_scene = max(b.next_index for b in buffers.values()) // 2 + 1
            scaffold.save_run(
                args.run_dir, parts, step, elapsed, best, next_scene, config=asdict(config)
            )
    return scaffold.finish(step, best, clock)


def main(argv: Sequence[str] | None = None) -> int:
    return scaffold.main(train, TrainArgs, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
