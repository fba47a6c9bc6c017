"""Evaluate the built-in captioner on held-out world scenes: ``python -m multimodal_core.evaluate
captioning [--json]``.

For greedy decoding, beam 3 and beam 5 (like the tables of the paper's tutorials) it reports
BLEU-1..4 and CIDEr-D against all references (pycocoevalcap), and what the captions claim,
checked against the scene's annotations: object-mention precision/recall/F1 (do the caption's
nouns name the scene's classes?), exact-count accuracy, and position, relation and background
accuracy where the caption states one. A sweep over the length-normalisation exponent alpha
(beam 5) shows what the default costs or gains. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from multimodal_core.decoding import Hypothesis, beam_search, greedy_decode
from multimodal_core.evaluate.metrics import caption_scores, precision_recall_f1
from multimodal_core.models.show_attend_tell import ShowAttendTell, Vocabulary
from multimodal_core.settings import get_settings
from multimodal_core.world import catalogue, language
from multimodal_core.world.datasets import image_tensor
from multimodal_core.world.scenes import Scene
from multimodal_core.world.splits import scene_in_split

logger = logging.getLogger(__name__)

GENERATION_CONFIG = "generation_config.json"
SIZE_WORDS = ("small", "large")
DECODERS: tuple[str, ...] = ("greedy", "beam3", "beam5")
ALPHAS: tuple[float, ...] = (0.0, 0.5, 0.7, 1.0)


# ----- reading what a caption claims ---------------------------------------------------------


@lru_cache(maxsize=1)
def _phrase_table() -> dict[tuple[str, ...], tuple[str, object]]:
    """Word sequences the grammar uses for objects, positions, relations and backgrounds."""
    table: dict[tuple[str, ...], tuple[str, object]] = {}
    nouns: dict[tuple[str, ...], list[tuple[str, bool]]] = {}
    for cls in catalogue.CLASSES:
        for noun, plural in [(cls.name, False), (cls.plural, True)] + [
            (s, False) for s in cls.synonyms
        ]:
            nouns.setdefault(tuple(noun.split()), []).append((cls.name, plural))
    for words, meanings in nouns.items():
        names = tuple(dict.fromkeys(name for name, _ in meanings))  # "kid": boy or girl
        table[words] = ("object", (names, all(plural for _, plural in meanings)))
    for position, phrase in language.POSITION_PHRASES.items():
        table[tuple(phrase.split())] = ("position", position)
    for relation in language.RELATIONS:
        table[tuple(relation.split())] = ("relation", relation)
    for word in catalogue_backgrounds():
        table[(word, "background")] = ("background", word)
    for word, phrases in language._TEXTURE_PHRASES.items():  # the world's own phrases
        for phrase in phrases:
            table[tuple(phrase.split())] = ("background", word)
    return table


def catalogue_backgrounds() -> tuple[str, ...]:
    from multimodal_core.world.backgrounds import COLOURS

    return tuple(COLOURS)


@dataclass
class Claims:
    """What one caption states: (classes, count or None) per object mention, positions as
    (mention index, position), relations as (mention a, relation, mention b), a background."""

    objects: list[tuple[tuple[str, ...], int | None]] = field(default_factory=list)
    positions: list[tuple[int, str]] = field(default_factory=list)
    relations: list[tuple[int, str, int]] = field(default_factory=list)
    total: int | None = None  # "three objects on ..."
    background: str | None = None


def read_claims(caption: str) -> Claims:
    """Parse a caption with the world's own phrase table (longest match first)."""
    table = _phrase_table()
    words = caption.split()
    longest = max(len(k) for k in table)
    claims = Claims()
    items: list[tuple[str, object, int]] = []  # (kind, value, start index)
    i = 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            hit = table.get(tuple(words[i : i + n]))
            if hit is not None:
                items.append((hit[0], hit[1], i))
                i += n
                break
        else:
            if words[i] in ("object", "objects") and i > 0 and words[i - 1] in language.NUMBERS:
                claims.total = language.NUMBERS.index(words[i - 1])
            i += 1
    for index, (kind, value, start) in enumerate(items):
        if kind == "object":
            names, plural = value  # type: ignore[misc]
            claims.objects.append((names, _count_before(words, start, plural)))
        elif kind == "position":
            prev = items[index - 1] if index else None
            if prev is not None and prev[0] == "object":
                claims.positions.append((_mention_index(items, index - 1), str(value)))
        elif kind == "relation":  # subject: the object before (a position may sit between)
            before = index - 1
            if before >= 0 and items[before][0] == "position":
                before -= 1
            after = items[index + 1] if index + 1 < len(items) else None
            if before >= 0 and items[before][0] == "object" and after and after[0] == "object":
                a, b = _mention_index(items, before), _mention_index(items, index + 1)
                claims.relations.append((a, str(value), b))
        elif kind == "background":
            claims.background = str(value)
    return claims


def _mention_index(items: list[tuple[str, object, int]], item_index: int) -> int:
    return sum(1 for kind, _, _ in items[:item_index] if kind == "object")


def _count_before(words: list[str], start: int, plural: bool) -> int | None:
    """The number a noun phrase states: "a dog" 1, "two large cats" 2; None when unstated."""
    j = start - 1
    while j >= 0 and words[j] in SIZE_WORDS:
        j -= 1
    if j < 0:
        return None
    if words[j] in language.NUMBERS:
        return language.NUMBERS.index(words[j])
    if words[j] in ("a", "an") and not plural:
        return 1
    return None


def _resolve(names: tuple[str, ...], scene: Scene) -> str:
    """The class a mention refers to: the one present when an ambiguous noun allows several."""
    present = [n for n in names if scene.count(n)]
    return present[0] if present else names[0]


@dataclass
class ClaimTally:
    """Counts accumulated over scenes for one decoding setting."""

    true_objects: int = 0
    predicted_objects: int = 0
    actual_objects: int = 0
    counts_right: int = 0
    counts_stated: int = 0
    positions_right: int = 0
    positions_stated: int = 0
    relations_right: int = 0
    relations_stated: int = 0
    background_right: int = 0
    background_stated: int = 0

    def add(self, caption: str, scene: Scene) -> None:
        claims = read_claims(caption)
        mentioned = [_resolve(names, scene) for names, _ in claims.objects]
        predicted, actual = set(mentioned), set(scene.class_names)
        self.true_objects += len(predicted & actual)
        self.predicted_objects += len(predicted)
        self.actual_objects += len(actual)
        stated: dict[str, int | None] = {}
        for name, (_, count) in zip(mentioned, claims.objects, strict=True):
            if count is None or stated.get(name, 0) is None:
                stated[name] = None
            else:
                stated[name] = stated.get(name, 0) + count
        for name, count in stated.items():
            if count is not None:
                self.counts_stated += 1
                self.counts_right += count == scene.count(name)
        if claims.total is not None:
            self.counts_stated += 1
            self.counts_right += claims.total == len(scene.objects)
        for mention, position in claims.positions:
            self.positions_stated += 1
            name = mentioned[mention]
            self.positions_right += any(
                o.name == name and o.position == position for o in scene.objects
            )
        for a, relation, b in claims.relations:
            self.relations_stated += 1
            objects_a = [o for o in scene.objects if o.name == mentioned[a]]
            objects_b = [o for o in scene.objects if o.name == mentioned[b]]
            self.relations_right += any(
                language.relation_holds(x, relation, y)
                for x in objects_a
                for y in objects_b
                if x is not y
            )
        if claims.background is not None:
            self.background_stated += 1
            self.background_right += claims.background == scene.background.word

    def summary(self) -> dict[str, float]:
        prf = precision_recall_f1(self.true_objects, self.predicted_objects, self.actual_objects)

        def rate(right: int, stated: int) -> float:
            return right / stated if stated else float("nan")

        return {
            "object_precision": prf["precision"],
            "object_recall": prf["recall"],
            "object_f1": prf["f1"],
            "count_acc": rate(self.counts_right, self.counts_stated),
            "position_acc": rate(self.positions_right, self.positions_stated),
            "relation_acc": rate(self.relations_right, self.relations_stated),
            "background_acc": rate(self.background_right, self.background_stated),
            "positions_stated": self.positions_stated,
            "relations_stated": self.relations_stated,
        }


# ----- running the model -----------------------------------------------------------------------


def load_generation_defaults(checkpoint: Path) -> dict:
    """The checkpoint's decoding defaults (beam size, length alpha), chosen by this evaluation."""
    path = Path(checkpoint) / GENERATION_CONFIG
    return json.loads(path.read_text()) if path.is_file() else {"beam_size": 5, "length_alpha": 0.0}


def decode_all(
    model: ShowAttendTell,
    vocab: Vocabulary,
    images: torch.Tensor,
    decoder: str,
    alpha: float,
    batch_size: int = 50,
) -> tuple[list[str], list[float], float]:
    """Best caption of every image, its mean log prob per token, and the wall time per image
    in milliseconds."""
    captions: list[str] = []
    mean_lps: list[float] = []
    start = time.perf_counter()
    for first in range(0, len(images), batch_size):
        batch = images[first : first + batch_size]
        if decoder == "greedy":
            best: list[Hypothesis] = greedy_decode(model, batch)
        else:
            best = [hyps[0] for hyps in beam_search(model, batch, int(decoder[4:]), alpha=alpha)]
        captions += [" ".join(vocab.decode(h.tokens)) for h in best]
        mean_lps += [h.log_prob / max(len(h.token_log_probs), 1) for h in best]
    return captions, mean_lps, (time.perf_counter() - start) * 1000 / len(images)


def evaluate(
    checkpoint: Path, n: int, split: str = "test", alpha: float | None = None, sweep: bool = True
) -> dict:
    """All figures for ``n`` scenes of a held-out split."""
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = ShowAttendTell.from_pretrained(checkpoint)
    vocab = Vocabulary.from_pretrained(checkpoint)
    if alpha is None:
        alpha = float(load_generation_defaults(checkpoint)["length_alpha"])
    size = model.config.image_size
    scenes = [scene_in_split(split, i, held_out_ok=True, size=size) for i in range(n)]
    images = torch.stack([image_tensor(s.image) for s in scenes])  # (n, 3, H, W)
    references = [language.captions(s) for s in scenes]

    def score(decoder: str, a: float) -> dict:
        captions, mean_lps, ms = decode_all(model, vocab, images, decoder, a)
        tally = ClaimTally()
        for caption, scene in zip(captions, scenes, strict=True):
            tally.add(caption, scene)
        mean_words = sum(len(c.split()) for c in captions) / len(captions)
        return {**caption_scores(captions, references), **tally.summary(),
                "mean_words": mean_words, "ms_per_image": ms, "examples": captions[:3],
                "mean_token_log_prob_p01": float(np.percentile(mean_lps, 1)),
                "mean_token_log_prob_median": float(np.median(mean_lps))}  # fmt: skip

    results = {decoder: score(decoder, alpha) for decoder in DECODERS}
    sweep_results = {}
    if sweep:
        for a in ALPHAS:
            if a == alpha:
                sweep_results[str(a)] = results["beam5"]
            else:
                sweep_results[str(a)] = score("beam5", a)
    flat = {"n": n, "split": split, "alpha": alpha, "checkpoint": str(checkpoint)}
    for decoder, r in results.items():
        for key in ("bleu1", "bleu2", "bleu3", "bleu4", "cider", "object_f1", "count_acc",
                    "position_acc", "relation_acc", "background_acc"):  # fmt: skip
            flat[f"{key}_{decoder}"] = r[key]
    flat["results"] = results
    flat["alpha_sweep"] = {a: {k: r[k] for k in ("bleu4", "cider", "object_f1", "count_acc",
                                                 "position_acc", "relation_acc", "mean_words",
                                                 "positions_stated", "relations_stated")}
                           for a, r in sweep_results.items()}  # fmt: skip
    flat["grammar_version"] = language.GRAMMAR_VERSION
    return flat


def markdown_table(result: dict) -> str:
    """The model card's table."""
    rows = [
        "| decoding | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | CIDEr | object P | object R | object F1 "
        "| count acc | position acc | relation acc | background acc | words | ms/image |",
        "|---" * 15 + "|",
    ]
    names = {"greedy": "greedy", "beam3": "beam 3", "beam5": "beam 5"}
    for decoder, r in result["results"].items():
        rows.append(
            f"| {names[decoder]} | {r['bleu1']:.3f} | {r['bleu2']:.3f} | {r['bleu3']:.3f} "
            f"| {r['bleu4']:.3f} | {r['cider']:.3f} | {r['object_precision']:.3f} "
            f"| {r['object_recall']:.3f} | {r['object_f1']:.3f} | {r['count_acc']:.3f} "
            f"| {r['position_acc']:.3f} ({r['positions_stated']}) "
            f"| {r['relation_acc']:.3f} ({r['relations_stated']}) | {r['background_acc']:.3f} "
            f"| {r['mean_words']:.1f} | {r['ms_per_image']:.1f} |"
        )
    if result.get("alpha_sweep"):
        rows += ["", "Beam 5, length normalisation score / length^alpha:", "",
                 "| alpha | BLEU-4 | CIDEr | object F1 | count acc | position acc (stated) "
                 "| relation acc (stated) | words |", "|---" * 8 + "|"]  # fmt: skip
        for a, r in result["alpha_sweep"].items():
            rows.append(
                f"| {a} | {r['bleu4']:.3f} | {r['cider']:.3f} | {r['object_f1']:.3f} "
                f"| {r['count_acc']:.3f} | {r['position_acc']:.3f} ({r['positions_stated']}) "
                f"| {r['relation_acc']:.3f} ({r['relations_stated']}) | {r['mean_words']:.1f} |"
            )
    return "\n".join(rows)


def write_examples(folder: Path, n: int, size: int, split: str = "test") -> list[dict]:
    """Save ``n`` held-out scenes as PNGs for the tab's examples, with their annotations.

    They are rendered at the model's input size, so the tab captions exactly these pixels.
    """
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for index in range(n):
        scene = scene_in_split(split, index, held_out_ok=True, size=size)
        name = f"scene_{index:02d}.png"
        Image.fromarray(scene.image).save(folder / name)
        records.append(
            {
                "file": name,
                "split": split,
                "index": index,
                "seed": scene.seed,
                "objects": [{"name": o.name, "position": o.position} for o in scene.objects],
                "background": scene.background.word,
                "references": language.captions(scene),
            }
        )
    (folder / "examples.json").write_text(json.dumps(records, indent=1) + "\n")
    return records


def choose_defaults(checkpoint: Path, n: int) -> dict:
    """Pick the decoding defaults on the validation split (never on the test split) and write
    them to the checkpoint's generation_config.json.

    length_alpha: the alpha of the sweep with the highest beam-5 CIDEr (ties: BLEU-4), since
    CIDEr rewards the informative words that length normalisation is meant to bring back.
    out_of_world_mean_log_prob: the 1st percentile of the best beam's mean log prob per token on
    world scenes; pictures below it get the tab's "outside the world" note.
    """
    result = evaluate(checkpoint, n, split="validation", alpha=0.0, sweep=True)
    sweep = result["alpha_sweep"]
    alpha = max(ALPHAS, key=lambda a: (sweep[str(a)]["cider"], sweep[str(a)]["bleu4"]))
    chosen = evaluate(checkpoint, n, split="validation", alpha=alpha, sweep=False)
    defaults = {
        "beam_size": 5,
        "length_alpha": alpha,
        "out_of_world_mean_log_prob": round(
            chosen["results"]["beam5"]["mean_token_log_prob_p01"], 4
        ),
        "max_length": ShowAttendTell.from_pretrained(checkpoint).config.max_length,
        "chosen_on": f"validation split, {n} scenes",
        "alpha_sweep_cider": {a: round(r["cider"], 4) for a, r in sweep.items()},
    }
    (Path(checkpoint) / GENERATION_CONFIG).write_text(json.dumps(defaults, indent=2) + "\n")
    return defaults


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="default: checkpoints/captioning"
    )
    parser.add_argument("--n", type=int, default=1000, help="held-out scenes (at least 500)")
    parser.add_argument("--split", default="test", choices=("test", "novel_combo", "validation"))
    parser.add_argument("--alpha", type=float, default=None, help="default: the checkpoint's")
    parser.add_argument("--no-sweep", action="store_true", help="skip the alpha sweep")
    parser.add_argument("--json", action="store_true", help="the JSON line is always last")
    parser.add_argument(
        "--choose-defaults", action="store_true",
        help="instead: choose alpha and the out-of-world threshold on validation scenes",
    )  # fmt: skip
    parser.add_argument(
        "--write-examples", type=int, default=0, metavar="N",
        help="instead: save N held-out scenes to examples/captioning for the tab",
    )  # fmt: skip


def run(args: argparse.Namespace) -> dict:
    checkpoint = args.checkpoint or get_settings().checkpoints_dir / "captioning"
    if args.choose_defaults:
        return choose_defaults(checkpoint, args.n)
    if args.write_examples:
        size = ShowAttendTell.from_pretrained(checkpoint).config.image_size
        folder = get_settings().examples_dir / "captioning"
        records = write_examples(folder, args.write_examples, size)
        return {"examples": len(records), "folder": str(folder)}
    result = evaluate(checkpoint, args.n, args.split, args.alpha, sweep=not args.no_sweep)
    print(markdown_table(result))
    return result
