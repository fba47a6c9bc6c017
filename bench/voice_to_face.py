"""Latency of voice to face on the CPU: ``python bench/voice_to_face.py [--json]``.

A 5 s voice from a held-out person of the world, saved as a 16 kHz WAV, goes through the
built-in route in one process, each part timed separately (medians of ``--repeats`` runs after
one warm-up):

- ``decode_ms``: reading and checking the file (``media.load_audio``);
- ``features_ms``: the log-mel spectrogram (``audio.log_mel``), the voice encoder's input;
- ``network_ms``: voice encoder and face decoder (``Speech2Face.forward``), batch of one;
- ``face_ms``: features and network together, through ``tasks.voice_to_face.draw_face``:
  what it costs to turn samples into a face;
- ``pitch_ms`` and ``picture_ms``: the pyin pitch track and the spectrogram picture, which the
  tab shows beside the face;
- ``task_ms``: the whole ``voice_to_face`` call the tab and the CLI make.

``*_cpu_ms`` are the same from this process's CPU time, which other jobs on shared cores inflate
far less than wall time. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from multimodal_core import audio, media
from multimodal_core.backends import voice_to_face as pretrained
from multimodal_core.models.speech2face import Speech2Face
from multimodal_core.settings import get_settings
from multimodal_core.tasks import voice_to_face as task
from multimodal_core.world.people import person
from multimodal_core.world.splits import seeds


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of ``fn`` over ``repeats`` runs, after one warm-up."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(1000 * (time.perf_counter() - w))
        cpu.append(1000 * (time.process_time() - c))
    return statistics.median(wall), statistics.median(cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (CPU)")
    parser.add_argument("--json", action="store_true", help="the JSON line is always last")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    checkpoint = get_settings().checkpoints_dir / "voice_to_face"
    model = Speech2Face.from_pretrained(checkpoint).float().eval()
    speaker = person(seeds("test", held_out_ok=True)[0])
    samples = speaker.voice(args.seconds, task.FEATURES.sample_rate)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "voice.wav"
        sf.write(path, samples, task.FEATURES.sample_rate)
        clip = media.load_audio(path, task.FEATURES.sample_rate)
        mel = audio.log_mel(clip.samples, task.FEATURES)[None]
        pitch = pretrained.pitch_track(clip.samples, clip.sample_rate)

        def network() -> None:
            with torch.inference_mode():
                model(mel)

        parts = {
            "decode": lambda: media.load_audio(path, task.FEATURES.sample_rate),
            "features": lambda: audio.log_mel(clip.samples, task.FEATURES),
            "network": network,
            "face": lambda: task.draw_face(model, clip.samples),
            "pitch": lambda: pretrained.pitch_track(clip.samples, clip.sample_rate),
            "picture": lambda: task.pitch_spectrogram_image(clip.samples, clip.sample_rate, pitch),
            "task": lambda: task.voice_to_face(path),
        }
        result: dict = {
            "seconds": args.seconds,
            "threads": args.threads,
            "device": "cpu",
            "parameters": sum(p.numel() for p in model.parameters()),
        }
        for name, fn in parts.items():
            repeats = max(3, args.repeats // 3) if name in ("pitch", "task") else args.repeats
            wall, cpu = timed(fn, repeats)
            result[f"{name}_ms"] = round(wall, 2)
            result[f"{name}_cpu_ms"] = round(cpu, 2)
    result["network_share_of_face"] = round(result["network_ms"] / result["face_ms"], 3)
    print(f"Voice to face, a {args.seconds:g} s clip on the CPU ({args.threads} thread(s))")
    print("| part | wall ms | CPU ms |")
    print("|---|---|---|")
    for name in parts:
        print(f"| {name} | {result[f'{name}_ms']:.1f} | {result[f'{name}_cpu_ms']:.1f} |")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
