"""``captioning IMAGE --beam 5``: the caption of a picture, every beam, and the attention maps."""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from multimodal_core.cli import add_model_argument, emit
from multimodal_core.tasks import captioning

HELP = "describe a picture in words (beam search)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="a picture: PNG, JPEG, WebP ...")
    parser.add_argument("--beam", type=int, default=5, help="beam size k, 1 to 10 (default 5)")
    add_model_argument(parser, captioning.CHOICES)
    parser.add_argument(
        "--alpha", type=float, default=None, help="length normalisation (default: the model's)"
    )
    parser.add_argument(
        "--attention", type=Path, help="write the per-word attention maps here (PNG)"
    )


def run(args: argparse.Namespace) -> int:
    result = captioning.caption_image(args.image, args.beam, args.model, args.alpha)
    payload = result.to_dict()
    if args.attention and result.attention_grid is not None:
        Image.fromarray(result.attention_grid).save(args.attention)
        payload["attention_png"] = str(args.attention)
    lines = [result.caption, ""]
    for rank, beam in enumerate(result.beams, start=1):
        lines.append(
            f"{rank:2d}. {beam.text}  (log prob {beam.log_prob:.3f}, score {beam.score:.3f})"
        )
    if result.note:
        lines += ["", result.note]
    emit(payload, "\n".join(lines), args.json)
    return 0
