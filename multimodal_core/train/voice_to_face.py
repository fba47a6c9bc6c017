"""Train voice-to-face on the world: ``python -m multimodal_core.train.voice_to_face``.

Three stages in one process, as in the Speech2Face paper (arXiv:1905.09773), where the face
side is trained first and frozen:

1. ``faces``: the face encoder, the decoder (drawing the *normalised* face: the person's glyph
   centred at one scale on a neutral background) and the attribute head, on world faces at random
   scale, offset and background.
2. ``judge``: the face-attribute classifier that evaluation uses to read drawn faces
   (:mod:`multimodal_core.train.face_attributes`, which also trains it alone).
3. ``voice``: the voice encoder, with everything else frozen, predicts the face embedding of the
   same person from a crop of their log-mel spectrogram (L1 + distillation, see the model file).

The people come from a cache that the first run renders (:mod:`multimodal_core.train.
people_cache`). Each stage has its own budget, writes its best-so-far weights to ``--run-dir`` as
it goes and its final checkpoint to ``--out`` / ``--judge-out``; ``--resume`` continues a run
from the state in ``--run-dir`` (finished stages are skipped, the one in progress goes on);
``--stages voice`` retrains the voice encoder alone from the face checkpoint in ``--out``.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from multimodal_core.models.face_attributes import FaceAttributeClassifier
from multimodal_core.models.speech2face import Speech2Face, Speech2FaceConfig
from multimodal_core.settings import REPO_ROOT
from multimodal_core.train import scaffold
from multimodal_core.train.face_attributes import judge_stage
from multimodal_core.train.people_cache import training_people
from multimodal_core.train.stages import Stage, finish_stage, run_stage
from multimodal_core.world.people import AGE_GROUPS, GENDERS
from multimodal_core.world.people_sets import ATTRIBUTES, People, to_images

logger = logging.getLogger(__name__)

STAGES = ("faces", "judge", "voice")


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
    face_minutes: float = 8.0  # wall-clock budget of the face stage
    judge_minutes: float = 3.0  # wall-clock budget of the judge's stage
    voice_minutes: float = 16.0  # wall-clock budget of the voice stage
    batch_size: int = 64  # people per step in every stage
    lr: float = 2e-3  # Adam; cosine-decayed over each stage's budget to lr * 0.05
    val_people: int = 300  # validation people (their own seed range, never trained on)
    val_every: int = 200  # steps between validations
    seed: int = 0  # the face stage's seed; the judge's is seed + 1, the voice stage's seed + 2
    threads: int = 1  # two other trainings share this 2-core machine
    resume: bool = False  # continue the run in --run-dir: finished stages are skipped

    def __post_init__(self) -> None:
        unknown = set(self.stages.split(",")) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown stages {sorted(unknown)}; choose from faces, judge, voice")


def parse_args(argv: Sequence[str] | None = None) -> TrainArgs:
    return scaffold.parse_args(TrainArgs, argv, __doc__)


def faces_stage(args: TrainArgs, model: Speech2Face, train: People, val: People) -> Stage:
    """Stage 1: autoencoder to normalised faces + attribute head; the best by validation L1
    goes to ``run_dir/faces``."""
    params = [
        *model.face_encoder.parameters(),
        *model.face_decoder.parameters(),
        *model.attribute_head.parameters(),
    ]
    optimiser = torch.optim.Adam(params, lr=args.lr)
    val_faces, val_targets = to_images(val.faces), to_images(val.normalised)

    def step(rng: np.random.Generator) -> dict[str, torch.Tensor]:
        model.train()
        idx = rng.integers(0, len(train.faces), args.batch_size)
        out = model.face_autoencoder(
            to_images(train.faces[idx]),
            to_images(train.normalised[idx]),
            torch.from_numpy(train.labels[idx]),
        )
        optimiser.zero_grad(set_to_none=True)
        out.loss.backward()
        optimiser.step()
        return {"l1": out.reconstruction_loss.detach(), "attr": out.attribute_loss.detach()}

    def validate(step: int, best: dict) -> dict:
        model.eval()
        with torch.no_grad():
            v = model.face_autoencoder(val_faces)
        l1 = F.l1_loss(v.reconstruction, val_targets).item()
        accs = [
            (lg.argmax(-1) == torch.from_numpy(val.labels[:, k])).float().mean().item()
            for k, lg in enumerate(v.attribute_logits)
        ]
        logger.info("faces val step %d  l1 %.4f  head acc %s", step, l1, np.round(accs, 3))
        if l1 >= best["val_l1"]:
            return best
        model.save_pretrained(args.run_dir / "faces", dtype=torch.float32)
        return {"val_l1": l1, "head_acc": accs, "step": step}

    best = {"val_l1": math.inf}
    return Stage("faces", model, optimiser, args.face_minutes, args.seed, step, validate, best)


def voice_stage(args: TrainArgs, model: Speech2Face, train: People, val: People) -> Stage:
    """Stage 3: the voice encoder predicts the frozen face encoder's embedding; the best by
    validation retrieval goes to ``run_dir/voice``."""
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
    total_frames = train_mels.shape[-1]
    crop = min(args.crop_frames, total_frames)

    def step(rng: np.random.Generator) -> dict[str, torch.Tensor]:
        model.voice_encoder.train()
        idx = torch.from_numpy(rng.integers(0, len(train_mels), args.batch_size))
        offset = int(rng.integers(0, total_frames - crop + 1))
        mels = train_mels[idx, :, offset : offset + crop].float()  # (B, M, crop)
        out = model(mels, targets[idx], draw=False)
        optimiser.zero_grad(set_to_none=True)
        out.loss.backward()
        optimiser.step()
        return {"l1": out.l1_loss.detach(), "distill": out.distill_loss.detach()}

    def validate(step: int, best: dict) -> dict:
        stats = validate_voice(model, val_mels, val_targets, val.labels)
        logger.info("voice val step %d  %s", step, stats)
        if stats["retrieval_top1"] <= best["val_retrieval"]:
            return best
        model.save_pretrained(args.run_dir / "voice", dtype=torch.float32)
        return {"val_retrieval": stats["retrieval_top1"], **stats, "step": step}

    best = {"val_retrieval": -1.0}
    return Stage("voice", model, optimiser, args.voice_minutes, args.seed + 2, step, validate, best)


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


def train(args: TrainArgs) -> dict:
    """Run (or resume) the stages of ``--stages``; returns the record of the checkpoint."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    stages = args.stages.split(",")
    resume = scaffold.load_state(args.run_dir, args.resume)
    finished = resume.record["finished"] if resume is not None else {}
    record: dict = {
        "command": scaffold.command_line("multimodal_core.train.voice_to_face"),
        "args": {k: str(v) for k, v in asdict(args).items()},
    }
    t0 = time.perf_counter()
    face_stages = "faces" in stages or "judge" in stages
    people, face_set, val = training_people(
        args.cache_dir,
        args.people,
        args.extra_faces if face_stages else 0,
        args.seconds,
        args.val_people,
    )
    record["cache_seconds"] = round(time.perf_counter() - t0, 1)
    record |= finished

    def run(stage: Stage) -> dict:
        result = run_stage(stage, args.lr, args.val_every, args.run_dir, resume, finished)
        finished[stage.name] = result
        finish_stage(args.run_dir, finished)
        return result

    if "faces" in stages:
        if "faces" not in finished:
            record["faces"] = run(
                faces_stage(args, Speech2Face(Speech2FaceConfig()), face_set, val)
            )
        model = Speech2Face.from_pretrained(args.run_dir / "faces")  # the best by validation L1
    else:
        model = Speech2Face.from_pretrained(args.out)
        model = model.float()
    if "judge" in stages and "group_mean_faces" not in finished:  # the judge's last step
        if "judge" not in finished:
            stage = judge_stage(
                args.judge_minutes, args.batch_size, args.lr, args.seed, args.run_dir, face_set, val
            )
            record["judge"] = run(stage)
        judge = FaceAttributeClassifier.from_pretrained(args.run_dir / "judge")
        judge.save_pretrained(args.judge_out)
        record["group_mean_faces"] = finished["group_mean_faces"] = group_mean_check(
            model, judge, val
        )
        finish_stage(args.run_dir, finished)
        logger.info("judge on decoded group means: %s", record["group_mean_faces"])
        scaffold.write_record(args.judge_out, {**record, "stage": "judge"})
    if "voice" in stages:
        if "voice" not in finished:
            record["voice"] = run(voice_stage(args, model, people, val))
        model = Speech2Face.from_pretrained(args.run_dir / "voice")
    record["total_seconds"] = round(time.perf_counter() - t0, 1)
    model.save_pretrained(args.out)
    scaffold.write_record(args.out, record)
    logger.info("done: %s", record)
    return record


def main(argv: Sequence[str] | None = None) -> int:
    return scaffold.main(train, TrainArgs, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
