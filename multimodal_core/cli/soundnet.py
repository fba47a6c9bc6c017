"""``hear SOUND [--labels ...] [--picture PNG]``: what a sound network hears in a recording."""

from __future__ import annotations

import argparse

from multimodal_core.cli import add_model_argument, emit
from multimodal_core.tasks import soundnet

HELP = "say which objects a sound network hears in a recording"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sound", help="a recording: WAV, MP3, FLAC, OGG, M4A ...")
    parser.add_argument(
        "--labels",
        nargs="+",
        help="the zero-shot model's candidate labels (default: the world's sound sources)",
    )
    parser.add_argument(
        "--picture", help="the paired picture of a world example: adds what the teacher sees"
    )
    add_model_argument(parser, soundnet.CHOICES)


def run(args: argparse.Namespace) -> int:
    result = soundnet.hear(args.sound, args.model, labels=args.labels, picture=args.picture)
    emit(result.to_dict(), soundnet.describe(result).replace("**", ""), args.json)
    return 0
