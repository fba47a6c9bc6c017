"""Train the face-attribute judge: ``python -m multimodal_core.train.face_attributes``.

The judge reads age group, gender, skin tone and hair off a face; the voice-to-face evaluation
uses it to read the faces drawn from voices. It learns from world faces (at random scale, offset
and background) and from normalised renders (the glyph centred on a neutral background, what the
decoder draws) blurred at random, half a batch each; it never sees a face drawn from a voice. The
best by mean validation accuracy over the four attributes is written to ``--out``.

``python -m multimodal_core.train.voice_to_face`` runs this same stage between its face and voice
stages (``--stages``); this entry point trains the judge alone, on voice-to-face's cache of
rendered people (``--cache-dir``, written on first use).
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

from multimodal_core.models.face_attributes import FaceAttributeClassifier, FaceAttributesConfig
from multimodal_core.settings import REPO_ROOT
from multimodal_core.train import scaffold
from multimodal_core.train.people_cache import training_people
from multimodal_core.train.stages import Stage, finish_stage, run_stage
from multimodal_core.world.people_sets import People, to_images

logger = logging.getLogger(__name__)


@dataclass
class TrainArgs:
    """Arguments of one training run (each is also a ``--flag``)."""

    out: Path = REPO_ROOT / "checkpoints" / "face_attributes"  # the judge's checkpoint
    run_dir: Path = REPO_ROOT / "runs" / "face_attributes"  # best-so-far weights (git-ignored)
    cache_dir: Path = REPO_ROOT / ".cache" / "voice_to_face"  # rendered people (git-ignored)
    people: int = 4000  # training people in the cache (voices and faces)
    extra_faces: int = 8000  # more training faces (no voice)
    seconds: float = 3.0  # speech per cached person (names the cache voice-to-face shares)
    minutes: float = 3.0  # wall-clock budget
    batch_size: int = 64  # faces per step: half world faces, half blurred normalised renders
    lr: float = 2e-3  # Adam; cosine-decayed over the budget to lr * 0.05
    val_people: int = 300  # validation people (their own seed range, never trained on)
    val_every: int = 200  # steps between validations
    seed: int = 0  # the judge's initialisation and sampling use seed + 1, as in voice-to-face
    threads: int = 1  # torch threads; other jobs share the machine's two cores
    resume: bool = False  # continue the run in --run-dir, its budget and schedule included


def parse_args(argv: Sequence[str] | None = None) -> TrainArgs:
    return scaffold.parse_args(TrainArgs, argv, __doc__)


def blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Gaussian blur per image (B, 3, H, W) with standard deviations ``sigma`` (B,) in pixels."""
    radius = 3
    x = torch.arange(-radius, radius + 1, dtype=images.dtype)
    kernels = torch.exp(-(x[None] ** 2) / (2 * sigma[:, None].clamp_min(1e-3) ** 2))
    kernels = kernels / kernels.sum(-1, keepdim=True)  # (B, K)
    b, c, h, w = images.shape
    flat = images.reshape(1, b * c, h, w)
    k = kernels.repeat_interleave(c, 0)  # (B * 3, K)
    flat = F.conv2d(
        F.pad(flat, (radius, radius, 0, 0), mode="replicate"), k[:, None, None, :], groups=b * c
    )
    flat = F.conv2d(
        F.pad(flat, (0, 0, radius, radius), mode="replicate"), k[:, None, :, None], groups=b * c
    )
    return flat.reshape(b, c, h, w)


@torch.no_grad()
def judge_accuracy(
    judge: FaceAttributeClassifier, faces: torch.Tensor, labels: np.ndarray
) -> list[float]:
    """Accuracy per attribute of the judge on faces (B, 3, S, S)."""
    judge.eval()
    logits = judge(faces).logits
    return [
        (lg.argmax(-1) == torch.from_numpy(labels[:, k])).float().mean().item()
        for k, lg in enumerate(logits)
    ]


def judge_stage(
    minutes: float, batch_size: int, lr: float, seed: int, run_dir: Path, train: People, val: People
) -> Stage:
    """The judge's stage: world faces and blurred normalised renders, half a batch each; the
    best by mean validation accuracy goes to ``run_dir/judge``."""
    torch.manual_seed(seed + 1)
    judge = FaceAttributeClassifier(FaceAttributesConfig())
    optimiser = torch.optim.Adam(judge.parameters(), lr=lr)
    half = batch_size // 2
    val_faces = to_images(val.faces)

    def step(rng: np.random.Generator) -> dict[str, torch.Tensor]:
        judge.train()
        a = rng.integers(0, len(train.faces), half)
        b = rng.integers(0, len(train.faces), batch_size - half)
        normalised = to_images(train.normalised[b])
        normalised = blur(normalised, torch.from_numpy(rng.uniform(0.0, 1.5, len(b))).float())
        faces = torch.cat([to_images(train.faces[a]), normalised])
        labels = torch.from_numpy(np.concatenate([train.labels[a], train.labels[b]]))
        loss = judge(faces, labels).loss
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        return {"loss": loss.detach()}

    def validate(step: int, best: dict) -> dict:
        accs = judge_accuracy(judge, val_faces, val.labels)
        logger.info("judge val step %d  acc %s", step, np.round(accs, 3))
        if float(np.mean(accs)) <= best["val_acc"]:
            return best
        judge.save_pretrained(run_dir / "judge", dtype=torch.float32)
        return {"val_acc": float(np.mean(accs)), "per_attribute": accs, "step": step}

    best = {"val_acc": -1.0}
    return Stage("judge", judge, optimiser, minutes, seed + 1, step, validate, best)


def train(args: TrainArgs) -> dict:
    """Run (or resume) the judge's training; returns its record."""
    torch.set_num_threads(args.threads)
    resume = scaffold.load_state(args.run_dir, args.resume)
    start = time.perf_counter()
    _, faces, val = training_people(
        args.cache_dir, args.people, args.extra_faces, args.seconds, args.val_people
    )
    record: dict = {
        "command": scaffold.command_line("multimodal_core.train.face_attributes"),
        "args": {k: str(v) for k, v in asdict(args).items()},
        "cache_seconds": round(time.perf_counter() - start, 1),
        "stage": "judge",
    }
    if resume is not None and "judge" in resume.record["finished"]:
        record["judge"] = resume.record["finished"]["judge"]
    else:
        stage = judge_stage(
            args.minutes, args.batch_size, args.lr, args.seed, args.run_dir, faces, val
        )
        record["judge"] = run_stage(stage, args.lr, args.val_every, args.run_dir, resume, {})
        finish_stage(args.run_dir, {"judge": record["judge"]})
    judge = FaceAttributeClassifier.from_pretrained(args.run_dir / "judge")
    judge.save_pretrained(args.out)
    scaffold.write_record(args.out, record)
    logger.info("judge written to %s", args.out)
    return record


def main(argv: Sequence[str] | None = None) -> int:
    return scaffold.main(train, TrainArgs, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
