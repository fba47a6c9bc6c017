"""``answer IMAGE "QUESTION"``: the answer to a question about a picture, and the top five."""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from multimodal_core.cli import emit
from multimodal_core.tasks import vqa


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("answer", help="answer a question about a picture (VQA)")
    parser.add_argument("image", help="a picture: PNG, JPEG, WebP ...")
    parser.add_argument("question", help='a question in English, e.g. "what is on the left?"')
    parser.add_argument(
        "--model",
        choices=sorted(vqa.MODEL_CHOICES.values()),
        default=vqa.BUILTIN,
        help=f"default: {vqa.BUILTIN} (built-in, synthetic world)",
    )
    parser.add_argument("--attention", type=Path, help="write the attention overlay here (PNG)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    result = vqa.answer_question(args.image, args.question, args.model)
    payload = result.to_dict()
    if args.attention and result.overlay is not None:
        Image.fromarray(result.overlay).save(args.attention)
        payload["attention_png"] = str(args.attention)
    lines = [result.answer, ""]
    lines += [f"{rank}. {answer}  ({score:.3f})" for rank, (answer, score) in
              enumerate(result.top, start=1)]  # fmt: skip
    if result.notes:
        lines += ["", *result.notes]
    emit(payload, "\n".join(lines), args.json)
    return 0
