"""Evaluate voice-to-face on held-out people: ``python -m multimodal_core.evaluate voice-to-face``.

The people come from the world's ``test`` seed range, which training never sees; each says
random sentences of the world's grammar that were drawn for them alone (other words, other
orders than any training clip, though from the same grammar). For every speaker:

- the face drawn from the voice is read by the face-attribute judge: accuracy for age group and
  gender (what a voice carries in this world), and for skin tone and hair (what it does not).
  Their chance levels are the best guess that ignores the input (the most frequent class);
  hair also gets the best guess that knows age group and gender, because in this world children
  and older people have one hair style each.
- retrieval: the predicted embedding picks among 10 faces (the speaker's and 9 other held-out
  people's) by cosine similarity. Chance is 0.10; the ceiling is the mean over speakers of 1/k,
  k the number of candidates sharing the speaker's age group and gender: what a perfect
  age-and-gender predictor reaches picking at random among them. A voice here carries nothing
  else, so a model above the ceiling (beyond sampling error) has found a leak.

The judge's own accuracy on the real faces and on the decoder's reconstructions of them is
reported beside, so that a low figure can be traced to the voice, the decoder or the judge.
The human table comes first; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import torch

from multimodal_core import audio
from multimodal_core.models.face_attributes import FaceAttributeClassifier
from multimodal_core.models.speech2face import Speech2Face
from multimodal_core.settings import get_settings
from multimodal_core.world.people_sets import ATTRIBUTES, People, render_people, to_images
from multimodal_core.world.splits import seeds

logger = logging.getLogger(__name__)

N_CANDIDATES = 10


def _batched(fn, inputs: torch.Tensor, size: int = 128) -> torch.Tensor:
    return torch.cat([fn(inputs[i : i + size]) for i in range(0, len(inputs), size)])


def _judge(judge: FaceAttributeClassifier, faces: torch.Tensor) -> np.ndarray:
    """(N, 4) predicted class indices."""
    logits = _batched(lambda x: torch.cat(judge(x).logits, dim=-1), faces)
    parts = logits.split(judge.config.attribute_sizes, dim=-1)
    return np.stack([p.argmax(-1).numpy() for p in parts], axis=1)


def majority_rate(labels: np.ndarray) -> float:
    """Accuracy of always guessing the most frequent class."""
    return float(np.bincount(labels).max() / len(labels))


def majority_rate_given(labels: np.ndarray, groups: np.ndarray) -> float:
    """Accuracy of guessing, within each group, the group's most frequent class."""
    right = 0
    for g in np.unique(groups):
        right += int(np.bincount(labels[groups == g]).max())
    return right / len(labels)


def retrieval(
    predicted: torch.Tensor, faces: torch.Tensor, groups: np.ndarray, seed: int
) -> dict[str, float]:
    """Top-1 among the speaker's face and 9 random others, with the age-and-gender ceiling."""
    n = len(predicted)
    rng = np.random.default_rng(seed)
    candidates = np.empty((n, N_CANDIDATES), np.int64)
    for i in range(n):
        others = rng.choice(n - 1, N_CANDIDATES - 1, replace=False)
        candidates[i, 0] = i
        candidates[i, 1:] = others + (others >= i)  # skip the speaker
    scores = (predicted[:, None] * faces[torch.from_numpy(candidates)]).sum(-1)  # (n, 10)
    top1 = (scores.argmax(-1) == 0).float().numpy()
    same = (groups[candidates] == groups[:, None]).sum(1)  # k, the speaker included
    ceiling = 1.0 / same
    return {
        "retrieval_top1": float(top1.mean()),
        "retrieval_top1_se": float(top1.std() / np.sqrt(n)),
        "retrieval_chance": 1.0 / N_CANDIDATES,
        "retrieval_ceiling": float(ceiling.mean()),
    }


@torch.inference_mode()
def evaluate(
    checkpoint: Path, judge_checkpoint: Path, n: int, seconds: float, seed: int = 0
) -> dict:
    """Every figure of the module docstring, on the first ``n`` people of the test range."""
    torch.manual_seed(seed)
    model = Speech2Face.from_pretrained(checkpoint).float()
    judge = FaceAttributeClassifier.from_pretrained(judge_checkpoint).float()
    start = time.perf_counter()
    features = audio.FeatureConfig()  # what the voice encoder was trained on
    people: People = render_people(
        seeds("test", held_out_ok=True)[:n],
        seconds,
        lambda voices: audio.log_mel(voices, features),
        features.sample_rate,
    )
    render_seconds = time.perf_counter() - start
    labels = people.labels  # (n, 4)
    faces = to_images(people.faces)
    mels = torch.from_numpy(people.mels).float()

    start = time.perf_counter()
    predicted = _batched(lambda x: model(x, draw=False).embedding, mels)  # (n, D)
    drawn = _batched(model.draw, predicted)  # (n, 3, 64, 64)
    network_seconds = time.perf_counter() - start
    face_embeddings = _batched(model.face_encoder, faces)
    reconstructions = _batched(model.draw, face_embeddings)

    judged = {
        "drawn": _judge(judge, drawn),
        "real": _judge(judge, faces),
        "normalised": _judge(judge, to_images(people.normalised)),
        "reconstructed": _judge(judge, reconstructions),
    }
    names = [name for name, _ in ATTRIBUTES]
    result: dict = {}
    for k, name in enumerate(names):
        short = name.split("_")[0]  # age, gender, skin, hair
        result[f"{short}_acc"] = float((judged["drawn"][:, k] == labels[:, k]).mean())
        result[f"{short}_chance"] = majority_rate(labels[:, k])
    groups = labels[:, 0] * 2 + labels[:, 1]  # age group x gender, 6 groups
    result["hair_chance_given_age_gender"] = majority_rate_given(labels[:, 3], groups)
    result["skin_chance_given_age_gender"] = majority_rate_given(labels[:, 2], groups)
    result.update(retrieval(predicted, face_embeddings, groups, seed))
    result["retrieval_ceiling_ratio"] = result["retrieval_top1"] / result["retrieval_ceiling"]
    # Where errors come from: the judge on real faces, normalised renders and reconstructions.
    for source in ("real", "normalised", "reconstructed"):
        for k, name in enumerate(names):
            result[f"judge_{source}_{name.split('_')[0]}_acc"] = float(
                (judged[source][:, k] == labels[:, k]).mean()
            )
    # Age group and gender straight from the attribute head on the predicted embedding.
    head = model.attributes(predicted)
    result["head_age_acc"] = float((head[0].argmax(-1).numpy() == labels[:, 0]).mean())
    result["head_gender_acc"] = float((head[1].argmax(-1).numpy() == labels[:, 1]).mean())
    per_group = {}
    for age in range(3):
        mask = labels[:, 0] == age
        per_group[ATTRIBUTES[0][1][age]] = {
            "n": int(mask.sum()),
            "age_acc": float((judged["drawn"][mask, 0] == age).mean()),
            "gender_acc": float((judged["drawn"][mask, 1] == labels[mask, 1]).mean()),
        }
    result["per_age_group"] = per_group
    result.update(
        n=n,
        seconds=seconds,
        split="test",
        render_seconds=round(render_seconds, 1),
        network_ms_per_voice=round(1000 * network_seconds / n, 2),
    )
    return result


def markdown_table(r: dict) -> str:
    rows = [
        f"Voice to face on {r['n']} held-out people ({r['seconds']:g} s of speech each)",
        "",
        "| drawn face, read by the judge | accuracy | chance | judge on real faces "
        "| on reconstructions |",
        "|---|---|---|---|---|",
    ]
    for short, label in (
        ("age", "age group (in the voice)"),
        ("gender", "gender (in the voice)"),
        ("skin", "skin tone (not in the voice)"),
        ("hair", "hair (not in the voice)"),
    ):
        chance = f"{r[f'{short}_chance']:.3f}"
        if short == "hair":
            chance += f" ({r['hair_chance_given_age_gender']:.3f} knowing age and gender)"
        rows.append(
            f"| {label} | {r[f'{short}_acc']:.3f} | {chance} "
            f"| {r[f'judge_real_{short}_acc']:.3f} | {r[f'judge_reconstructed_{short}_acc']:.3f} |"
        )
    rows += [
        "",
        "| retrieval among 10 faces | top-1 |",
        "|---|---|",
        f"| model | {r['retrieval_top1']:.3f} ± {r['retrieval_top1_se']:.3f} |",
        f"| chance | {r['retrieval_chance']:.3f} |",
        f"| ceiling (perfect age and gender, then a guess) | {r['retrieval_ceiling']:.3f} |",
        f"| model / ceiling | {r['retrieval_ceiling_ratio']:.3f} |",
        "",
        "| true age group | n | age acc | gender acc |",
        "|---|---|---|---|",
    ]
    for age, g in r["per_age_group"].items():
        rows.append(f"| {age} | {g['n']} | {g['age_acc']:.3f} | {g['gender_acc']:.3f} |")
    return "\n".join(rows)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="default: checkpoints/voice_to_face"
    )
    parser.add_argument(
        "--judge", type=Path, default=None, help="default: checkpoints/face_attributes"
    )
    parser.add_argument("--n", type=int, default=1000, help="held-out people (at least 500)")
    parser.add_argument("--seconds", type=float, default=3.0, help="speech per person")
    parser.add_argument("--seed", type=int, default=0, help="draws the retrieval candidates")
    parser.add_argument("--json", action="store_true", help="the JSON line is always last")


def run(args: argparse.Namespace) -> dict:
    root = get_settings().checkpoints_dir
    result = evaluate(
        args.checkpoint or root / "voice_to_face",
        args.judge or root / "face_attributes",
        args.n,
        args.seconds,
        args.seed,
    )
    print(markdown_table(result))
    return result
