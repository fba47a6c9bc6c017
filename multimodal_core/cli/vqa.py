"""``vqa IMAGE "QUESTION"``: the answer to a question about a picture, and the top five."""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from multimodal_core.cli import add_model_argument, emit
from multimodal_core.tasks import vqa

HELP = "answer a question about a picture (VQA)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="a picture: PNG, JPEG, WebP ...")
    parser.add_argument("question", help='a question in English, e.g. "what is on the left?"')
    add_model_argument(parser, vqa.CHOICES)
    parser.add_argument("--attention", type=Path, help="write the attention overlay here (PNG)")


def run(args: argparse.Namespace) -> int:
    result = vqa.answer_question(args.image, args.question, args.model)
    payload = result.to_dict()
    if args.attention and result.overlay is not None:
        Image.fromarray(result.overlay).save(args.attention)
        payload["attention_png"] = str(args.attention)
    lines = [result.answer, ""]
    if result.read_as and result.model in vqa.CHECKPOINTS:  # a built-in model's own words
        lines = [result.answer, f"(read as: {result.read_as})", ""]
    lines += [f"{rank}. {answer}  ({score:.3f})" for rank, (answer, score) in
              enumerate(result.top, start=1)]  # fmt: skip
    if result.notes:
        lines += ["", *result.notes]
    emit(payload, "\n".join(lines), args.json)
    return 0
