"""``text-to-image "PROMPT" --n 4 --seed 0 --out DIR``: draw pictures from a sentence."""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from multimodal_core.cli import add_model_argument, emit
from multimodal_core.tasks import text_to_image

HELP = "draw pictures from a sentence"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help='what to draw, e.g. "a dog on a blue background"')
    parser.add_argument(
        "--n", type=int, default=4, help=f"how many pictures, 1 to {text_to_image.MAX_IMAGES}"
    )
    parser.add_argument("--seed", type=int, default=0, help="picture i uses seed + i")
    add_model_argument(parser, text_to_image.CHOICES)
    parser.add_argument(
        "--interpolate-to",
        metavar="PROMPT_B",
        help="instead: a strip from PROMPT to PROMPT_B with z fixed (built-in GAN)",
    )
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the PNG files")


def run(args: argparse.Namespace) -> int:
    if args.interpolate_to:
        result = text_to_image.interpolate(args.prompt, args.interpolate_to, seed=args.seed)
        names = [f"interpolation_{i:02d}.png" for i in range(len(result.images))]
    else:
        result = text_to_image.generate_images(args.prompt, args.n, args.seed, args.model)
        names = [f"{result.model}_seed{s}.png" for s in result.seeds]
    args.out.mkdir(parents=True, exist_ok=True)
    paths = []
    for image, name in zip(result.images, names, strict=True):
        path = args.out / name
        Image.fromarray(image).save(path)
        paths.append(str(path))
    payload = {**result.to_dict(), "files": paths}
    lines = [f"{len(paths)} pictures of “{result.prompt}” written to {args.out}:", *paths]
    if result.note:
        lines += ["", result.note]
    emit(payload, "\n".join(lines), args.json)
    return 0
