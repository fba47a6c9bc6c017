"""Latency of the built-in sound separator: a click on a 5 s two-source world mixture, on the CPU.

Usage: ``python bench/separation.py [--repeats 30] [--threads 1] [--seconds 5] [--json]``.
Measured side by side in one run, on the same held-out test mixture and click (the first
source's centre): the models (:func:`tasks.separation.separate_at`: the localization model's
region vectors and its two maps, the mixture's STFT, the U-Net's mask and the inverse STFT) and
the whole task call (:func:`tasks.separation.separate`: decoding the two files, the models, the
out-of-world checks of the picture and the sound, the map overlay and the three spectrogram
pictures, drawn here in this process). Prints a table and, as its last line, one JSON object with
``separate_ms_5s`` (the models' median), ``rtf`` (that over the clip's length) and
``task_ms_5s``. The target on this machine is ``separate_ms_5s`` <= 100 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import soundfile
import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from multimodal_core import hub, media
from multimodal_core.tasks import localization, separation
from multimodal_core.world.separation import object_point, separation_scene

TARGET_MS = 100.0


def median_ms(run, repeats: int) -> float:
    """Median wall milliseconds of ``run()`` over ``repeats`` calls, after three warm-up calls."""
    times = []
    for repeat in range(repeats + 3):
        start = time.perf_counter()
        run()
        if repeat >= 3:
            times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--seconds", type=float, default=5.0, help="mixture length (default 5)")
    parser.add_argument("--json", action="store_true", help="the JSON line is always last")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    item = separation_scene("test", 1000, 2, seconds=args.seconds, held_out_ok=True)
    point = object_point(item.sources[0].mask)
    with tempfile.TemporaryDirectory() as folder:
        picture, wav = Path(folder) / "scene.png", Path(folder) / "mixture.wav"
        Image.fromarray(item.scene.image).save(picture)
        soundfile.write(wav, item.mixture.clip(-1.0, 1.0), 16_000, subtype="FLOAT")
        separator = hub.get(separation.BUILTIN)
        localizer = hub.get(localization.BUILTIN)
        image = media.load_image(picture)
        mixture = media.load_audio(wav, separator.config.sample_rate).samples
        models_ms = median_ms(
            lambda: separation.separate_at(separator, localizer, image, mixture, point),
            args.repeats,
        )
        task_ms = median_ms(lambda: separation.separate(picture, wav, *point), args.repeats)
    result = {
        "separate_ms_5s": round(models_ms, 2),
        "rtf": round(models_ms / (1000 * args.seconds), 4),
        "task_ms_5s": round(task_ms, 2),
        "target_ms": TARGET_MS,
        "seconds_of_audio": args.seconds,
        "threads": args.threads,
        "repeats": args.repeats,
        "device": str(hub.default_hub().device),
    }
    print(f"{'part (median of ' + str(args.repeats) + ')':<52} {'ms':>8}")
    print(f"{'models: regions, 2 maps, STFT, mask, inverse STFT':<52} {models_ms:>8.2f}")
    print(f"{'whole task: + files, world checks, map, 3 pictures':<52} {task_ms:>8.2f}")
    print(
        f"real-time factor {result['rtf']:.4f} ({args.seconds:g} s of sound); "
        f"target <= {TARGET_MS:.0f} ms for the models"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
