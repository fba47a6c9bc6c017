"""Train Show and Tell on the world: ``python -m multimodal_core.train.show_and_tell``.

The ablation of the attention captioner, trained the way ``multimodal_core.train.captioning``
trains it: the same replay buffer of freshly rendered training scenes, one random reference per
scene per step, the same vocabulary code, seed, optimiser, schedule, region head, validation
(greedy BLEU-4 on the validation scenes; the best is written to ``--out``) and resume state in
``--run-dir``. Only the model differs. ``--minutes`` is CPU time of this process,
``--max-wall-minutes`` caps the wall-clock time as well.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from multimodal_core.models.show_and_tell import POOLINGS, ShowAndTell, ShowAndTellConfig
from multimodal_core.models.show_attend_tell import Vocabulary
from multimodal_core.settings import REPO_ROOT
from multimodal_core.train import captioning, scaffold
from multimodal_core.world import language

logger = logging.getLogger(__name__)


@dataclass
class TrainArgs(captioning.TrainArgs):
    """The attention captioner's arguments (see ``python -m multimodal_core.train.captioning
    --help``), with this model's folders."""

    out: Path = REPO_ROOT / "checkpoints" / "show_and_tell"  # where the best checkpoint goes
    run_dir: Path = REPO_ROOT / "runs" / "show_and_tell"  # resume state (git-ignored)
    pooling: str = field(
        default="mean", metadata={"choices": POOLINGS}
    )  # region features -> one vector


def parse_args(argv: Sequence[str] | None = None) -> TrainArgs:
    return scaffold.parse_args(TrainArgs, argv, __doc__)


def train(args: TrainArgs) -> dict:
    """Run (or resume) training; returns the record of the best checkpoint."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    resume = scaffold.load_state(args.run_dir, args.resume)
    if resume is not None:
        vocab = Vocabulary(resume.record["vocab"])
        config = ShowAndTellConfig.from_dict(resume.record["config"])
    else:
        vocab = captioning.build_vocabulary(args.vocab_scenes)
        config = ShowAndTellConfig(
            vocab_size=len(vocab),
            image_size=args.image_size,
            region_classes=len(captioning.CLASS_INDEX) + 1 if args.region_loss_weight > 0 else 0,
            region_loss_weight=args.region_loss_weight,
            pooling=args.pooling,
        )
    model = ShowAndTell(config).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    parts = {"model": model, "optimizer": optimizer}
    step, elapsed, best, first_scene = scaffold.resume_run(resume, parts, {"bleu4": -1.0})
    cpu_used = float(resume.record["cpu"]) if resume is not None else 0.0
    n_params = scaffold.parameter_count(model)
    logger.info("model: %d parameters, %d words; args %s", n_params, len(vocab), args)

    rng = np.random.default_rng([args.seed, step])
    val_images, val_refs = captioning.validation_set(args.val_scenes, config.image_size)
    buffer = captioning.SceneBuffer(
        args.buffer_size, config.image_size, first_scene, config.grid_size
    )
    buffer.add(min(args.buffer_size, max(args.batch_size, args.buffer_size // 3)))
    command = scaffold.command_line("multimodal_core.train.show_and_tell")
    model.train()
    clock = scaffold.Clock(elapsed, cpu_used)
    window_loss, window_start = [], time.perf_counter()
    while True:
        done = captioning.progress(args, clock.cpu(), clock.wall())
        if done >= 1.0 or (args.max_steps and step >= args.max_steps):
            break
        buffer.add(args.fresh_per_step)
        images, regions, refs = buffer.sample(rng, args.batch_size)
        captions = captioning.encode_batch(vocab, refs, config.max_length)
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
        if step % args.log_every == 0:
            rate = len(window_loss) / (time.perf_counter() - window_start)
            logger.info(
                "step %d  %.1f min (cpu %.1f)  cross-entropy %.3f  lr %.2e  %.2f steps/s",
                step, clock.wall() / 60, clock.cpu() / 60, np.mean(window_loss), lr, rate,
            )  # fmt: skip
            window_loss, window_start = [], time.perf_counter()
        last_step = (
            bool(args.max_steps and step >= args.max_steps)
            or captioning.progress(args, clock.cpu(), clock.wall()) >= 1.0
        )  # the budget ends here: validate this last model too
        if step % args.val_every == 0 or last_step:
            scores = captioning.validate(model, vocab, val_images, val_refs)  # type: ignore[arg-type]
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
                captioning.save_best(model, vocab, args, best)  # type: ignore[arg-type]
                logger.info("new best checkpoint written to %s", args.out)
            scaffold.save_run(
                args.run_dir, parts, step, elapsed, best, buffer.next_index,
                cpu=clock.cpu(), vocab=vocab.words, config=asdict(config),
            )  # fmt: skip
    return scaffold.finish(step, best, clock, cpu=True)


def main(argv: Sequence[str] | None = None) -> int:
    return scaffold.main(train, TrainArgs, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
