"""Evaluate the SoundNet student on held-out world sounds.

``python -m multimodal_core.evaluate soundnet [--json]``. Videos of the held-out test split
(seeds the training never sees) are made as the training makes them: a picture with one to three
sounding objects and up to one silent one, and the sum of the sounding objects' clips.

- Agreement with the teacher (the world classifier on the picture): top-1 and KL.
- Recognition from sound alone: one-source clips, top-1 over the classes that can sound; mixtures
  of two or three, mean average precision over those classes (scikit-learn's average precision
  per class, averaged over the classes present in the set).
- The paper's transfer test, on classes neither the teacher nor the student has met: ten General
  MIDI instruments the world never plays (``world/real_sounds.py``'s held-out programs). A linear
  classifier on the student's pool5 features learns them from 5 labelled clips per class, against
  the same network trained from scratch on those 50 clips, a linear classifier on mel-band
  statistics of the same clips, and the fully supervised ceiling (the network trained from
  scratch on 100 clips per class). Chance is 1/10.

The human table comes first; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger(__name__)

TARGETS = {"student_top1": 0.9}
TRANSFER_GAP_TARGET = 0.15  # probe_distilled_k5 - probe_scratch_k5, at least
EXAMPLE_SOURCES = (1, 1, 1, 1, 2, 3)  # sounding objects of the tab's world examples


def write_examples(folder: Path, n: int = len(EXAMPLE_SOURCES)) -> list[dict]:
    """World examples for the tab: test videos' pictures (PNG, 64 px: what the teacher sees)
    with their soundtracks (WAV, 2 s) and what is in them (``examples.json``)."""
    import json

    import soundfile
    from PIL import Image

    from multimodal_core.world.videos import video

    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for index in range(n):
        count = EXAMPLE_SOURCES[index % len(EXAMPLE_SOURCES)]
        item = video("test", 2000 + index, n_sources=count, held_out_ok=True)
        picture, wav = folder / f"video{index + 1}.png", folder / f"video{index + 1}.wav"
        Image.fromarray(item.scene.image).save(picture)
        mixture = item.mixture / max(1.0, float(np.abs(item.mixture).max()))
        soundfile.write(wav, mixture, 16_000, subtype="PCM_16")
        sounding = [o.name for o in item.sources]
        silent = [o.name for o in item.scene.objects if o not in item.sources]
        entries.append(
            {"image": picture.name, "audio": wav.name, "sounding": sounding, "silent": silent}
        )
    (folder / "examples.json").write_text(json.dumps(entries, indent=1) + "\n")
    return entries


@torch.no_grad()
def _forward(model, tracks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, pool5) of ``tracks`` (N, T), 64 at a time."""
    outs = [model(chunk) for chunk in tracks.split(64)]
    return torch.cat([o.logits for o in outs]), torch.cat([o.pool5 for o in outs])


def mean_average_precision(scores: np.ndarray, present: np.ndarray) -> float:
    """Mean over classes (columns) with a positive of scikit-learn's average precision."""
    from sklearn.metrics import average_precision_score

    kept = present.any(axis=0)
    return float(average_precision_score(present[:, kept], scores[:, kept], average="macro"))


def recognition(model, teacher, n: int) -> dict:
    """Teacher agreement (top-1, KL) on ``n`` test videos, one-source top-1 and mixtures' mAP
    over the classes that sound."""
    import torch.nn.functional as F

    from multimodal_core.models.soundnet import teacher_distribution
    from multimodal_core.world.catalogue import CLASS_NAMES, SOUNDING_CLASSES
    from multimodal_core.world.datasets import image_tensor
    from multimodal_core.world.videos import video

    items = [video("test", i, held_out_ok=True) for i in range(n)]
    tracks = torch.stack([torch.from_numpy(item.mixture) for item in items])
    with torch.no_grad():
        pictures = torch.stack([image_tensor(item.scene.image) for item in items])
        says = teacher_distribution(teacher(pictures).object_logits)
    logits, _ = _forward(model, tracks)
    kl = float(F.kl_div(F.log_softmax(logits, dim=1), says, reduction="batchmean"))
    sounding = [CLASS_NAMES.index(c) for c in SOUNDING_CLASSES]
    heard = torch.softmax(logits, dim=1)[:, sounding].numpy()
    present = np.array(
        [[c in {o.name for o in item.sources} for c in SOUNDING_CLASSES] for item in items]
    )
    single = np.array([len(item.sources) == 1 for item in items])
    top1 = float((heard[single].argmax(1) == present[single].argmax(1)).mean())
    return {
        "student_top1": top1,
        "student_map": mean_average_precision(heard[~single], present[~single]),
        "teacher_agreement": float((logits.argmax(1) == says.argmax(1)).float().mean()),
        "teacher_kl": kl,
        "chance_top1": 1.0 / len(SOUNDING_CLASSES),
        "n": n,
        "n_single": int(single.sum()),
    }


def transfer_clips(per_class: int, seed: int, seconds: float) -> tuple[torch.Tensor, np.ndarray]:
    """``per_class`` clips (N, T) of every held-out General MIDI program and their labels."""
    from multimodal_core.world import clips
    from multimodal_core.world.real_sounds import HELD_OUT_PROGRAMS, phrase

    rng = np.random.default_rng([seed, 25])
    tracks, labels = [], []
    for label, program in enumerate(HELD_OUT_PROGRAMS):
        for _ in range(per_class):
            raw = clips.fit_length(phrase(rng, program, seconds), round(seconds * 16_000))
            tracks.append(torch.from_numpy(clips.normalise(raw, f"program {program}")))
            labels.append(label)
    return torch.stack(tracks), np.array(labels)


def mel_statistics(tracks: torch.Tensor) -> np.ndarray:
    """(N, 2 * n_mels): the mean and standard deviation over time of each log-mel band."""
    from multimodal_core import audio

    mels = audio.log_mel(tracks)  # (N, n_mels, T)
    return torch.cat([mels.mean(-1), mels.std(-1)], dim=1).numpy()


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray) -> np.ndarray:
    """Predictions of a logistic regression on standardised features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    return probe.fit(train_x, train_y).predict(test_x)


def train_from_scratch(
    tracks: torch.Tensor, labels: np.ndarray, steps: int, seed: int, classes: int
) -> torch.nn.Module:
    """The student's architecture, new weights, trained on the labelled clips alone (cross-
    entropy, AdamW, random time shifts and levels as the distillation's augmentation)."""
    import torch.nn.functional as F

    from multimodal_core.models.soundnet import SoundNet, SoundNetConfig

    torch.manual_seed(seed)
    model = SoundNet(SoundNetConfig(class_names=tuple(f"class{i}" for i in range(classes))))
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    rng = np.random.default_rng(seed)
    target = torch.from_numpy(labels)
    model.train()
    for _ in range(steps):
        picks = rng.choice(len(tracks), min(32, len(tracks)), replace=False)
        batch = torch.stack(
            [torch.roll(tracks[i], int(rng.integers(tracks.shape[1]))) for i in picks]
        )
        batch = batch * torch.from_numpy(10 ** (rng.uniform(-6, 6, (len(picks), 1)) / 20)).float()
        loss = F.cross_entropy(model(batch).logits, target[torch.from_numpy(picks)])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval()


def transfer(model, shots: int, draws: int, test_per_class: int, steps: int, full: int) -> dict:
    """The transfer test on the held-out programs: accuracy of each classifier on the test clips,
    averaged over ``draws`` draws of the ``shots``-per-class training clips."""
    from multimodal_core.world.real_sounds import HELD_OUT_PROGRAMS

    classes = len(HELD_OUT_PROGRAMS)
    test_x, test_y = transfer_clips(test_per_class, seed=1, seconds=2.0)
    _, test_pool5 = _forward(model, test_x)
    test_mel = mel_statistics(test_x)
    figures: dict[str, list[float]] = {"distilled": [], "scratch": [], "mel": []}
    for draw in range(draws):
        train_x, train_y = transfer_clips(shots, seed=100 + draw, seconds=2.0)
        _, pool5 = _forward(model, train_x)
        figures["distilled"].append(
            float((linear_probe(pool5.numpy(), train_y, test_pool5.numpy()) == test_y).mean())
        )
        figures["mel"].append(
            float((linear_probe(mel_statistics(train_x), train_y, test_mel) == test_y).mean())
        )
        scratch = train_from_scratch(train_x, train_y, steps, draw, classes)
        logits, _ = _forward(scratch, test_x)
        figures["scratch"].append(float((logits.argmax(1).numpy() == test_y).mean()))
    full_x, full_y = transfer_clips(full, seed=200, seconds=2.0)
    supervised = train_from_scratch(full_x, full_y, 3 * steps, 0, classes)
    logits, _ = _forward(supervised, test_x)
    _, full_pool5 = _forward(model, full_x)
    return {
        f"probe_distilled_k{shots}": float(np.mean(figures["distilled"])),
        f"probe_scratch_k{shots}": float(np.mean(figures["scratch"])),
        f"probe_mel_k{shots}": float(np.mean(figures["mel"])),
        "supervised_top1": float((logits.argmax(1).numpy() == test_y).mean()),
        "probe_distilled_full": float(
            (linear_probe(full_pool5.numpy(), full_y, test_pool5.numpy()) == test_y).mean()
        ),
        "chance": 1.0 / classes,
        "transfer_classes": classes,
        "transfer_test_clips": len(test_y),
        "transfer_draws": draws,
        "transfer_full_per_class": full,
        "scratch_steps": steps,
    }


def table(r: dict) -> str:
    k = r["shots"]
    rows = [
        f"SoundNet student on held-out world videos ({r['n']}; {r['n_single']} of one source)",
        f"{'agreement with the teacher, top-1':48s} {r['teacher_agreement']:.3f}",
        f"{'KL(teacher || student)':48s} {r['teacher_kl']:.3f}",
        f"{'one source: top-1 over the sounding classes':48s} {r['student_top1']:.3f}"
        f"   (chance {r['chance_top1']:.3f}; target >= {TARGETS['student_top1']})",
        f"{'mixtures of 2-3: mAP over the sounding classes':48s} {r['student_map']:.3f}",
        "",
        f"Transfer: {r['transfer_classes']} instruments the world never plays, {k} labelled "
        f"clips each ({r['transfer_draws']} draws), {r['transfer_test_clips']} test clips",
        f"{'linear classifier on the student pool5':48s} {r[f'probe_distilled_k{k}']:.3f}",
        f"{'same network trained from scratch':48s} {r[f'probe_scratch_k{k}']:.3f}",
        f"{'linear classifier on log-mel statistics':48s} {r[f'probe_mel_k{k}']:.3f}",
        f"{'fully supervised from scratch (ceiling)':48s} {r['supervised_top1']:.3f}"
        f"   ({r['transfer_full_per_class']} clips per class)",
        f"{'linear classifier on pool5, all those clips':48s} {r['probe_distilled_full']:.3f}",
        f"{'chance':48s} {r['chance']:.3f}",
        f"(target: pool5 probe >= scratch + {TRANSFER_GAP_TARGET}; {r['eval_seconds']:.0f} s)",
    ]
    return "\n".join(rows)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from multimodal_core.settings import get_settings

    checkpoints = get_settings().checkpoints_dir
    parser.add_argument("--checkpoint", type=Path, default=checkpoints / "soundnet")
    parser.add_argument("--teacher", type=Path, default=checkpoints / "world_classifier")
    parser.add_argument("--videos", type=int, default=1200, help="test videos (1200)")
    parser.add_argument("--shots", type=int, default=5, help="labelled clips per class (5)")
    parser.add_argument("--draws", type=int, default=3, help="draws of those clips (3)")
    parser.add_argument("--test-per-class", type=int, default=50, help="transfer test clips")
    parser.add_argument("--full", type=int, default=100, help="clips per class, supervised")
    parser.add_argument("--scratch-steps", type=int, default=300, help="steps from scratch")
    parser.add_argument("--write-examples", type=Path, help="also write the tab's examples here")
    parser.add_argument("--json", action="store_true", help="the JSON line is always last")


def run(args: argparse.Namespace) -> dict:
    from multimodal_core.models.soundnet import SoundNet
    from multimodal_core.models.world_classifier import WorldClassifier

    start = time.perf_counter()
    model = SoundNet.from_pretrained(args.checkpoint)
    teacher = WorldClassifier.from_pretrained(args.teacher)
    result = {
        **recognition(model, teacher, args.videos),
        **transfer(
            model, args.shots, args.draws, args.test_per_class, args.scratch_steps, args.full
        ),
        "shots": args.shots,
    }
    result["eval_seconds"] = round(time.perf_counter() - start, 1)
    if args.write_examples:
        write_examples(args.write_examples)
    print(table(result))
    return result
