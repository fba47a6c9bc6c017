"""``sound FILE``: the facts of a recording, and optionally its pictures."""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from multimodal_core.cli import emit
from multimodal_core.tasks import sound

HELP = "analyse a recording (waveform, STFT, mel, MFCC)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", help="a recording: WAV, MP3, FLAC, OGG, M4A ...")
    parser.add_argument("--out", type=Path, help="folder to write the four pictures into")


def run(args: argparse.Namespace) -> int:
    analysis = sound.analyse_sound(args.audio)
    result = analysis.to_dict()
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for name in ("waveform", "stft", "mel", "mfcc"):
            path = args.out / f"{name}.png"
            Image.fromarray(getattr(analysis, name)).save(path)
            result[f"{name}_png"] = str(path)
    emit(result, sound.describe(analysis.facts).replace("**", ""), args.json)
    return 0
