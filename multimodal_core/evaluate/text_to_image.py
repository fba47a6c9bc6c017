"""Evaluate the built-in text-to-image GAN on held-out captions: ``python -m
multimodal_core.evaluate text-to-image [--json]``.

The judge is the world classifier (``checkpoints/world_classifier``), trained on real scenes
only. On ``--prompts`` captions of held-out test scenes (one large centred object, any
background; the "N objects" caption, which names no object, is left out) it reports:

- ``object_acc``: the judge's top class is the requested one (one picture per caption);
  ``real_acc``: the same on the real test scenes (the judge's ceiling); ``chance``: 1 / classes.
- ``color_acc``: the judge's background is the requested one, on captions that state it
  (``real_color_acc`` on the real scenes).
- ``diversity``: mean pairwise distance of the judge's pooled features across ``--seeds``
  seeds for one prompt, averaged over prompts; ``real_diversity``: the same for real test
  scenes of the same class and background.
- ``world_fid``: Frechet distance between the judge's features of the generated and the real
  pictures; ``real_fid``: the same between two halves of real scenes (the floor at this size).
- ``judge_test_*``: the judge alone on 1000 held-out scenes of its training mix (one centred
  object, grids of 1-2 and of 1-4 objects): set accuracy (its top-k classes are exactly the
  scene's k classes), per-object recall in the top k, background accuracy.
- ``synonym_acc``: requested-object accuracy for prompts in other words: the catalogue's
  synonyms in a phrasing the grammar does not use ("a puppy", "a small hound") and words the
  world never uses ("a pooch", "a yacht"), also reported apart as ``seen_synonym_acc`` and
  ``unseen_word_acc``.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import time
from pathlib import Path

import numpy as np
import torch

from multimodal_core.backends.sentence_encoder import load_sentence_encoder
from multimodal_core.evaluate.metrics import judge_scores
from multimodal_core.models.text_gan import TextGAN, noise, sample_images
from multimodal_core.models.world_classifier import WorldClassifier
from multimodal_core.settings import get_settings
from multimodal_core.world.backgrounds import COLOURS
from multimodal_core.world.catalogue import CLASSES
from multimodal_core.world.datasets import image_tensor
from multimodal_core.world.language import usable_captions
from multimodal_core.world.scene_mix import scene_targets, world_scene
from multimodal_core.world.scenes import Scene
from multimodal_core.world.splits import scene_in_split

logger = logging.getLogger(__name__)

UNSEEN_WORDS: dict[str, str] = {
    "doggy": "dog",
    "pooch": "dog",
    "tomcat": "cat",
    "sparrow": "bird",
    "mare": "horse",
    "swine": "pig",
    "goldfish": "fish",
    "lioness": "lion",
    "sedan": "car",
    "taxi": "car",
    "minibus": "bus",
    "aircraft": "airplane",
    "airliner": "airplane",
    "yacht": "boat",
    "newborn": "baby",
    "toddler": "baby",
    "lad": "boy",
    "guy": "man",
    "granny": "grandma",
    "grandad": "grandpa",
    "novel": "book",
    "cottage": "house",
}
"""Words the world's grammar never uses, and the class a person would draw for each."""


def synonym_prompts() -> list[tuple[str, str, bool]]:
    """(prompt, class, seen) for every unambiguous catalogue synonym and every unseen word."""
    owners: dict[str, set[str]] = {}
    for cls in CLASSES:
        for s in cls.synonyms:
            owners.setdefault(s, set()).add(cls.name)
    from multimodal_core.world.catalogue import article

    out = []
    for cls in CLASSES:
        for s in cls.synonyms:
            if len(owners[s]) == 1:  # "kid" is a boy or a girl: not a fair question
                out.append((f"{article(s)} {s}", cls.name, True))
                out.append((f"a small {s}", cls.name, True))
    for word, name in UNSEEN_WORDS.items():
        out.append((f"{article(word)} {word}", name, False))
        out.append((f"a picture of {article(word)} {word}", name, False))
    return out


def test_scene(index: int, size: int) -> Scene:
    """The ``index``-th held-out test scene of the GAN's evaluation kind."""
    return scene_in_split(
        "test", index, held_out_ok=True, size=size, layout="center", n_objects=(1, 1)
    )


def prompt_of(s: Scene, index: int) -> str:
    """One caption naming the object (cycling through the scene's usable references)."""
    refs = usable_captions(s)
    return refs[index % len(refs)]


def states_background(text: str) -> str | None:
    """The background word a caption states, or None."""
    from multimodal_core.world.language import _TEXTURE_PHRASES

    for colour in COLOURS:
        if text.endswith(f" {colour} background"):
            return colour
    for word, phrases in _TEXTURE_PHRASES.items():
        if any(text.endswith(p) for p in phrases):
            return word
    return None


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to feature sets a (N, D) and b (M, D).

    tr((C_a C_b)^(1/2)) is computed as tr((S C_b S)^(1/2)) with S = C_a^(1/2), a symmetric
    matrix whose eigenvalues are real: no complex round-off to discard.
    """
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    middle = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = np.sqrt(np.clip(middle, 0.0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)


def mean_pairwise_distance(features: torch.Tensor) -> float:
    """Mean L2 distance over all pairs of rows of (N, D)."""
    d = torch.cdist(features, features)  # (N, N)
    n = len(features)
    return float(d.sum() / (n * (n - 1)))


@torch.inference_mode()
def judge_batches(
    judge: WorldClassifier, images: torch.Tensor
) -> tuple[list[str], list[str], torch.Tensor]:
    """Top class, top background and pooled features (N, D) for pictures (N, 3, S, S)."""
    classes, backgrounds, features = [], [], []
    for start in range(0, len(images), 256):
        out = judge(images[start : start + 256])
        classes += [judge.config.class_names[i] for i in out.object_logits.argmax(1).tolist()]
        backgrounds += [
            judge.config.background_names[i] for i in out.background_logits.argmax(1).tolist()
        ]
        features.append(out.features)
    return classes, backgrounds, torch.cat(features)


def draw(gan: TextGAN, embeddings: torch.Tensor, seeds: list[int]) -> torch.Tensor:
    """Pictures (N, 3, S, S) for embeddings (N, 384), z from ``seeds``, in batches."""
    z = noise(seeds, gan.config.z_dim)
    return torch.cat(
        [
            sample_images(gan, embeddings[i : i + 256], z[i : i + 256])
            for i in range(0, len(seeds), 256)
        ]
    )


def evaluate(
    checkpoint: Path,
    judge_dir: Path,
    n_prompts: int = 1000,
    n_seeds: int = 8,
    diversity_prompts: int = 20,
    real_scenes: int = 4000,
    grid: Path | None = None,
) -> dict:
    """Every figure of the module docstring, as a dict."""
    start = time.perf_counter()
    for folder, how in ((checkpoint, "text_to_image"), (judge_dir, "world_classifier")):
        if not (Path(folder) / "model.safetensors").is_file():
            raise SystemExit(
                f"No checkpoint in {folder}; train it with python -m multimodal_core.train.{how}."
            )
    gan = TextGAN.from_pretrained(checkpoint)
    judge = WorldClassifier.from_pretrained(judge_dir)
    encoder = load_sentence_encoder()
    size = gan.config.image_size
    if judge.config.image_size != size:
        raise ValueError(f"the judge reads {judge.config.image_size} px, the GAN draws {size} px")
    real_scenes = max(real_scenes, 2 * n_prompts)
    scenes = [test_scene(i, size) for i in range(real_scenes)]
    real = torch.stack([image_tensor(s.image) for s in scenes])  # (R, 3, S, S)
    truth = [s.objects[0].name for s in scenes]
    truth_bg = [s.background.word for s in scenes]

    # Requested object and background, one picture per held-out caption.
    prompts = [prompt_of(s, i) for i, s in enumerate(scenes[:n_prompts])]
    embeddings = encoder.encode(prompts)
    fake = draw(gan, embeddings, list(range(n_prompts)))
    fake_cls, fake_bg, fake_feat = judge_batches(judge, fake)
    real_cls, real_bg, real_feat = judge_batches(judge, real)
    hits = [p == t for p, t in zip(fake_cls, truth, strict=False)]
    stated = [(i, states_background(p)) for i, p in enumerate(prompts)]
    stated = [(i, w) for i, w in stated if w is not None]
    per_class: dict[str, list[bool]] = {}
    for t, hit in zip(truth, hits, strict=False):
        per_class.setdefault(t, []).append(hit)
    sinks: dict[str, int] = {}
    for p, hit in zip(fake_cls, hits, strict=False):
        if not hit:
            sinks[p] = sinks.get(p, 0) + 1

    # Diversity: one prompt, several seeds, against real scenes of that class and background.
    buckets: dict[tuple[str, str], list[int]] = {}
    for i, (t, b) in enumerate(zip(truth, truth_bg, strict=True)):
        buckets.setdefault((t, b), []).append(i)
    full = [k for k, v in buckets.items() if len(v) >= n_seeds][:diversity_prompts]
    div_fake, div_real, div_prompts = [], [], []
    for key in full:
        text = prompt_of(scenes[buckets[key][0]], 0)  # the canonical caption: it states both
        pictures = draw(gan, encoder.encode([text]).expand(n_seeds, -1), list(range(n_seeds)))
        div_fake.append(mean_pairwise_distance(judge_batches(judge, pictures)[2]))
        div_real.append(mean_pairwise_distance(real_feat[buckets[key][:n_seeds]]))
        div_prompts.append(text)

    # Synonyms and unseen words.
    syn = synonym_prompts()
    syn_seeds = 4
    syn_embed = encoder.encode([p for p, _, _ in syn]).repeat_interleave(syn_seeds, 0)
    syn_cls, _, _ = judge_batches(
        judge, draw(gan, syn_embed, [s for _ in syn for s in range(syn_seeds)])
    )
    syn_hits = [
        (pred == name, seen)
        for pred, (_, name, seen) in zip(
            syn_cls, [x for x in syn for _ in range(syn_seeds)], strict=True
        )
    ]

    # The judge itself on its own mix of held-out scenes (centred, 1-2 and 1-4 object grids).
    mixed = scene_targets([world_scene("test", i, size, held_out_ok=True) for i in range(1000)])
    judge_mix = judge_scores(judge, *mixed)

    half = len(real_feat) // 2
    result = {
        "object_acc": float(np.mean(hits)),
        "real_acc": float(np.mean([p == t for p, t in zip(real_cls, truth, strict=True)])),
        "chance": 1.0 / len(judge.config.class_names),
        "color_acc": float(np.mean([fake_bg[i] == w for i, w in stated])),
        "real_color_acc": float(np.mean([p == t for p, t in zip(real_bg, truth_bg, strict=True)])),
        "diversity": float(np.mean(div_fake)) if div_fake else float("nan"),
        "real_diversity": float(np.mean(div_real)) if div_real else float("nan"),
        "world_fid": frechet_distance(fake_feat.numpy(), real_feat[:n_prompts].numpy()),
        "real_fid": frechet_distance(real_feat[:half].numpy(), real_feat[half:].numpy()),
        "synonym_acc": float(np.mean([h for h, _ in syn_hits])),
        "seen_synonym_acc": float(np.mean([h for h, s in syn_hits if s])),
        "unseen_word_acc": float(np.mean([h for h, s in syn_hits if not s])),
        "judge_test_set_acc": judge_mix["set_acc"],
        "judge_test_object_recall": judge_mix["object_recall"],
        "judge_test_background_acc": judge_mix["background_acc"],
        "prompts": n_prompts,
        "synonym_prompts": len(syn),
        "diversity_prompts": div_prompts,
        "per_class": {c: round(float(np.mean(v)), 3) for c, v in sorted(per_class.items())},
        "sinks": dict(sorted(sinks.items(), key=lambda kv: -kv[1])[:8]),
        "checkpoint": str(checkpoint),
        "seconds": round(time.perf_counter() - start, 1),
    }
    if grid is not None:
        write_grid(gan, encoder, grid)
        result["grid"] = str(grid)
    return result


GRID_PROMPTS: tuple[str, ...] = (
    "a dog on a blue background",
    "a red apple on a white background",
    "a car on a yellow background",
    "an elephant on the grass",
    "a guitar on a pink background",
    "a puppy on a green background",
)


def write_grid(gan: TextGAN, encoder: object, path: Path, seeds: int = 6) -> None:
    """A PNG of ``GRID_PROMPTS`` (rows) by seeds 0..seeds-1 (columns), for the model card."""
    from PIL import Image

    embed = encoder.encode(list(GRID_PROMPTS)).repeat_interleave(seeds, 0)  # type: ignore[attr-defined]
    pictures = draw(gan, embed, [s for _ in GRID_PROMPTS for s in range(seeds)])
    size = gan.config.image_size
    sheet = Image.new("RGB", (seeds * (size + 2), len(GRID_PROMPTS) * (size + 2)), "white")
    for k, (row, col) in enumerate(itertools.product(range(len(GRID_PROMPTS)), range(seeds))):
        tile = (pictures[k].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
        sheet.paste(Image.fromarray(tile), (col * (size + 2), row * (size + 2)))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def markdown_table(result: dict) -> str:
    """The headline figures as a Markdown table."""
    rows = [
        ("requested object found (generated)", "object_acc"),
        ("requested object found (real test scenes, ceiling)", "real_acc"),
        ("chance", "chance"),
        ("background as requested (generated)", "color_acc"),
        ("background (real test scenes)", "real_color_acc"),
        ("synonyms and unseen words", "synonym_acc"),
        ("  catalogue synonyms", "seen_synonym_acc"),
        ("  unseen words", "unseen_word_acc"),
        ("diversity across seeds (generated)", "diversity"),
        ("diversity (real, same class and background)", "real_diversity"),
        ("world FID (generated vs real)", "world_fid"),
        ("world FID (real vs real, floor)", "real_fid"),
        ("judge on held-out mixed scenes: set accuracy", "judge_test_set_acc"),
        ("judge on held-out mixed scenes: object recall", "judge_test_object_recall"),
        ("judge on held-out mixed scenes: background", "judge_test_background_acc"),
    ]
    lines = ["| figure | value |", "|---|---|"]
    lines += [f"| {label} | {result[key]:.3f} |" for label, key in rows]
    worst = sorted(result["per_class"].items(), key=lambda kv: kv[1])[:5]
    lines += ["", "weakest classes: " + ", ".join(f"{c} {v:.2f}" for c, v in worst)]
    lines += [
        "judge's sink classes: " + ", ".join(f"{c} ({n})" for c, n in result["sinks"].items())
    ]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    checkpoints = get_settings().checkpoints_dir
    parser.add_argument("--checkpoint", type=Path, default=checkpoints / "text_to_image")
    parser.add_argument("--judge", type=Path, default=checkpoints / "world_classifier")
    parser.add_argument("--prompts", type=int, default=1000, help="held-out captions")
    parser.add_argument("--seeds", type=int, default=8, help="seeds per diversity prompt")
    parser.add_argument("--diversity-prompts", type=int, default=20)
    parser.add_argument("--real-scenes", type=int, default=4000)
    parser.add_argument("--grid", type=Path, help="write a PNG grid of samples here")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", action="store_true", help="the JSON line is always last")


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    result = evaluate(
        args.checkpoint,
        args.judge,
        args.prompts,
        args.seeds,
        args.diversity_prompts,
        args.real_scenes,
        args.grid,
    )
    print(markdown_table(result))
    return result
