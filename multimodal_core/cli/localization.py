"""``localization IMAGE AUDIO --out map.png``: where in a picture a recording's sound is."""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from multimodal_core.cli import add_model_argument, emit
from multimodal_core.tasks import localization

HELP = "find where a sound comes from in a picture (heat map)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="a picture: PNG, JPEG, WebP ...")
    parser.add_argument("audio", help="a recording: WAV, MP3, FLAC, OGG, M4A ...")
    parser.add_argument("--out", type=Path, help="write the heat-map overlay here (PNG)")
    parser.add_argument(
        "--spectrogram", type=Path, help="write the mel spectrogram picture here (PNG)"
    )
    add_model_argument(parser, localization.CHOICES)


def run(args: argparse.Namespace) -> int:
    result = localization.localize(args.image, args.audio, args.model)
    payload = result.to_dict()
    for path, pixels, key in (
        (args.out, result.overlay, "map_png"),
        (args.spectrogram, result.spectrogram, "spectrogram_png"),
    ):
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(path)
            payload[key] = str(path)
    emit(payload, localization.describe(result).replace("**", ""), args.json)
    return 0
