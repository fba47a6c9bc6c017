"""``separate PICTURE MIX.wav --x 40 --y 60 --out DIR``: the sound of the thing at a point."""

from __future__ import annotations

import argparse
from pathlib import Path

import soundfile
from PIL import Image

from multimodal_core.cli import add_model_argument, emit
from multimodal_core.tasks import separation

HELP = "pull one thing's sound out of a recording by pointing at it in a picture"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="a picture: PNG, JPEG, WebP ...")
    parser.add_argument("audio", help="a recording of the sounds together: WAV, MP3, FLAC ...")
    parser.add_argument("--x", type=float, required=True, help="pixels from the picture's left")
    parser.add_argument("--y", type=float, required=True, help="pixels from the picture's top")
    parser.add_argument(
        "--out",
        type=Path,
        help="write separated.wav, rest.wav, map.png, mixture.png, mask.png and separated.png here",
    )
    add_model_argument(parser, separation.CHOICES)


def run(args: argparse.Namespace) -> int:
    result = separation.separate(args.image, args.audio, args.x, args.y, args.model)
    payload = result.to_dict()
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, samples in (("separated", result.separated), ("rest", result.rest)):
            path = args.out / f"{name}.wav"
            soundfile.write(path, samples.clip(-1.0, 1.0), result.sample_rate, subtype="PCM_16")
            payload[f"{name}_wav"] = str(path)
        for name, pixels in (
            ("map", result.overlay),
            ("mixture", result.mixture_picture),
            ("mask", result.mask_picture),
            ("separated", result.separated_picture),
        ):
            path = args.out / f"{name}.png"
            Image.fromarray(pixels).save(path)
            payload[f"{name}_png"] = str(path)
    emit(payload, separation.describe(result).replace("**", "").replace("*", ""), args.json)
    return 0
