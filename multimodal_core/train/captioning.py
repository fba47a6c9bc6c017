"""Train Show, Attend and Tell on the world: ``python -m multimodal_core.train.captioning``.

Scenes are rendered fresh during training into a replay buffer (a few new ones a step, each
seen about ``batch_size / fresh_per_step`` times), so one process on one core keeps busy with
the model rather than with drawing. Every step takes one random reference caption per scene.
Every ``val_every`` steps the model captions the validation scenes greedily; the best by BLEU-4
is written to ``--out`` (config.json, fp16 model.safetensors, vocab.json, training.json). Resume
state (weights, optimiser, counters) goes to ``--run-dir`` and ``--resume`` continues from it,
including the time spent, which drives the learning-rate schedule. The budget ``--minutes`` is
CPU time of this process (it runs on one thread), so jobs sharing the cores do not shorten the
training; ``--max-wall-minutes`` caps the wall-clock time as well.
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

from multimodal_core.decoding import greedy_decode
from multimodal_core.evaluate.metrics import caption_scores
from multimodal_core.models.show_and_tell import ShowAndTell, ShowAndTellConfig
from multimodal_core.models.show_attend_tell import (
    ShowAttendTell,
    ShowAttendTellConfig,
    Vocabulary,
)
from multimodal_core.settings import REPO_ROOT
from multimodal_core.train import scaffold
from multimodal_core.world import catalogue, language
from multimodal_core.world.catalogue import CLASS_NAMES
from multimodal_core.world.datasets import image_tensor
from multimodal_core.world.scenes import Scene
from multimodal_core.world.splits import scene_in_split

logger = logging.getLogger(__name__)

Captioner = ShowAttendTell | ShowAndTell
"""The built-in captioners this loop trains: the attention model and its ablation."""

CLASS_INDEX: dict[str, int] = {name: i for i, name in enumerate(CLASS_NAMES)}
"""Region-label ids: catalogue order (+1; 0 is background)."""


@dataclass
class TrainArgs:
    """Arguments of one training run (each is also a ``--flag``)."""

    out: Path = REPO_ROOT / "checkpoints" / "captioning"  # where the best checkpoint goes
    run_dir: Path = REPO_ROOT / "runs" / "captioning"  # resume state (git-ignored)
    image_size: int = 96  # 96 px trains ~2x faster than 128 and objects stay recognisable
    minutes: float = (
        45.0  # compute budget: CPU minutes of this process (one thread), validation included
    )
    max_wall_minutes: float = (
        0.0  # also stop at this wall-clock time (0: none); shared cores run slower
    )
    max_steps: int = 0  # stop after this many steps as well (0: only the time budget)
    batch_size: int = 64  # scenes per step
    lr: float = 2e-3  # Adam; cosine-decayed over the time budget to lr * min_lr_fraction
    min_lr_fraction: float = 0.05  # the schedule's floor (see scaffold.cosine_lr)
    grad_clip: float = 5.0  # gradient-norm clip
    seed: int = 0  # seeds the weights and the sampling
    buffer_size: int = 6144  # rendered scenes kept for sampling
    fresh_per_step: int = 16  # new scenes rendered per step
    val_scenes: int = 300  # validation scenes (their own seed range, never trained on)
    val_every: int = 300  # steps between validations
    vocab_scenes: int = 3000  # training scenes whose captions make the vocabulary
    threads: int = 1  # torch threads; other jobs share the machine's two cores
    region_loss_weight: float = 1.0  # auxiliary "class under each region" loss (0: off)
    resume: bool = False  # continue the run in --run-dir (its budget and schedule included)
    log_every: int = 50  # steps between log lines


def parse_args(argv: Sequence[str] | None = None) -> TrainArgs:
    return scaffold.parse_args(TrainArgs, argv, __doc__)


def build_vocabulary(n_scenes: int) -> Vocabulary:
    """Every word of the captions of ``n_scenes`` training scenes and of the catalogue's nouns."""
    sentences: list[str] = []
    for cls in catalogue.CLASSES:
        sentences += [cls.name, cls.plural, *cls.synonyms]
    sentences += list(language.NUMBERS) + list(language.POSITION_PHRASES.values())
    for index in range(n_scenes):
        sentences += language.captions(scene_in_split("train", index, size=64))
    return Vocabulary.build(sentences)


REGION_MIN_COVER = 0.2  # a region is labelled with a class when its object covers this share


def region_labels(scene: Scene, grid: int) -> np.ndarray:
    """(grid * grid,) class index + 1 of the object covering most of each region, 0 for
    background (or when no object covers REGION_MIN_COVER of it)."""
    cell = scene.size // grid
    cover = np.zeros((len(scene.objects) + 1, grid, grid), np.float32)
    cover[0] = REGION_MIN_COVER  # background wins below the threshold
    for i, obj in enumerate(scene.objects, start=1):
        cover[i] = obj.mask.reshape(grid, cell, grid, cell).mean(axis=(1, 3))
    ids = np.array([0] + [CLASS_INDEX[o.name] + 1 for o in scene.objects], np.uint8)
    return ids[cover.argmax(axis=0)].reshape(-1)


class SceneBuffer:
    """A ring of rendered training scenes: uint8 images (N, 3, H, W), region labels (N, R) and
    their references."""

    def __init__(self, capacity: int, size: int, first_index: int, grid: int) -> None:
        self.images = torch.zeros((capacity, 3, size, size), dtype=torch.uint8)
        self.regions = torch.zeros((capacity, grid * grid), dtype=torch.uint8)
        self.grid = grid
        self.captions: list[list[str]] = [[] for _ in range(capacity)]
        self.size = size
        self.filled = 0
        self.cursor = 0
        self.next_index = first_index  # the next training scene to render

    def add(self, n: int) -> None:
        for _ in range(n):
            s = scene_in_split("train", self.next_index, size=self.size)
            self.images[self.cursor] = torch.from_numpy(s.image).permute(2, 0, 1)
            self.regions[self.cursor] = torch.from_numpy(region_labels(s, self.grid))
            self.captions[self.cursor] = language.captions(s)
            self.next_index += 1
            self.cursor = (self.cursor + 1) % len(self.captions)
            self.filled = min(self.filled + 1, len(self.captions))

    def sample(
        self, rng: np.random.Generator, n: int
    ) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        """n scenes (with replacement), their region labels (n, R) and one random reference each."""
        picks = rng.integers(0, self.filled, n)
        index = torch.from_numpy(picks)
        images = self.images[index].float().div_(255.0)  # (n, 3, H, W)
        refs = [self.captions[i][rng.integers(len(self.captions[i]))] for i in picks]
        return images, self.regions[index].long(), refs


def encode_batch(vocab: Vocabulary, sentences: list[str], max_length: int) -> torch.Tensor:
    """<start> words <end> <pad>... as (B, T+1) ids, T the longest caption of the batch."""
    ids = [vocab.encode(s, max_length) for s in sentences]
    out = torch.zeros((len(ids), max(len(i) for i in ids)), dtype=torch.long)  # pad id 0
    for row, seq in enumerate(ids):
        out[row, : len(seq)] = torch.tensor(seq)
    return out


def validation_set(n: int, size: int) -> tuple[torch.Tensor, list[list[str]]]:
    scenes = [scene_in_split("validation", i, size=size) for i in range(n)]
    return torch.stack([image_tensor(s.image) for s in scenes]), [
        language.captions(s) for s in scenes
    ]


def validate(
    model: Captioner, vocab: Vocabulary, images: torch.Tensor, refs: list[list[str]]
) -> dict[str, float]:
    """Greedy captions of the validation scenes, scored against all their references."""
    model.eval()
    hyps: list[str] = []
    for start in range(0, len(images), 100):
        batch = images[start : start + 100].contiguous(memory_format=torch.channels_last)
        hyps += [" ".join(vocab.decode(h.tokens)) for h in greedy_decode(model, batch)]
    model.train()
    return caption_scores(hyps, refs)


def progress(args: TrainArgs, cpu: float, wall: float) -> float:
    """Share of the budget spent: CPU time, or wall time when that limit is nearer."""
    done = cpu / (args.minutes * 60.0)
    if args.max_wall_minutes > 0:
        done = max(done, wall / (args.max_wall_minutes * 60.0))
    return done


def save_best(model: Captioner, vocab: Vocabulary, args: TrainArgs, record: dict) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out)
    vocab.save(args.out)
    scaffold.write_record(args.out, record)


def train(args: TrainArgs) -> dict:
    """Run (or resume) training; returns the record of the best checkpoint."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    resume = scaffold.load_state(args.run_dir, args.resume)

    if resume is not None:
        vocab = Vocabulary(resume.record["vocab"])
        config = ShowAttendTellConfig.from_dict(resume.record["config"])
    else:
        start = time.perf_counter()
        vocab = build_vocabulary(args.vocab_scenes)
        logger.info("vocabulary: %d words (%.1f s)", len(vocab), time.perf_counter() - start)
        config = ShowAttendTellConfig(vocab_size=len(vocab), image_size=args.image_size)
    if args.region_loss_weight > 0:
        config.region_classes = len(CLASS_INDEX) + 1
        config.region_loss_weight = args.region_loss_weight
    else:
        config.region_classes = 0
    model = ShowAttendTell(config).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    if resume is not None:
        missing, unexpected = model.load_state_dict(resume.weights["model"], strict=False)
        if unexpected or any(not k.startswith("region_head.") for k in missing):
            raise RuntimeError(
                f"resume state does not fit: missing {missing}, unexpected {unexpected}"
            )
        if missing:  # the auxiliary head was switched on: new head, fresh optimiser moments
            logger.info("resume: new region head %s; the optimiser starts afresh", missing)
        else:
            optimizer.load_state_dict(resume.weights["optimizer"])
    return fit(args, model, vocab, config, optimizer, resume, "multimodal_core.train.captioning")


def fit(
    args: TrainArgs,
    model: Captioner,
    vocab: Vocabulary,
    config: ShowAttendTellConfig | ShowAndTellConfig,
    optimizer: torch.optim.Optimizer,
    resume: scaffold.ResumeState | None,
    module: str,
) -> dict:
    """The training loop both built-in captioners share (``train.show_and_tell`` is the
    ablation): replay buffer, cosine schedule, greedy BLEU-4 validation, best checkpoint and
    resume state. ``model`` and ``optimizer`` already hold any resumed weights; ``module`` is
    the command recorded in the card."""
    step, elapsed, best, first_scene = scaffold.resume_run(resume, {}, {"bleu4": -1.0})
    cpu_used = float(resume.record["cpu"]) if resume is not None else 0.0
    n_params = scaffold.parameter_count(model)
    logger.info("model: %d parameters, %d words; args %s", n_params, len(vocab), args)

    rng = np.random.default_rng([args.seed, step])
    val_images, val_refs = validation_set(args.val_scenes, config.image_size)
    buffer = SceneBuffer(args.buffer_size, config.image_size, first_scene, config.grid_size)
    buffer.add(min(args.buffer_size, max(args.batch_size, args.buffer_size // 3)))
    command = scaffold.command_line(module)
    model.train()
    clock = scaffold.Clock(elapsed, cpu_used)
    window_loss, window_region, window_start = [], [], time.perf_counter()
    while True:
        elapsed, cpu_used = clock.wall(), clock.cpu()
        done = progress(args, cpu_used, elapsed)
        if done >= 1.0 or (args.max_steps and step >= args.max_steps):
            break
        buffer.add(args.fresh_per_step)
        images, regions, refs = buffer.sample(rng, args.batch_size)
        captions = encode_batch(vocab, refs, config.max_length)
        lr = scaffold.cosine_lr(args.lr, done, args.min_lr_fraction)
        scaffold.set_lr(optimizer, lr)
        out = model(
            images.contiguous(memory_format=torch.channels_last),
            captions,
            regions if config.region_classes else None,
        )
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        step += 1
        window_loss.append(float(out.cross_entropy.detach()))
        if out.region_loss is not None:
            window_region.append(float(out.region_loss.detach()))
        if step % args.log_every == 0:
            rate = len(window_loss) / (time.perf_counter() - window_start)
            logger.info(
                "step %d  %.1f min (cpu %.1f)  cross-entropy %.3f  region %.3f  lr %.2e"
                "  %.2f steps/s",
                step, elapsed / 60, cpu_used / 60, np.mean(window_loss),
                np.mean(window_region) if window_region else float("nan"), lr, rate,
            )  # fmt: skip
            window_loss, window_region, window_start = [], [], time.perf_counter()
        last_step = (
            bool(args.max_steps and step >= args.max_steps)
            or progress(args, clock.cpu(), clock.wall()) >= 1.0
        )  # the budget ends here: validate this last model too
        if step % args.val_every == 0 or last_step:
            scores = validate(model, vocab, val_images, val_refs)
            elapsed = clock.wall()
            logger.info(
                "validation at step %d (%.1f min): BLEU-4 %.3f  CIDEr %.3f",
                step, elapsed / 60, scores["bleu4"], scores["cider"],
            )  # fmt: skip
            if scores["bleu4"] > best["bleu4"]:
                best = {
                    **scores,
                    "step": step,
                    "minutes": round(elapsed / 60, 2),
                    "cpu_minutes": round(clock.cpu() / 60, 2),
                    "seed": args.seed,
                    "command": command,
                    "args": asdict(args),
                    "grammar_version": language.GRAMMAR_VERSION,
                    "parameters": n_params,
                }
                save_best(model, vocab, args, best)
                logger.info("new best checkpoint written to %s", args.out)
            scaffold.save_run(
                args.run_dir, {"model": model, "optimizer": optimizer}, step, elapsed, best,
                buffer.next_index, cpu=clock.cpu(), vocab=vocab.words, config=asdict(config),
            )  # fmt: skip
    return scaffold.finish(step, best, clock, cpu=True)


def main(argv: Sequence[str] | None = None) -> int:
    return scaffold.main(train, TrainArgs, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
