"""``words "king - man + woman"``, ``words --near dog``: word vectors from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from multimodal_core.cli import add_model_argument, emit
from multimodal_core.errors import InputError
from multimodal_core.tasks import words

HELP = "nearest words, analogies and similarity of word vectors (skip-gram)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", nargs="?", help='a word or an analogy, e.g. "king - man + woman"')
    parser.add_argument("--near", metavar="WORD", help="the nearest words to WORD")
    parser.add_argument("--similar", nargs=2, metavar=("WORD", "WORD"), help="their cosine")
    parser.add_argument("--map", metavar="WORDS", default="", help="words to place on the map")
    parser.add_argument("--out", type=Path, help="write the map here (PNG)")
    parser.add_argument("--pairs", metavar="SENTENCE", help="the skip-gram's training pairs")
    add_model_argument(parser, words.CHOICES)


def run(args: argparse.Namespace) -> int:
    if args.similar:
        result = words.similarity(*args.similar, args.model)
        human = f"cosine({result.first}, {result.second}) = {result.cosine:.3f}"
        emit(result.to_dict(), human, args.json)
        return 0
    if args.pairs:
        pairs = words.context_pairs(args.pairs, picture=False)
        human = "\n".join(f"{centre} -> {context}" for centre, context in pairs.pairs)
        emit(pairs.to_dict(), human, args.json)
        return 0
    query = args.near or args.query
    if not query:
        raise InputError('Please give a word or an analogy, for example "king - man + woman".')
    result = words.explore(query, args.model, args.map, picture=args.out is not None)
    payload = result.to_dict()
    if args.out and result.map_picture is not None:
        Image.fromarray(result.map_picture).save(args.out)
        payload["map_png"] = str(args.out)
    lines = [result.query, ""]
    lines += [f"{rank}. {word}  ({score:.3f})" for rank, (word, score) in
              enumerate(result.answers, start=1)]  # fmt: skip
    if result.notes:
        lines += ["", *result.notes]
    emit(payload, "\n".join(lines), args.json)
    return 0
