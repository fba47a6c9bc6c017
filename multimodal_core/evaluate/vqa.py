"""Evaluate the built-in VQA models: ``python -m multimodal_core.evaluate vqa [--json]``.

World (checkpoints/vqa_world): accuracy overall and per question type on held-out TEST scenes,
the same for the question-only baseline (the same architecture trained with the image stream
removed, checkpoints/vqa_world_question_only), and on the ``novel_combo`` split, whose scenes all
hold a pair of classes that never met in training (compositional generalisation). Synonyms: test
questions whose object noun is replaced by a catalogue synonym the model never saw ("puppy" for
"dog"), read through the sentence encoder, scored for accuracy and agreement with the canonical
question's answer. Looks: how often each attention hop's peak lies on the object the question is
about (``language.Question.about``; for a relation, hop 1 on its first noun and hop 2 on its
second). easy-vqa (checkpoints/vqa_easyvqa): accuracy on its 1,000-image test set,
with its own question-only figure (easy-vqa answers are often guessable from the question).

A checkpoint that is missing gives null figures and a note, not a failure. The human table comes
first; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import torch

from multimodal_core.evaluate.cards import looks_sentence, percent, write_vqa_cards
from multimodal_core.evaluate.metrics import vqa_accuracy
from multimodal_core.models.vqa import QuestionVocabulary, StackedAttentionVQA
from multimodal_core.settings import get_settings
from multimodal_core.world.qa_stores import (
    QABatch,
    SceneStore,
    easyvqa_store,
    hop_targets,
    world_store,
)

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    checkpoints = get_settings().checkpoints_dir
    parser.add_argument("--json", action="store_true", help="the JSON line is always last")
    parser.add_argument("--world", type=Path, default=checkpoints / "vqa_world")
    parser.add_argument(
        "--world-question-only", type=Path, default=checkpoints / "vqa_world_question_only"
    )
    parser.add_argument("--easyvqa", type=Path, default=checkpoints / "vqa_easyvqa")
    parser.add_argument(
        "--easyvqa-question-only", type=Path, default=checkpoints / "vqa_easyvqa_question_only"
    )
    parser.add_argument("--scenes", type=int, default=300, help="test scenes (~6 questions each)")
    parser.add_argument("--novel-scenes", type=int, default=200, help="novel-combination scenes")
    parser.add_argument("--synonym-scenes", type=int, default=300, help="0 skips synonyms")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument(
        "--write-cards", action="store_true", help="write the figures into the model cards"
    )
    parser.set_defaults(run=run)


def _load(folder: Path) -> tuple[StackedAttentionVQA, QuestionVocabulary] | None:
    if not (folder / "model.safetensors").is_file():
        logger.warning("no checkpoint in %s", folder)
        return None
    return StackedAttentionVQA.from_pretrained(folder), QuestionVocabulary.from_pretrained(folder)


def _score(loaded: tuple | None, batches: list[QABatch]) -> dict:
    if loaded is None:
        return {"acc": None, "n": 0, "per_type": {}}
    model, vocab = loaded
    return vqa_accuracy(model, vocab, batches)


def _synonym_questions(store: SceneStore) -> tuple[list[QABatch], list[QABatch]]:
    """Test questions with one singular object noun that has one-word synonyms, each asked with
    the noun (canonical) and with each synonym; both lists hold the same rows in the same order.
    Synonyms shared by two classes ("kid") are left out: they have no one right answer."""
    from multimodal_core.world import catalogue

    owners: dict[str, list[str]] = {}
    for cls in catalogue.CLASSES:
        for synonym in cls.synonyms:
            owners.setdefault(synonym, []).append(cls.name)
    synonyms = {
        cls.name: [s for s in cls.synonyms if " " not in s and len(owners[s]) == 1]
        for cls in catalogue.CLASSES
    }
    canonical, replaced = [], []
    for b in store.batches():
        rows_c: list[tuple[int, str, int, str]] = []
        rows_s: list[tuple[int, str, int, str]] = []
        for i, text, answer, qtype in zip(
            b.image_index.tolist(), b.questions, b.answers.tolist(), b.types, strict=True
        ):
            words = text.split()
            nouns = [n for n, w in enumerate(words) if synonyms.get(w)]
            if len(nouns) != 1:
                continue
            for synonym in synonyms[words[nouns[0]]]:
                swapped = [*words[: nouns[0]], synonym, *words[nouns[0] + 1 :]]
                rows_c.append((i, text, answer, qtype))
                rows_s.append((i, " ".join(swapped), answer, qtype))
        for rows, out in ((rows_c, canonical), (rows_s, replaced)):
            if rows:
                out.append(
                    QABatch(
                        images=b.images,
                        image_index=torch.tensor([r[0] for r in rows]),
                        questions=[r[1] for r in rows],
                        answers=torch.tensor([r[2] for r in rows]),
                        types=[r[3] for r in rows],
                    )
                )
    return canonical, replaced


@torch.inference_mode()
def _synonyms(loaded: tuple | None, store: SceneStore) -> dict:
    """Accuracy with canonical nouns, with unseen synonyms, and how often the answers agree."""
    empty = {"synonym_acc": None, "synonym_canonical_acc": None, "synonym_agreement": None}
    if loaded is None:
        return {**empty, "synonym_n": 0}
    from multimodal_core.backends.sentence_encoder import load_sentence_encoder
    from multimodal_core.synonyms import SynonymMapper

    model, vocab = loaded
    model.eval()
    mapper = SynonymMapper(vocab, load_sentence_encoder().encode)
    canonical, replaced = _synonym_questions(store)
    hits_c, hits_s, agree = [], [], []
    examples: list[str] = []
    for bc, bs in zip(canonical, replaced, strict=True):
        mapped = [mapper.map(q)[0] for q in bs.questions]
        pc = model(bc.images, vocab.encode_batch(bc.questions), bc.image_index).logits.argmax(-1)
        ps = model(bs.images, vocab.encode_batch(mapped), bs.image_index).logits.argmax(-1)
        hits_c += (pc == bc.answers).tolist()
        hits_s += (ps == bs.answers).tolist()
        agree += (pc == ps).tolist()
        examples += [f"{q} -> {m}" for q, m in zip(bs.questions, mapped, strict=True)][:2]
    if not agree:
        return {**empty, "synonym_n": 0}
    return {
        "synonym_acc": float(np.mean(hits_s)),
        "synonym_canonical_acc": float(np.mean(hits_c)),
        "synonym_agreement": float(np.mean(agree)),
        "synonym_n": len(agree),
        "synonym_examples": examples[:6],
    }


@torch.inference_mode()
def _looks(loaded: tuple | None, batches: list[QABatch]) -> dict:
    """How often a hop's attention peak lies on the object it should look at, over every
    (question, hop) pair with one, and for relations per hop (hop 1: first noun, hop 2: second)."""
    empty = {"hop_on_object": None, "relation_hop1_on_first": None, "relation_hop2_on_second": None}
    if loaded is None or not loaded[0].config.use_image or loaded[0].config.hops < 2:
        return empty
    model, vocab = loaded
    on_object: list[bool] = []
    on_nouns: list[list[bool]] = [[], []]
    for b in batches:
        attention = model(b.images, vocab.encode_batch(b.questions), b.image_index).attention
        targets = hop_targets(b.looks, model.config.hops, model.config.num_regions)
        peak_on = targets.gather(-1, attention.argmax(-1, keepdim=True)).squeeze(-1)  # (Q, hops)
        on_object += peak_on[targets.any(-1)].tolist()
        for q, qtype in enumerate(b.types):
            if qtype == "relation":
                on_nouns[0].append(bool(peak_on[q, 0]))
                on_nouns[1].append(bool(peak_on[q, 1]))
    if not on_object:
        return empty
    return {
        "hop_on_object": float(np.mean(on_object)),
        "relation_hop1_on_first": float(np.mean(on_nouns[0])) if on_nouns[0] else None,
        "relation_hop2_on_second": float(np.mean(on_nouns[1])) if on_nouns[1] else None,
    }


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    world = _load(args.world)
    size = world[0].config.image_size if world else 96
    grid = world[0].config.grid_size if world else 0
    test = world_store("test", args.scenes, size, held_out_ok=True, grid=grid)
    novel = world_store("novel_combo", args.novel_scenes, size, held_out_ok=True)
    test_batches, novel_batches = test.batches(), novel.batches()
    main = _score(world, test_batches)
    question_only = _score(_load(args.world_question_only), test_batches)
    novel_scores = _score(world, novel_batches)
    looks = _looks(world, test_batches)
    synonyms = (
        _synonyms(world, world_store("test", args.synonym_scenes, size, held_out_ok=True))
        if args.synonym_scenes
        else {}
    )
    easy_batches = easyvqa_store("test").batches()
    easy = _score(_load(args.easyvqa), easy_batches)
    easy_question_only = _score(_load(args.easyvqa_question_only), easy_batches)
    result = {
        "world_acc": main["acc"],
        "world_question_only_acc": question_only["acc"],
        "world_novel_combo_acc": novel_scores["acc"],
        "easyvqa_acc": easy["acc"],
        "easyvqa_question_only_acc": easy_question_only["acc"],
        "per_type": main["per_type"],
        "n": main["n"],
        "question_only_per_type": question_only["per_type"],
        "novel_combo_per_type": novel_scores["per_type"],
        "n_novel_combo": novel_scores["n"],
        **looks,
        "easyvqa_per_type": easy["per_type"],
        "easyvqa_question_only_per_type": easy_question_only["per_type"],
        "n_easyvqa": easy["n"],
        **synonyms,
        "test_scenes": args.scenes,
        "novel_scenes": args.novel_scenes,
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(table(result))
    if args.write_cards:
        write_vqa_cards(result, args)
    return result


def table(r: dict) -> str:
    """The figures as a plain-text table."""
    lines = [
        f"World, {r['n']} held-out test questions ({r['test_scenes']} scenes)",
        f"{'type':<12} {'model':>7} {'q-only':>7} {'novel':>7}",
    ]
    types = sorted(set(r["per_type"]) | set(r["question_only_per_type"]))
    for t in types:
        cells = (
            r[key].get(t) for key in ("per_type", "question_only_per_type", "novel_combo_per_type")
        )
        lines.append(f"{t:<12} " + " ".join(f"{percent(c):>7}" for c in cells))
    lines.append(
        f"{'overall':<12} {percent(r['world_acc']):>7} {percent(r['world_question_only_acc']):>7}"
        f" {percent(r['world_novel_combo_acc']):>7}"
    )
    if r.get("synonym_n"):
        lines.append(
            f"unseen synonyms ({r['synonym_n']} questions): accuracy {percent(r['synonym_acc'])}, "
            f"canonical {percent(r['synonym_canonical_acc'])}, same answer "
            f"{percent(r['synonym_agreement'])}"
        )
    if r.get("hop_on_object") is not None:
        lines.append(looks_sentence(r))
    lines += [
        "",
        f"easy-vqa test, {r['n_easyvqa']} questions: model {percent(r['easyvqa_acc'])}, "
        f"question-only {percent(r['easyvqa_question_only_acc'])}",
    ]
    for t, acc in r["easyvqa_per_type"].items():
        q_only = r["easyvqa_question_only_per_type"].get(t)
        lines.append(f"  {t:<10} {percent(acc)}  (question-only {percent(q_only)})")
    return "\n".join(lines)
