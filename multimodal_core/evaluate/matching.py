"""Evaluate the joint image-text space on held-out scenes: ``python -m multimodal_core.evaluate
matching [--json]``.

The Recipe1M protocol (Salvador et al. 2017): ``--draws`` draws of ``--n`` test scenes (disjoint
seed ranges of the test split, never trained on), one caption each, retrieval both ways (a
caption ranks the draw's pictures, a picture ranks its captions), median rank and R@1/5/10,
averaged over the draws. The caption is each scene's canonical reference, which states exactly
its content (its classes with their counts, and its background); a second row uses one
reference drawn at random of its six (synonyms, positions, relations, sizes; some omit the
background). Beside them, the ceiling of an oracle that ranks by exact content (the scenes, or
captions, with the query's content first, ties broken at random, as every rank here): many
world scenes share their content, so R@1 is judged against that ceiling. Ablations in the same
run, on the same scenes: the space trained without semantic regularization (``--no-semreg``)
and the one whose text side is MiniLM's sentence vector instead of the skip-gram words
(``--minilm``); a missing ablation checkpoint gives null figures and a note.

Image tagging: a picture's tags are the class names whose text embedding is at least a
threshold similar to it (the threshold that maximises F1 on validation scenes); object-tag F1
against the scene's classes, beside the shared classifier on the picture's embedding and the
frozen world classifier's own object head. Arithmetic: for a test scene holding X, the
embedding of the picture - "X" + "Y" (Y a class it lacks) retrieves the nearest of the test
split's other pictures; a success holds Y, lacks X and keeps the background. Baselines: "Y"
alone and the picture alone. The last line printed is one JSON object.

Sound to picture (``--sound-search``, the SoundNet student's projection into the space): the
soundtracks of ``--n`` held-out test videos (``world/videos.py``) rank the videos' pictures;
median rank and R@1/5/10 beside the ceiling of an oracle that ranks by the sounding objects
alone (a sound cannot tell the silent objects or the background); a missing checkpoint gives
null figures and a note.

``--write-examples N`` instead saves the first N test scenes as the Search tab's default gallery
(``examples/matching``: 64 px PNGs, the size the space reads, and ``examples.json``).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from multimodal_core.evaluate.metrics import (
    precision_recall_f1,
    retrieval_ranks,
    retrieval_scores,
)
from multimodal_core.models import word_vectors
from multimodal_core.models.joint_embedding import (
    JointEmbedding,
    JointSpace,
    arithmetic,
    search,
)
from multimodal_core.models.world_classifier import WorldClassifier
from multimodal_core.settings import get_settings
from multimodal_core.world import language
from multimodal_core.world.catalogue import CLASS_NAMES
from multimodal_core.world.datasets import image_tensor
from multimodal_core.world.scenes import Scene
from multimodal_core.world.seeding import rng_for
from multimodal_core.world.splits import scene_in_split

logger = logging.getLogger(__name__)

IMAGE_SIZE = 64  # the world classifier's input
ANCHOR_MEDR = 4.8  # the recipe paper's median rank on its 1k set (im2recipe, semantic reg.)
TARGETS: dict[str, float] = {
    "medr_t2i": 2.0,  # at most
    "medr_i2t": 2.0,  # at most
    "r1_t2i_of_ceiling": 0.8,
    "r1_i2t_of_ceiling": 0.8,
    "tag_f1": 0.9,
    "arithmetic_success": 0.6,
    "r1_s2i_of_ceiling": 0.7,
}
AT_MOST = ("medr_t2i", "medr_i2t")
THRESHOLDS = np.round(np.arange(-1.0, 1.0, 0.01), 2)  # candidate tag thresholds (cosine)
RETRIEVAL_KEYS = ("medr", "r1", "r5", "r10")


# ----- the scenes and what is true of them ---------------------------------------------------


def content(scene: Scene) -> tuple[tuple[tuple[str, int], ...], str]:
    """A scene's exact content as a caption can state it: classes with counts, background."""
    return tuple(sorted(Counter(o.name for o in scene.objects).items())), scene.background.word


def oracle_scores(keys: list) -> np.ndarray:
    """(n, n) 1 where two scenes share their content, else 0: what the oracle ranks by."""
    index = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    ids = np.array([index[k] for k in keys])
    return (ids[:, None] == ids[None, :]).astype(np.float32)


def varied_caption(scene: Scene) -> str:
    """One of the scene's references, drawn from its seed (the same on every run)."""
    references = language.captions(scene)
    return references[int(rng_for(scene.seed, "matching/caption").integers(len(references)))]


@dataclass
class TestSet:
    """Held-out scenes with their pictures' frozen features and both kinds of caption."""

    scenes: list[Scene]
    images: torch.Tensor  # (N, 3, S, S) float in [0, 1]
    features: torch.Tensor  # (N, D, g, g)
    canonical: list[str]
    varied: list[str]

    def head(self, n: int) -> TestSet:
        """The first ``n`` scenes (the first draw)."""
        return TestSet(self.scenes[:n], self.images[:n], self.features[:n], self.canonical[:n],
                       self.varied[:n])  # fmt: skip


@torch.inference_mode()
def test_set(split: str, n: int, classifier: WorldClassifier) -> TestSet:
    scenes = [scene_in_split(split, i, held_out_ok=True, size=IMAGE_SIZE) for i in range(n)]
    images = torch.stack([image_tensor(s.image) for s in scenes])
    features = torch.cat([classifier.feature_map(images[i : i + 500]) for i in range(0, n, 500)])
    return TestSet(
        scenes=scenes,
        images=images,
        features=features,
        canonical=[language.captions(s)[0] for s in scenes],
        varied=[varied_caption(s) for s in scenes],
    )


# ----- loading ---------------------------------------------------------------------------------


def load_space(checkpoint: Path, classifier: WorldClassifier | None = None) -> JointSpace:
    """A trained space composed with the frozen encoders its config names (the checkpoints
    folder's world classifier and word vectors, or the shared MiniLM sentence encoder)."""
    model = JointEmbedding.from_pretrained(checkpoint)
    folder = get_settings().checkpoints_dir
    if classifier is None:
        classifier = WorldClassifier.from_pretrained(folder / model.config.image_encoder)
    if model.config.text_input == "sentence":
        from multimodal_core.backends.sentence_encoder import load_sentence_encoder

        encoder = load_sentence_encoder()
        return JointSpace(model, classifier.feature_map, sentence_encoder=encoder.encode)
    vectors, vocabulary = word_vectors.load(folder / model.config.text_vectors)
    return JointSpace(
        model,
        classifier.feature_map,
        words=vocabulary.words,
        vectors=vectors.vectors.detach(),
        tokenize=word_vectors.tokenize,
    )


# ----- retrieval -------------------------------------------------------------------------------


def retrieval(
    images: torch.Tensor, texts: torch.Tensor, draws: int, n: int, seed: int
) -> dict[str, float]:
    """Mean over ``draws`` consecutive blocks of ``n`` pairs of medr and R@k, both ways; row i
    of ``images`` and of ``texts`` is a pair."""
    rng = np.random.default_rng(seed)
    per_draw: dict[str, list[float]] = {}
    for d in range(draws):
        block = slice(d * n, (d + 1) * n)
        scores = (images[block] @ texts[block].T).numpy()  # (n pictures, n captions)
        for way, matrix in (("t2i", scores.T), ("i2t", scores)):
            for k, v in retrieval_scores(retrieval_ranks(matrix, rng)).items():
                per_draw.setdefault(f"{k}_{way}", []).append(v)
    return {k: float(np.mean(v)) for k, v in per_draw.items()}


def ceiling(keys: list, draws: int, n: int, seed: int) -> dict[str, float]:
    """The content oracle's figures on the same draws (it is symmetric: one score matrix)."""
    rng = np.random.default_rng(seed)
    per_draw: dict[str, list[float]] = {}
    for d in range(draws):
        scores = oracle_scores(keys[d * n : (d + 1) * n])
        for way in ("t2i", "i2t"):
            for k, v in retrieval_scores(retrieval_ranks(scores, rng)).items():
                per_draw.setdefault(f"{k}_{way}", []).append(v)
    return {k: float(np.mean(v)) for k, v in per_draw.items()}


def sound_to_picture(
    space: JointSpace, student_path: Path, projection_path: Path, n: int, seed: int
) -> dict[str, float]:
    """Sound-to-picture retrieval over ``n`` test videos and its sounding-objects oracle."""
    from multimodal_core.models.soundnet import SoundNet, SoundToSpace
    from multimodal_core.world.videos import video

    student = SoundNet.from_pretrained(student_path)
    projection = SoundToSpace.from_pretrained(projection_path)
    items = [video("test", i, held_out_ok=True) for i in range(n)]
    pictures = space.encode_images(torch.stack([image_tensor(i.scene.image) for i in items]))
    tracks = torch.stack([torch.from_numpy(item.mixture) for item in items])
    with torch.no_grad():
        sounds = torch.cat([projection(student(t).pool5) for t in tracks.split(100)])
    rng = np.random.default_rng(seed)
    model = retrieval_scores(retrieval_ranks((sounds @ pictures.T).numpy(), rng))
    keys = [tuple(sorted(o.name for o in item.sources)) for item in items]
    oracle = retrieval_scores(retrieval_ranks(oracle_scores(keys), rng))
    return {
        **{f"{k}_s2i": v for k, v in model.items()},
        **{f"{k}_s2i_ceiling": v for k, v in oracle.items()},
        "n_s2i": n,
    }


# ----- tagging ---------------------------------------------------------------------------------


def tag_counts(similarity: np.ndarray, truth: np.ndarray, threshold: float) -> tuple[int, int, int]:
    """(true positive, predicted, actual) tags over pictures: (B, C) similarities of each
    picture to each class name, (B, C) bool truth; a picture's tags are the classes at or above
    ``threshold``, or its best class when none is."""
    predicted = similarity >= threshold
    best = similarity.argmax(1)
    predicted[np.arange(len(predicted)), best] |= ~predicted.any(1)
    return int((predicted & truth).sum()), int(predicted.sum()), int(truth.sum())


def best_threshold(similarity: np.ndarray, truth: np.ndarray) -> float:
    """The threshold of :data:`THRESHOLDS` with the highest tag F1 (calibration scenes)."""
    f1 = [precision_recall_f1(*tag_counts(similarity, truth, t))["f1"] for t in THRESHOLDS]
    return float(THRESHOLDS[int(np.argmax(f1))])


def truth_matrix(scenes: list[Scene]) -> np.ndarray:
    truth = np.zeros((len(scenes), len(CLASS_NAMES)), dtype=bool)
    for row, s in enumerate(scenes):
        truth[row, [CLASS_NAMES.index(c) for c in s.class_names]] = True
    return truth


@torch.inference_mode()
def tagging(
    space: JointSpace,
    classifier: WorldClassifier,
    calibration: TestSet,
    test: TestSet,
) -> dict[str, float]:
    """Object-tag F1 of the joint space's tags, of the shared classifier and of the frozen
    world classifier, on ``test``'s pictures; the threshold is chosen on ``calibration``."""
    words = space.encode_texts(list(CLASS_NAMES))  # (C, E)
    calib = space.model.encode_images(calibration.features) @ words.T
    threshold = best_threshold(calib.numpy(), truth_matrix(calibration.scenes))
    embeddings = space.model.encode_images(test.features)
    truth = truth_matrix(test.scenes)
    joint = precision_recall_f1(*tag_counts((embeddings @ words.T).numpy(), truth, threshold))
    head = space.label_probabilities(embeddings)[:, : len(CLASS_NAMES)].numpy()
    judge = torch.cat(
        [
            classifier(test.images[i : i + 500]).object_logits
            for i in range(0, len(test.images), 500)
        ]
    )
    return {
        "tag_f1": joint["f1"],
        "tag_precision": joint["precision"],
        "tag_recall": joint["recall"],
        "tag_threshold": threshold,
        "tag_f1_semantic_head": precision_recall_f1(*tag_counts(head, truth, 0.5))["f1"],
        "tag_f1_world_classifier": precision_recall_f1(
            *tag_counts(torch.sigmoid(judge).numpy(), truth, 0.5)
        )["f1"],
    }


# ----- arithmetic ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """Picture ``index`` of the gallery holds ``minus``; ``plus`` is a class it lacks."""

    index: int
    minus: str
    plus: str


def valid_targets(scenes: list[Scene], query: Query) -> np.ndarray:
    """(N,) bool: the gallery scenes that answer "picture - minus + plus": they hold ``plus``,
    lack ``minus`` and keep the picture's background (the picture itself never does)."""
    return _answers(truth_matrix(scenes), _backgrounds(scenes), query)


def _backgrounds(scenes: list[Scene]) -> np.ndarray:
    return np.array([s.background.word for s in scenes])


def _answers(truth: np.ndarray, backgrounds: np.ndarray, query: Query) -> np.ndarray:
    """:func:`valid_targets` from the gallery's (N, C) classes and (N,) background words."""
    plus, minus = CLASS_NAMES.index(query.plus), CLASS_NAMES.index(query.minus)
    return truth[:, plus] & ~truth[:, minus] & (backgrounds == backgrounds[query.index])


def arithmetic_queries(scenes: list[Scene], n: int, seed: int) -> list[Query]:
    """One query for each of the first ``n`` scenes: X one of its classes and Y one it lacks,
    both drawn at random among those the gallery holds an answer for (a scene with no such
    pair is skipped)."""
    rng = np.random.default_rng(seed)
    truth, backgrounds = truth_matrix(scenes), _backgrounds(scenes)
    queries = []
    for index in range(n):
        s = scenes[index]
        minus = str(rng.choice(s.class_names))
        pluses = [c for c in CLASS_NAMES if not s.count(c)]
        for plus in rng.permutation(pluses):
            query = Query(index, minus, str(plus))
            if _answers(truth, backgrounds, query).any():
                queries.append(query)
                break
    return queries


@torch.inference_mode()
def arithmetic_test(space: JointSpace, test: TestSet, queries: list[Query]) -> dict[str, float]:
    """Success rates of picture - "X" + "Y", of "Y" alone and of the picture alone: the
    nearest other picture of the gallery holds Y, lacks X and keeps the background; for
    picture - "X" + "Y" also how often each of the three holds on its own."""
    gallery = space.model.encode_images(test.features)
    pictures = gallery[[q.index for q in queries]]
    minus = space.encode_texts([q.minus for q in queries])
    plus = space.encode_texts([q.plus for q in queries])
    found: dict[str, list[Scene]] = {}
    for name, probes in (
        ("arithmetic_success", arithmetic(pictures, minus, plus)),
        ("arithmetic_word_only", plus),
        ("arithmetic_picture_only", pictures),
    ):
        _, nearest = search(probes, gallery, 2)  # (Q, 2): the query picture may come first
        found[name] = [
            test.scenes[second if first == query.index else first]
            for query, (first, second) in zip(queries, nearest.tolist(), strict=True)
        ]
    checks = {
        "has_y": lambda q, s: s.count(q.plus) > 0,
        "lacks_x": lambda q, s: s.count(q.minus) == 0,
        "keeps_background": lambda q, s: s.background.word == test.scenes[q.index].background.word,
    }
    out = {}
    for name, scenes in found.items():
        passed = np.array(
            [
                [check(q, s) for check in checks.values()]
                for q, s in zip(queries, scenes, strict=True)
            ]
        )
        out[name] = float(passed.all(1).mean())
        if name == "arithmetic_success":
            out.update(
                {f"arithmetic_{k}": float(v) for k, v in zip(checks, passed.mean(0), strict=True)}
            )
    return out


# ----- the whole evaluation ----------------------------------------------------------------------


SEMANTIC_KEYS = ("tag_f1", "tag_f1_semantic_head", "arithmetic_success", "arithmetic_word_only",
                 "arithmetic_keeps_background")  # fmt: skip
"""The tagging and arithmetic figures the ablations report beside the main space's."""


def semantic_figures(
    space: JointSpace,
    classifier: WorldClassifier,
    calibration: TestSet,
    test: TestSet,
    queries: list[Query],
    n: int,
) -> dict[str, float]:
    """Tagging on the first draw's pictures and the arithmetic over the whole test gallery."""
    return {
        **tagging(space, classifier, calibration, test.head(n)),
        **arithmetic_test(space, test, queries),
    }


def space_figures(
    space: JointSpace, test: TestSet, args: argparse.Namespace, varied: bool
) -> dict[str, float]:
    """Retrieval with the canonical captions (and, when ``varied``, the drawn references)."""
    images = space.model.encode_images(test.features)
    out = retrieval(images, space.encode_texts(test.canonical), args.draws, args.n, args.seed)
    if varied:
        texts = space.encode_texts(test.varied)
        figures = retrieval(images, texts, args.draws, args.n, args.seed)
        out.update({f"{k}_varied": v for k, v in figures.items()})
    return out


@torch.inference_mode()
def evaluate(args: argparse.Namespace) -> dict:
    """Every figure of the module docstring, as a dict."""
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    folder = get_settings().checkpoints_dir
    classifier = WorldClassifier.from_pretrained(folder / "world_classifier")
    test = test_set("test", args.draws * args.n, classifier)
    calibration = test_set("validation", args.n, classifier)
    keys = [content(s) for s in test.scenes]
    space = load_space(args.checkpoint, classifier)
    result: dict = {
        "checkpoint": str(args.checkpoint),
        "n": args.n,
        "draws": args.draws,
        **space_figures(space, test, args, varied=True),
        **{f"{k}_ceiling": v for k, v in ceiling(keys, args.draws, args.n, args.seed).items()},
    }
    notes = []
    queries = arithmetic_queries(test.scenes, args.n, args.seed)
    result.update(semantic_figures(space, classifier, calibration, test, queries, args.n))
    for name, path in (("no_semreg", args.no_semreg), ("minilm", args.minilm)):
        if path is not None and (Path(path) / "config.json").is_file():
            ablation = load_space(path, classifier)
            figures = space_figures(ablation, test, args, varied=False)
            figures.update(
                semantic_figures(ablation, classifier, calibration, test, queries, args.n)
            )
        else:
            keys = [f"{k}_{w}" for k in RETRIEVAL_KEYS for w in ("t2i", "i2t")]
            figures = dict.fromkeys([*keys, *SEMANTIC_KEYS])
            notes.append(f"no {name} checkpoint at {path}: its figures are null")
        result.update({f"{k}_{name}": v for k, v in figures.items()})
    if (Path(args.sound_search) / "config.json").is_file():
        result.update(sound_to_picture(space, args.soundnet, args.sound_search, args.n, args.seed))
    else:
        keys = [f"{k}_s2i{c}" for k in RETRIEVAL_KEYS for c in ("", "_ceiling")]
        result.update(dict.fromkeys(keys))
        notes.append(f"no sound projection at {args.sound_search}: sound figures are null")
    result["arithmetic_queries"] = len(queries)
    result["arithmetic_gallery"] = len(test.scenes)
    result["anchor_medr_recipe1m"] = ANCHOR_MEDR
    result["notes"] = notes
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["targets"] = TARGETS
    result["targets_met"] = targets_met(result)
    return result


def targets_met(r: dict) -> dict[str, bool]:
    met = {}
    for key, target in TARGETS.items():
        if key.endswith("_of_ceiling"):
            base = key.removesuffix("_of_ceiling")
            met[key] = r[base] is not None and r[base] >= target * r[f"{base}_ceiling"]
        elif key in AT_MOST:
            met[key] = r[key] <= target
        else:
            met[key] = r[key] >= target
    met["arithmetic_above_baselines"] = r["arithmetic_success"] > max(
        r["arithmetic_word_only"], r["arithmetic_picture_only"]
    )
    return met


def _cell(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown_table(r: dict) -> str:
    lines = [
        f"{r['draws']} draws of {r['n']} test scenes, one caption each (mean over draws)",
        "",
        "| model | captions | medR t2i | R@1 t2i | R@5 t2i | R@10 t2i | medR i2t | R@1 i2t | "
        "R@5 i2t | R@10 i2t |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = (
        ("joint space (skip-gram + GRU, semantic reg.)", "canonical", ""),
        ("without semantic regularization", "canonical", "_no_semreg"),
        ("MiniLM sentence vector instead of skip-gram", "canonical", "_minilm"),
        ("oracle: exact content, ties at random", "canonical", "_ceiling"),
        ("joint space (skip-gram + GRU, semantic reg.)", "one of six", "_varied"),
    )
    for name, captions, suffix in rows:
        cells = [
            _cell(r[f"{k}_{w}{suffix}"], 1 if k == "medr" else 3)
            for w in ("t2i", "i2t")
            for k in RETRIEVAL_KEYS
        ]
        lines.append(f"| {name} | {captions} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"| sound to picture ({r.get('n_s2i', r['n'])} test videos) | medR | R@1 | R@5 | R@10 |",
        "|---|---|---|---|---|",
    ]
    for name, suffix in (("SoundNet student + projection", ""), ("oracle: sounding objects, "
                         "ties at random", "_ceiling")):  # fmt: skip
        cells = [_cell(r[f"{k}_s2i{suffix}"], 1 if k == "medr" else 3) for k in RETRIEVAL_KEYS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| tagging (object-tag F1) | F1 |",
        "|---|---|",
        f"| joint space: class names at cosine >= {r['tag_threshold']:.2f} (precision "
        f"{r['tag_precision']:.3f}, recall {r['tag_recall']:.3f}) | {r['tag_f1']:.3f} |",
        f"| shared classifier on the picture's embedding (p >= 0.5) | "
        f"{r['tag_f1_semantic_head']:.3f} |",
        f"| frozen world classifier's own head (p >= 0.5) | {r['tag_f1_world_classifier']:.3f} |",
        f"| without semantic regularization: class names (calibrated threshold) | "
        f"{_cell(r['tag_f1_no_semreg'])} |",
        f"| MiniLM text side: class names (calibrated threshold) | {_cell(r['tag_f1_minilm'])} |",
        "",
        f"| arithmetic ({r['arithmetic_queries']} queries, gallery {r['arithmetic_gallery']}) "
        "| success |",
        "|---|---|",
        f'| picture - "X" + "Y" | {r["arithmetic_success"]:.3f} |',
        f'| "Y" alone | {r["arithmetic_word_only"]:.3f} |',
        f"| the picture alone | {r['arithmetic_picture_only']:.3f} |",
        f'| without semantic regularization: picture - "X" + "Y" | '
        f"{_cell(r['arithmetic_success_no_semreg'])} |",
        f'| MiniLM text side: picture - "X" + "Y" | {_cell(r["arithmetic_success_minilm"])} |',
        "",
        "targets met: " + ", ".join(f"{k} {v}" for k, v in r["targets_met"].items()),
        *r["notes"],
    ]
    return "\n".join(lines)


def write_examples(folder: Path, n: int) -> list[dict]:
    """The Search tab's default gallery: the first ``n`` test scenes as PNGs, with their
    canonical caption, classes and background in ``examples.json`` (the task reads no world
    code, so the gallery is rendered here once)."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for index in range(n):
        scene = scene_in_split("test", index, held_out_ok=True, size=IMAGE_SIZE)
        name = f"scene_{index:03d}.png"
        Image.fromarray(scene.image).save(folder / name, optimize=True)
        entries.append(
            {
                "file": name,
                "seed": scene.seed,
                "caption": language.captions(scene)[0],
                "classes": list(scene.class_names),
                "background": scene.background.word,
            }
        )
    (folder / "examples.json").write_text(json.dumps(entries, indent=1) + "\n")
    return entries


def add_arguments(parser: argparse.ArgumentParser) -> None:
    folder = get_settings().checkpoints_dir
    parser.add_argument("--checkpoint", type=Path, default=folder / "matching")
    parser.add_argument(
        "--no-semreg", type=Path, default=folder / "matching_no_semreg",
        help="the ablation trained without semantic regularization",
    )  # fmt: skip
    parser.add_argument(
        "--minilm", type=Path, default=folder / "matching_minilm",
        help="the ablation whose text side is MiniLM's sentence vector",
    )  # fmt: skip
    parser.add_argument(
        "--sound-search", type=Path, default=folder / "sound_search",
        help="the SoundNet student's projection into the space",
    )  # fmt: skip
    parser.add_argument("--soundnet", type=Path, default=folder / "soundnet", help="the student")
    parser.add_argument("--n", type=int, default=1000, help="scenes per draw")
    parser.add_argument("--draws", type=int, default=10, help="disjoint draws of --n scenes")
    parser.add_argument("--seed", type=int, default=0, help="seeds ties and the queries")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", action="store_true", help="the JSON line is always last")
    parser.add_argument(
        "--write-examples", type=int, default=0, metavar="N",
        help="instead: save N test scenes to examples/matching, the Search tab's gallery",
    )  # fmt: skip


def run(args: argparse.Namespace) -> dict:
    if args.write_examples:
        folder = get_settings().examples_dir / "matching"
        entries = write_examples(folder, args.write_examples)
        print(f"{len(entries)} test scenes written to {folder}")
        return {"examples": len(entries), "folder": str(folder)}
    result = evaluate(args)
    print(markdown_table(result))
    return result
