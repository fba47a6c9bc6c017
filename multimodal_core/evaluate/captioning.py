"""Evaluate a built-in captioner on held-out world scenes: ``python -m multimodal_core.evaluate
captioning [--model show_attend_tell|show_and_tell] [--json]``.

For greedy decoding, beam 3 and beam 5 (like the tables of the paper's tutorials) it reports
BLEU-1..4 and CIDEr-D against all references (pycocoevalcap), and what the captions claim,
checked against the scene's annotations: object-mention precision/recall/F1 (do the caption's
nouns name the scene's classes?), exact-count accuracy, and position, relation and background
accuracy where the caption states one, for all scenes and by the number of objects in the scene.
A sweep over the length-normalisation exponent alpha (beam 5) shows what the default costs or
gains. ``--ablation`` evaluates both models on the same scenes and prints them side by side
(what attention buys). The last line printed is one JSON object.
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
from multimodal_core.models.show_and_tell import ShowAndTell
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
MODELS: dict[str, tuple[type[ShowAttendTell] | type[ShowAndTell], str]] = {
    "show_attend_tell": (ShowAttendTell, "captioning"),
    "show_and_tell": (ShowAndTell, "show_and_tell"),
}
"""``--model`` -> its class and checkpoint folder; the first is the default."""
BY_OBJECTS_KEYS = ("bleu4", "cider", "object_f1", "count_acc", "position_acc", "relation_acc",
                   "positions_stated", "relations_stated")  # fmt: skip


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
    model: ShowAttendTell | ShowAndTell,
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


def claim_summary(captions: list[str], scenes: list[Scene]) -> dict[str, float]:
    """What the captions claim, checked against their scenes (:class:`ClaimTally`)."""
    tally = ClaimTally()
    for caption, scene in zip(captions, scenes, strict=True):
        tally.add(caption, scene)
    return tally.summary()


def by_objects(
    captions: list[str], scenes: list[Scene], references: list[list[str]]
) -> dict[str, dict]:
    """The main figures for the scenes of each number of objects (CIDEr's word weights come from
    each group's own references, so compare a group with the same group of another model)."""
    groups: dict[int, list[int]] = {}
    for i, scene in enumerate(scenes):
        groups.setdefault(len(scene.objects), []).append(i)
    out = {}
    for count, rows in sorted(groups.items()):
        group_captions = [captions[i] for i in rows]
        group_scenes = [scenes[i] for i in rows]
        r = {**caption_scores(group_captions, [references[i] for i in rows]),
             **claim_summary(group_captions, group_scenes)}  # fmt: skip
        out[str(count)] = {"scenes": len(rows), **{k: r[k] for k in BY_OBJECTS_KEYS}}
    return out


def load_model(
    name: str, checkpoint: Path | None = None
) -> tuple[ShowAttendTell | ShowAndTell, Path]:
    """Model ``name`` of :data:`MODELS` from ``checkpoint`` (default: its folder)."""
    model_class, folder = MODELS[name]
    checkpoint = checkpoint or get_settings().checkpoints_dir / folder
    return model_class.from_pretrained(checkpoint), checkpoint


def evaluate(
    checkpoint: Path | None,
    n: int,
    split: str = "test",
    alpha: float | None = None,
    sweep: bool = True,
    model_name: str = "show_attend_tell",
) -> dict:
    """All figures for ``n`` scenes of a held-out split."""
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model, checkpoint = load_model(model_name, checkpoint)
    vocab = Vocabulary.from_pretrained(checkpoint)
    if alpha is None:
        alpha = float(load_generation_defaults(checkpoint)["length_alpha"])
    size = model.config.image_size
    scenes = [scene_in_split(split, i, held_out_ok=True, size=size) for i in range(n)]
    images = torch.stack([image_tensor(s.image) for s in scenes])  # (n, 3, H, W)
    references = [language.captions(s) for s in scenes]

    def score(decoder: str, a: float, groups: bool = False) -> dict:
        captions, mean_lps, ms = decode_all(model, vocab, images, decoder, a)
        mean_words = sum(len(c.split()) for c in captions) / len(captions)
        r = {**caption_scores(captions, references), **claim_summary(captions, scenes),
             "mean_words": mean_words, "ms_per_image": ms, "examples": captions[:3],
             "mean_token_log_prob_p01": float(np.percentile(mean_lps, 1)),
             "mean_token_log_prob_median": float(np.median(mean_lps))}  # fmt: skip
        if groups:
            r["by_objects"] = by_objects(captions, scenes, references)
        return r

    results = {decoder: score(decoder, alpha, groups=True) for decoder in DECODERS}
    sweep_results = {}
    if sweep:
        for a in ALPHAS:
            if a == alpha:
                sweep_results[str(a)] = results["beam5"]
            else:
                sweep_results[str(a)] = score("beam5", a)
    flat = {"model": model_name, "n": n, "split": split, "alpha": alpha,
            "checkpoint": str(checkpoint)}  # fmt: skip
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
    """The model card's table, then the figures by number of objects."""
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
    rows += ["", "By the number of objects in the scene:", "", *objects_table({"": result})]
    return "\n".join(rows)


def _stated(value: float, stated: int) -> str:
    return f"{value:.3f} ({stated})" if stated else "- (0)"


def _claim_cells(r: dict) -> str:
    """Object F1, count, position and relation accuracy as table cells."""
    return (
        f"| {r['object_f1']:.3f} | {r['count_acc']:.3f} "
        f"| {_stated(r['position_acc'], r['positions_stated'])} "
        f"| {_stated(r['relation_acc'], r['relations_stated'])} |"
    )


def objects_table(results: dict[str, dict], decoders: tuple[str, ...] = DECODERS) -> list[str]:
    """Rows of the figures by number of objects, for one or more models (by label)."""
    rows = [
        "| model | decoding | objects | scenes | BLEU-4 | CIDEr | object F1 | count acc "
        "| position acc | relation acc |",
        "|---" * 10 + "|",
    ]
    for label, result in results.items():
        for decoder in decoders:
            for count, r in result["results"][decoder]["by_objects"].items():
                rows.append(
                    f"| {label} | {decoder} | {count} | {r['scenes']} | {r['bleu4']:.3f} "
                    f"| {r['cider']:.3f} {_claim_cells(r)}"
                )
    return rows


ABLATION_DECODERS = ("greedy", "beam5")


def ablation_table(results: dict[str, dict]) -> str:
    """Both models side by side on the same scenes (``results`` by model name): every figure,
    greedy and beam 5, then by the number of objects."""
    rows = [
        "| model | decoding | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | CIDEr | object F1 | count acc "
        "| position acc | relation acc | words |",
        "|---" * 12 + "|",
    ]
    for name, result in results.items():
        for decoder in ABLATION_DECODERS:
            r = result["results"][decoder]
            rows.append(
                f"| {name} | {decoder} | {r['bleu1']:.3f} | {r['bleu2']:.3f} | {r['bleu3']:.3f} "
                f"| {r['bleu4']:.3f} | {r['cider']:.3f} {_claim_cells(r)} {r['mean_words']:.1f} |"
            )
    rows += ["", *objects_table(results, ABLATION_DECODERS)]
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


def choose_defaults(checkpoint: Path | None, n: int, model_name: str = "show_attend_tell") -> dict:
    """Pick the decoding defaults on the validation split (never on the test split) and write
    them to the checkpoint's generation_config.json.

    length_alpha: the alpha of the sweep with the highest beam-5 CIDEr (ties: BLEU-4), since
    CIDEr rewards the informative words that length normalisation is meant to bring back.
    out_of_world_mean_log_prob: the 1st percentile of the best beam's mean log prob per token on
    world scenes; pictures below it get the tab's "outside the world" note.
    """
    result = evaluate(checkpoint, n, "validation", alpha=0.0, sweep=True, model_name=model_name)
    checkpoint = Path(result["checkpoint"])
    sweep = result["alpha_sweep"]
    alpha = max(ALPHAS, key=lambda a: (sweep[str(a)]["cider"], sweep[str(a)]["bleu4"]))
    chosen = evaluate(checkpoint, n, "validation", alpha, sweep=False, model_name=model_name)
    defaults = {
        "beam_size": 5,
        "length_alpha": alpha,
        "out_of_world_mean_log_prob": round(
            chosen["results"]["beam5"]["mean_token_log_prob_p01"], 4
        ),
        "max_length": load_model(model_name, checkpoint)[0].config.max_length,
        "chosen_on": f"validation split, {n} scenes",
        "alpha_sweep_cider": {a: round(r["cider"], 4) for a, r in sweep.items()},
    }
    (Path(checkpoint) / GENERATION_CONFIG).write_text(json.dumps(defaults, indent=2) + "\n")
    return defaults


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default="show_attend_tell", choices=tuple(MODELS),
        help="the built-in model (default show_attend_tell, the tab's first choice)",
    )  # fmt: skip
    parser.add_argument(
        "--checkpoint", type=Path, default=None,
        help="default: the model's folder, checkpoints/captioning or checkpoints/show_and_tell",
    )  # fmt: skip
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
        "--ablation", action="store_true",
        help="instead: both models on the same scenes, side by side (their own checkpoints)",
    )  # fmt: skip
    parser.add_argument(
        "--write-examples", type=int, default=0, metavar="N",
        help="instead: save N held-out scenes to examples/captioning for the tab",
    )  # fmt: skip


def run(args: argparse.Namespace) -> dict:
    if args.choose_defaults:
        return choose_defaults(args.checkpoint, args.n, args.model)
    if args.write_examples:
        size = load_model(args.model, args.checkpoint)[0].config.image_size
        folder = get_settings().examples_dir / "captioning"
        records = write_examples(folder, args.write_examples, size)
        return {"examples": len(records), "folder": str(folder)}
    if args.ablation:
        results = {
            name: evaluate(None, args.n, args.split, args.alpha, sweep=False, model_name=name)
            for name in MODELS
        }
        print(ablation_table(results))
        return {"n": args.n, "split": args.split, "models": results}
    result = evaluate(
        args.checkpoint, args.n, args.split, args.alpha, not args.no_sweep, args.model
    )
    print(markdown_table(result))
    return result
