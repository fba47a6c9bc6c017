"""``voice-to-face AUDIO --out face.png``: draw a face for a voice, and say what it can mean."""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from multimodal_core.cli import add_model_argument, emit
from multimodal_core.tasks import voice_to_face

HELP = "draw a face from a voice (voice to face)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", help="a recording of someone speaking: WAV, MP3, FLAC, OGG ...")
    parser.add_argument("--out", type=Path, help="where to write the face (PNG)")
    parser.add_argument("--spectrogram", type=Path, help="where to write the spectrogram (PNG)")
    add_model_argument(parser, voice_to_face.CHOICES)
    parser.add_argument("--seed", type=int, default=0, help="seed of the pretrained portrait")


def run(args: argparse.Namespace) -> int:
    result = voice_to_face.voice_to_face(args.audio, args.model, args.seed)
    answer = result.to_dict()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(result.face).save(args.out)
        answer["face_png"] = str(args.out)
    if args.spectrogram:
        args.spectrogram.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(result.spectrogram).save(args.spectrogram)
        answer["spectrogram_png"] = str(args.spectrogram)
    human = voice_to_face.describe(result).replace("**", "")
    if args.out:
        human += f"\nFace written to {args.out}"
    emit(answer, human, args.json)
    return 0
