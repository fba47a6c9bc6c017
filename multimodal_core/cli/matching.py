"""``search --text "a dog on a blue background"``, ``search --image PICTURE [--minus dog --plus
cat]``, ``search --tags PICTURE``, each over the world's test scenes or ``--gallery DIR``; and
``search --image PICTURE --classify "a cat, a dog"`` (zero-shot classification)."""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from multimodal_core.cli import add_model_argument, emit
from multimodal_core.errors import InputError
from multimodal_core.tasks import matching

HELP = "search pictures by words or by a picture (- words + words), and tag a picture"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    query = parser.add_mutually_exclusive_group()
    query.add_argument("--text", metavar="TEXT", help="find the pictures this text describes")
    query.add_argument("--image", metavar="PICTURE", help="find the pictures nearest this one")
    query.add_argument("--tags", metavar="PICTURE", help="the tags of one picture")
    parser.add_argument("--minus", default="", metavar="WORDS", help="with --image: take away")
    parser.add_argument("--plus", default="", metavar="WORDS", help="with --image: add")
    parser.add_argument(
        "--classify", metavar="LABELS",
        help='with --image: zero-shot probabilities of "a cat, a dog, a car"',
    )  # fmt: skip
    parser.add_argument(
        "--gallery", type=Path, metavar="DIR",
        help="search the pictures in DIR (default: the world's held-out test scenes)",
    )  # fmt: skip
    parser.add_argument("--top", type=int, default=matching.TOP_K, help="results to show")
    parser.add_argument("--map", type=Path, metavar="PNG", help="write the 2-D map here")
    add_model_argument(parser, matching.CHOICES)


def run(args: argparse.Namespace) -> int:
    if args.tags:
        tags = matching.tag_picture(args.tags, args.model)
        lines = [f"{tag}  ({score:.3f})" for tag, score in tags.tags]
        if tags.background:
            lines.append(f"background: {tags.background[0]} ({tags.background[1]:.0%})")
        emit(tags.to_dict(), "\n".join([*lines, *tags.notes]), args.json)
        return 0
    if args.classify is not None:
        if not args.image:
            raise InputError("--classify needs the picture to classify: give it with --image.")
        found = matching.classify(args.image, args.classify, args.model)
        lines = [f"{label}  {p:.1%}" for label, p in found.labels]
        emit(found.to_dict(), "\n".join([*lines, *found.notes]), args.json)
        return 0
    if (args.minus or args.plus) and not args.image:
        raise InputError("--minus and --plus change a picture query: give it with --image.")
    gallery = matching.gallery_from_folder(args.gallery) if args.gallery else None
    draw = args.map is not None
    if args.image:
        result = matching.search_picture(
            args.image, args.minus, args.plus, gallery, args.model, args.top, picture=draw
        )
    elif args.text is not None:
        result = matching.search_text(args.text, gallery, args.model, args.top, picture=draw)
    else:
        raise InputError('Please give --text "a dog on a blue background", --image or --tags.')
    payload = result.to_dict()
    if draw and result.map_picture is not None:
        Image.fromarray(result.map_picture).save(args.map)
        payload["map_png"] = str(args.map)
    lines = [f"{result.query}  (in {result.gallery})", ""]
    lines += [f"{h.rank}. {h.name}  {h.score:.3f}  {h.caption}".rstrip() for h in result.hits]
    if result.tags:
        lines += ["", "the picture's tags: " + ", ".join(t for t, _ in result.tags)]
    if result.notes:
        lines += ["", *result.notes]
    emit(payload, "\n".join(lines), args.json)
    return 0
