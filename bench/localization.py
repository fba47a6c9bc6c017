"""Latency of the built-in sound-source localizer: one picture and a 5 s clip, on the CPU.

Usage: ``python bench/localization.py [--repeats 30] [--threads 1] [--image 128x128] [--json]``
(``--image 480x640`` for a phone photo after ``media.py``). Measured side by
side in one run: the log-mel features of the clip (``audio.log_mel``), the network (visual,
audio and attention nets: :func:`tasks.localization.similarity_grid`), and the map upsampled
to the picture. Prints a table and, as its last line, one JSON object with ``localize_ms`` (the
median of features + network + map) and each part. The target on this machine is <= 30 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from multimodal_core.models.localization import SoundLocalizer, pixel_map
from multimodal_core.settings import get_settings
from multimodal_core.tasks.localization import log_mel_features, similarity_grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--image", default="128x128", help="HxW of the decoded picture (default: a world scene)"
    )
    parser.add_argument(
        "--checkpoint", type=Path, default=get_settings().checkpoints_dir / "localization"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = SoundLocalizer.from_pretrained(args.checkpoint)
    rng = np.random.default_rng(0)
    height, width = (int(v) for v in args.image.lower().split("x"))
    image = rng.random((height, width, 3), dtype=np.float32)  # as media.load_image returns it
    t = np.arange(int(args.seconds * model.config.sample_rate)) / model.config.sample_rate
    samples = (0.3 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(
        np.float32
    )
    samples += 0.01 * rng.standard_normal(len(samples)).astype(np.float32)

    parts: dict[str, list[float]] = {"features": [], "network": [], "map": []}
    for repeat in range(args.repeats + 3):  # three warm-up runs
        start = time.perf_counter()
        mel = log_mel_features(model, samples)
        features_done = time.perf_counter()
        grid = similarity_grid(model, image, mel)
        network_done = time.perf_counter()
        pixel_map(grid[None], image.shape[0], image.shape[1], model.config.map_smoothing)
        map_done = time.perf_counter()
        if repeat >= 3:
            parts["features"].append(1000 * (features_done - start))
            parts["network"].append(1000 * (network_done - features_done))
            parts["map"].append(1000 * (map_done - network_done))
    totals = [sum(values) for values in zip(*parts.values(), strict=True)]
    medians = {name: statistics.median(values) for name, values in parts.items()}
    result = {
        "localize_ms": round(statistics.median(totals), 2),
        "features_ms": round(medians["features"], 2),
        "network_ms": round(medians["network"], 2),
        "map_ms": round(medians["map"], 2),
        "seconds_of_audio": args.seconds,
        "image": list(image.shape[:2]),
        "threads": args.threads,
        "repeats": args.repeats,
        "device": "cpu",
    }
    print(f"{'part':<28} {'median ms':>10}")
    print(f"{'log-mel features (5 s)':<28} {result['features_ms']:>10.2f}")
    print(f"{'network (3 nets, 1 pair)':<28} {result['network_ms']:>10.2f}")
    print(f"{'map upsampled to picture':<28} {result['map_ms']:>10.2f}")
    print(f"{'total':<28} {result['localize_ms']:>10.2f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
