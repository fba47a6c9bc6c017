"""Train voice-to-face on the world: ``python -m multimodal_core.train.voice_to_face``.

Three stages in one process, as in the Speech2Face paper (arXiv:1905.09773), where the face
side is trained first and frozen:

1. ``faces``: the face encoder, the decoder (drawing the *normalised* face: the person's glyph
   centred at one scale on a neutral background) and the attribute head, on world faces at random
   scale, offset and background.
2. ``judge``: the face-attribute classifier that evaluation uses to read drawn faces, on world
   faces and on normalised renders blurred at random (it never sees a face drawn from a voice).
3. ``voice``: the voice encoder, with everything else frozen, predicts the face embedding of the
   same person from a crop of their log-mel spectrogram (L1 + distillation, see the model file).

Voices cost about 25 ms each to synthesise and faces about 5 ms, so the first run renders a cache
of ``--people`` training people (3 s of speech as float16 log-mels, the face, its normalised
render, the attributes) into ``.cache/voice_to_face/`` (git-ignored); later runs reuse it. Each
stage writes its best-so-far weights to ``--run-dir`` as it goes and its final checkpoint to
``--out`` / ``--judge-out``; ``--stages voice`` retrains the voice encoder alone from the face
checkpoint in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from functools import cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from multimodal_core import audio
from multimodal_core.models.face_attributes import FaceAttributeClassifier, FaceAttributesConfig
from multimodal_core.models.speech2face import Speech2Face, Speech2FaceConfig
from multimodal_core.settings import REPO_ROOT
from multimodal_core.world.glyphs import glyph
from multimodal_core.world.people import (
    AGE_GROUPS,
    GENDERS,
    SKIN_TONE_NAMES,
    Person,
    person,
)
from multimodal_core.world.splits import seeds

logger = logging.getLogger(__name__)

HAIR_NAMES: tuple[str, ...] = ("default", "red", "curly", "blond", "bald", "beard", "gray")
"""Every hair style of ``world.people.HAIR_STYLES``, in the judge's and the head's order."""
ATTRIBUTES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("age_group", AGE_GROUPS),
    ("gender", GENDERS),
    ("skin_tone", SKIN_TONE_NAMES),
    ("hair", HAIR_NAMES),
)
FEATURES = audio.FeatureConfig()  # 16 kHz, 10 ms hops, 64 mels: the voice encoder's input
NEUTRAL_BACKGROUND = (0.55, 0.62, 0.70)  # blue-grey: contrasts with light hair and every skin
NORMALISED_SCALE = 0.8  # glyph side / image side of the normalised face


@dataclass
class TrainArgs:
    """Arguments of one training run (each is also a ``--flag``)."""

    out: Path = REPO_ROOT / "checkpoints" / "voice_to_face"  # Speech2Face checkpoint
    judge_out: Path = REPO_ROOT / "checkpoints" / "face_attributes"  # the judge's checkpoint
    run_dir: Path = REPO_ROOT / "runs" / "voice_to_face"  # best-so-far weights (git-ignored)
    cache_dir: Path = REPO_ROOT / ".cache" / "voice_to_face"  # rendered people (git-ignored)
    stages: str = "faces,judge,voice"  # comma-separated subset, run in this order
    people: int = 4000  # training people in the cache (voices and faces)
    extra_faces: int = 8000  # more training faces (no voice) for the face stages
    seconds: float = 3.0  # speech per cached person
    crop_frames: int = 160  # 1.6 s crops of the 3 s log-mels while training the voice encoder
    face_minutes: float = 8.0
    judge_minutes: float = 3.0
    voice_minutes: float = 16.0
    batch_size: int = 64
    lr: float = 2e-3  # Adam; cosine-decayed over each stage's budget to lr * 0.05
    val_people: int = 300  # validation people (their own seed range, never trained on)
    val_every: int = 200  # steps between validations
    seed: int = 0
    threads: int = 1  # two other trainings share this 2-core machine

    def __post_init__(self) -> None:
        unknown = set(self.stages.split(",")) - {"faces", "judge", "voice"}
        if unknown:
            raise ValueError(f"unknown stages {sorted(unknown)}; choose from faces, judge, voice")


def parse_args(argv: Sequence[str] | None = None) -> TrainArgs:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in fields(TrainArgs):
        kind = {"Path": Path, "int": int, "float": float, "str": str}[str(f.type)]
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=f.default)
    return TrainArgs(**vars(parser.parse_args(argv)))


# ----- data ----------------------------------------------------------------------------------


@cache
def _normalised_face_cached(emoji: str, size: int) -> np.ndarray:
    px = max(8, 2 * round(NORMALISED_SCALE * size / 2))
    g = glyph(emoji, px)
    h, w = g.alpha.shape[:2]
    image = np.empty((size, size, 3), np.float32)
    image[:] = NEUTRAL_BACKGROUND
    y, x = (size - h) // 2, (size - w) // 2
    image[y : y + h, x : x + w] = image[y : y + h, x : x + w] * (1.0 - g.alpha) + g.rgb
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def normalised_face(p: Person, size: int = 64) -> np.ndarray:
    """(size, size, 3) uint8: the person's glyph centred at one scale on a neutral background,
    what the decoder learns to draw (the paper's normalised, front-facing face)."""
    return _normalised_face_cached(p.emoji, size)


def attribute_labels(p: Person) -> list[int]:
    """Indices of age group, gender, skin tone and hair, in :data:`ATTRIBUTES` order."""
    return [names.index(getattr(p, key)) for key, names in ATTRIBUTES]


@dataclass
class People:
    """Rendered people: faces and normalised faces (N, 64, 64, 3) uint8, labels (N, 4) int64,
    and log-mels (N, n_mels, T) float16 in dB (absent for face-only sets)."""

    seeds: np.ndarray
    faces: np.ndarray
    normalised: np.ndarray
    labels: np.ndarray
    mels: np.ndarray | None


def voice_log_mel(samples: np.ndarray) -> torch.Tensor:
    """(n_mels, T) dB log-mel of a 16 kHz voice: the voice encoder's input."""
    return audio.log_mel(samples, FEATURES)


def render_people(people_seeds: Sequence[int], seconds: float | None, size: int = 64) -> People:
    """Render the people of ``people_seeds``; ``seconds=None`` skips their voices."""
    people = [person(int(s)) for s in people_seeds]
    faces = np.stack([p.face(size) for p in people])
    normalised = np.stack([normalised_face(p, size) for p in people])
    labels = np.asarray([attribute_labels(p) for p in people], np.int64)
    mels = None
    if seconds is not None:
        chunks = []
        for start in range(0, len(people), 64):
            waves = np.stack(
                [p.voice(seconds, FEATURES.sample_rate) for p in people[start : start + 64]]
            )
            chunks.append(voice_log_mel(waves).to(torch.float16).numpy())  # (b, M, T)
            if start % 1024 == 0:
                logger.info("rendered %d / %d voices", start + len(waves), len(people))
        mels = np.concatenate(chunks)
    return People(np.asarray(people_seeds, np.int64), faces, normalised, labels, mels)


def cached_people(
    cache_dir: Path, name: str, people_seeds: Sequence[int], seconds: float | None
) -> People:
    """:func:`render_people`, stored as ``cache_dir/name.npz`` and reused when the seeds match."""
    path = cache_dir / f"{name}.npz"
    if path.is_file():
        data = np.load(path)
        if np.array_equal(data["seeds"], np.asarray(people_seeds)):
            mels = data.get("mels", None)
            return People(data["seeds"], data["faces"], data["normalised"], data["labels"], mels)
    start = time.perf_counter()
    people = render_people(people_seeds, seconds)
    cache_dir.mkdir(parents=True, exist_ok=True)
    arrays = {k: v for k, v in asdict(people).items() if v is not None}
    np.savez(path, **arrays)
    logger.info(
        "cached %d people in %s (%.0f s)", len(people_seeds), path, time.perf_counter() - start
    )
    return people


def to_images(batch: np.ndarray) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255.0)


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


# ----- stages --------------------------------------------------------------------------------


def _lr(args: TrainArgs, elapsed: float, minutes: float) -> float:
    progress = min(1.0, elapsed / (minutes * 60.0))
    return args.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def train_faces(args: TrainArgs, model: Speech2Face, train: People, val: People) -> dict:
    """Stage 1: autoencoder to normalised faces + attribute head."""
    params = [
        *model.face_encoder.parameters(),
        *model.face_decoder.parameters(),
        *model.attribute_head.parameters(),
    ]
    optimiser = torch.optim.Adam(params, lr=args.lr)
    rng = np.random.default_rng(args.seed)
    start, step, best = time.perf_counter(), 0, {"val_l1": math.inf}
    val_faces, val_targets = to_images(val.faces), to_images(val.normalised)
    done = False
    while not done:
        model.train()
        idx = rng.integers(0, len(train.faces), args.batch_size)
        out = model.face_autoencoder(
            to_images(train.faces[idx]),
            to_images(train.normalised[idx]),
            torch.from_numpy(train.labels[idx]),
        )
        for group in optimiser.param_groups:
            group["lr"] = _lr(args, time.perf_counter() - start, args.face_minutes)
        optimiser.zero_grad(set_to_none=True)
        out.loss.backward()
        optimiser.step()
        step += 1
        done = time.perf_counter() - start >= args.face_minutes * 60
        if step % 50 == 0:
            logger.info(
                "faces step %d  l1 %.4f  attr %.3f  (%.0f s)",
                step, out.reconstruction_loss.item(), out.attribute_loss.item(),
                time.perf_counter() - start,
            )  # fmt: skip
        if step % args.val_every == 0 or done:
            model.eval()
            with torch.no_grad():
                v = model.face_autoencoder(val_faces)
            l1 = F.l1_loss(v.reconstruction, val_targets).item()
            accs = [
                (lg.argmax(-1) == torch.from_numpy(val.labels[:, k])).float().mean().item()
                for k, lg in enumerate(v.attribute_logits)
            ]
            logger.info("faces val step %d  l1 %.4f  head acc %s", step, l1, np.round(accs, 3))
            if l1 < best["val_l1"]:
                best = {"val_l1": l1, "head_acc": accs, "step": step}
                model.save_pretrained(args.run_dir / "faces", dtype=torch.float32)
    best["steps"] = step
    best["seconds"] = round(time.perf_counter() - start, 1)
    return best


def train_judge(
    args: TrainArgs, train: People, val: People
) -> tuple[FaceAttributeClassifier, dict]:
    """Stage 2: the judge, on world faces and blurred normalised renders."""
    torch.manual_seed(args.seed + 1)
    judge = FaceAttributeClassifier(FaceAttributesConfig())
    optimiser = torch.optim.Adam(judge.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed + 1)
    start, step, best = time.perf_counter(), 0, {"val_acc": -1.0}
    half = args.batch_size // 2
    done = False
    while not done:
        judge.train()
        a = rng.integers(0, len(train.faces), half)
        b = rng.integers(0, len(train.faces), args.batch_size - half)
        normalised = to_images(train.normalised[b])
        normalised = blur(normalised, torch.from_numpy(rng.uniform(0.0, 1.5, len(b))).float())
        faces = torch.cat([to_images(train.faces[a]), normalised])
        labels = torch.from_numpy(np.concatenate([train.labels[a], train.labels[b]]))
        for group in optimiser.param_groups:
            group["lr"] = _lr(args, time.perf_counter() - start, args.judge_minutes)
        loss = judge(faces, labels).loss
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        step += 1
        done = time.perf_counter() - start >= args.judge_minutes * 60
        if step % 50 == 0:
            logger.info("judge step %d  loss %.4f", step, loss.item())
        if step % args.val_every == 0 or done:
            accs = judge_accuracy(judge, to_images(val.faces), val.labels)
            logger.info("judge val step %d  acc %s", step, np.round(accs, 3))
            if float(np.mean(accs)) > best["val_acc"]:
                best = {"val_acc": float(np.mean(accs)), "per_attribute": accs, "step": step}
                judge.save_pretrained(args.run_dir / "judge", dtype=torch.float32)
    best["steps"] = step
    best["seconds"] = round(time.perf_counter() - start, 1)
    return judge, best


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


def train_voice(args: TrainArgs, model: Speech2Face, train: People, val: People) -> dict:
    """Stage 3: the voice encoder predicts the frozen face encoder's embedding."""
    for module in (model.face_encoder, model.face_decoder, model.attribute_head):
        module.eval()
        for p in module.parameters():
            p.requires_grad_(False)
    with torch.no_grad():
        targets = torch.cat(
            [
                model.face_encoder(to_images(train.faces[i : i + 256]))
                for i in range(0, len(train.faces), 256)
            ]
        )  # (N, D)
        val_targets = model.face_encoder(to_images(val.faces))
    train_mels = torch.from_numpy(train.mels)  # (N, M, T) float16
    val_mels = torch.from_numpy(val.mels).float()
    optimiser = torch.optim.Adam(model.voice_encoder.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed + 2)
    start, step, best = time.perf_counter(), 0, {"val_retrieval": -1.0}
    total_frames = train_mels.shape[-1]
    crop = min(args.crop_frames, total_frames)
    done = False
    while not done:
        model.voice_encoder.train()
        idx = torch.from_numpy(rng.integers(0, len(train_mels), args.batch_size))
        offset = int(rng.integers(0, total_frames - crop + 1))
        mels = train_mels[idx, :, offset : offset + crop].float()  # (B, M, crop)
        for group in optimiser.param_groups:
            group["lr"] = _lr(args, time.perf_counter() - start, args.voice_minutes)
        out = model(mels, targets[idx], draw=False)
        optimiser.zero_grad(set_to_none=True)
        out.loss.backward()
        optimiser.step()
        step += 1
        done = time.perf_counter() - start >= args.voice_minutes * 60
        if step % 50 == 0:
            logger.info(
                "voice step %d  l1 %.4f  distill %.4f  (%.0f s)",
                step, out.l1_loss.item(), out.distill_loss.item(), time.perf_counter() - start,
            )  # fmt: skip
        if step % args.val_every == 0 or done:
            stats = validate_voice(model, val_mels, val_targets, val.labels)
            logger.info("voice val step %d  %s", step, stats)
            if stats["retrieval_top1"] > best["val_retrieval"]:
                best = {"val_retrieval": stats["retrieval_top1"], **stats, "step": step}
                model.save_pretrained(args.run_dir / "voice", dtype=torch.float32)
    best["steps"] = step
    best["seconds"] = round(time.perf_counter() - start, 1)
    return best


@torch.no_grad()
def validate_voice(
    model: Speech2Face, mels: torch.Tensor, face_embeddings: torch.Tensor, labels: np.ndarray
) -> dict:
    """Age/gender accuracy of the attribute head on predicted embeddings, and top-1 retrieval
    among each speaker's face and the next nine people's faces (a quick proxy of evaluation)."""
    model.eval()
    predicted = torch.cat(
        [model(mels[i : i + 128], draw=False).embedding for i in range(0, len(mels), 128)]
    )
    logits = model.attributes(predicted)
    age = (logits[0].argmax(-1) == torch.from_numpy(labels[:, 0])).float().mean().item()
    gender = (logits[1].argmax(-1) == torch.from_numpy(labels[:, 1])).float().mean().item()
    n = len(predicted)
    candidates = (torch.arange(n)[:, None] + torch.arange(10)[None]) % n  # (n, 10), speaker first
    scores = (predicted[:, None] * face_embeddings[candidates]).sum(-1)  # (n, 10)
    top1 = (scores.argmax(-1) == 0).float().mean().item()
    return {
        "age_acc": round(age, 3),
        "gender_acc": round(gender, 3),
        "retrieval_top1": round(top1, 3),
    }


@torch.no_grad()
def group_mean_check(
    model: Speech2Face, judge: FaceAttributeClassifier, people: People
) -> dict[str, list[str]]:
    """What the judge reads on the face decoded from the mean embedding of each age-gender
    group: a voice that carries only age and gender can at best predict about that mean, so this
    says early whether the decoder draws such a face recognisably (a diagnostic, not a metric)."""
    model.eval()
    embeddings = model.face_encoder(to_images(people.faces))
    groups = people.labels[:, 0] * 2 + people.labels[:, 1]
    report = {}
    for g in np.unique(groups):
        mean = F.normalize(embeddings[torch.from_numpy(groups == g)].mean(0, keepdim=True), dim=-1)
        read = [int(lg.argmax(-1)) for lg in judge.eval()(model.draw(mean)).logits]
        truth = f"{AGE_GROUPS[g // 2]} {GENDERS[g % 2]}"
        report[truth] = [names[i] for (_, names), i in zip(ATTRIBUTES, read, strict=True)]
    return report


# ----- the run -------------------------------------------------------------------------------


def write_training_record(directory: Path, record: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "training.json").write_text(json.dumps(record, indent=2, default=str) + "\n")


def train(args: TrainArgs) -> dict:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    stages = args.stages.split(",")
    command = "python -m multimodal_core.train.voice_to_face " + shlex.join(sys.argv[1:])
    record: dict = {"command": command, "args": {k: str(v) for k, v in asdict(args).items()}}
    t0 = time.perf_counter()
    train_seeds = seeds("train")
    val_seeds = seeds("validation")[: args.val_people]
    people = cached_people(
        args.cache_dir,
        f"train_{args.people}_{args.seconds:g}s",
        train_seeds[: args.people],
        args.seconds,
    )
    val = cached_people(
        args.cache_dir, f"val_{args.val_people}_{args.seconds:g}s", val_seeds, args.seconds
    )
    record["cache_seconds"] = round(time.perf_counter() - t0, 1)
    face_set = people
    if args.extra_faces and ("faces" in stages or "judge" in stages):
        extra = cached_people(
            args.cache_dir,
            f"faces_{args.people}_{args.extra_faces}",
            train_seeds[args.people : args.people + args.extra_faces],
            None,
        )
        face_set = People(
            np.concatenate([people.seeds, extra.seeds]),
            np.concatenate([people.faces, extra.faces]),
            np.concatenate([people.normalised, extra.normalised]),
            np.concatenate([people.labels, extra.labels]),
            None,
        )
    if "faces" in stages:
        model = Speech2Face(Speech2FaceConfig())
        record["faces"] = train_faces(args, model, face_set, val)
        model = Speech2Face.from_pretrained(args.run_dir / "faces")  # the best by validation L1
    else:
        model = Speech2Face.from_pretrained(args.out)
        model = model.float()
    if "judge" in stages:
        _, record["judge"] = train_judge(args, face_set, val)
        judge = FaceAttributeClassifier.from_pretrained(args.run_dir / "judge")
        judge.save_pretrained(args.judge_out)
        record["group_mean_faces"] = group_mean_check(model, judge, val)
        logger.info("judge on decoded group means: %s", record["group_mean_faces"])
        write_training_record(args.judge_out, {**record, "stage": "judge"})
    if "voice" in stages:
        record["voice"] = train_voice(args, model, people, val)
        model = Speech2Face.from_pretrained(args.run_dir / "voice")
    record["total_seconds"] = round(time.perf_counter() - t0, 1)
    model.save_pretrained(args.out)
    write_training_record(args.out, record)
    logger.info("done: %s", json.dumps(record, default=str))
    return record


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    train(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
