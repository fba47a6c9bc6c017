"""Drawing speed of the built-in text-to-image GAN: ``python bench/text_to_image.py [--json]``.

Measured side by side in one run, on the same generator:

- ``gan8_ms``: 8 pictures in one call (what the tab does for "8 images"), median wall time,
  on the CPU with ``--threads`` torch threads (target <= 20 ms); ``gan8_cpu_ms`` the same from
  this process's CPU time, which other jobs on shared cores inflate far less than wall time.
- ``per_image_ms`` for batches of 1, 8, 32 and 64, and ``batch_speedup_64``: per-picture time
  at batch 1 over per-picture time at batch 64 (batching must pay).
- ``encode_ms``: the MiniLM embedding of one prompt (``--with-encoder``; it imports
  transformers), which the tab pays once per request on top of drawing.
- the same on CUDA when a GPU is available (``cuda_*`` keys).

The shipped checkpoint is used when present, else a randomly initialised generator of the same
default config (drawing time does not depend on the weights); ``weights`` says which.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from multimodal_core.models.text_gan import TextGAN, TextGANConfig, noise, sample_images
from multimodal_core.settings import get_settings

BATCHES = (1, 8, 32, 64)


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of ``fn`` over ``repeats`` runs, after one warm-up."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - w0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def bench(gan: TextGAN, device: str, repeats: int, prefix: str = "") -> dict:
    """Timings of one device; keys prefixed with ``prefix``."""
    gan = gan.to(device)
    text = torch.nn.functional.normalize(torch.randn(max(BATCHES), gan.config.text_dim), dim=-1)
    z = noise(list(range(max(BATCHES))), gan.config.z_dim)

    def draw(n: int) -> Callable[[], object]:
        def run() -> object:
            out = sample_images(gan, text[:n], z[:n])
            if device == "cuda":
                torch.cuda.synchronize()
            return out

        return run

    out: dict = {}
    wall8, cpu8 = timed(draw(8), repeats)
    out[f"{prefix}gan8_ms"] = round(wall8, 2)
    out[f"{prefix}gan8_cpu_ms"] = round(cpu8, 2)
    per_image = {}
    for n in BATCHES:
        wall, _ = timed(draw(n), max(3, repeats // 2))
        per_image[str(n)] = round(wall / n, 3)
    out[f"{prefix}per_image_ms"] = per_image
    out[f"{prefix}batch_speedup_64"] = round(per_image["1"] / per_image["64"], 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--with-encoder", action="store_true", help="also time MiniLM")
    parser.add_argument("--json", action="store_true", help="the JSON line is always last")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    folder = get_settings().checkpoints_dir / "text_to_image"
    if (folder / "model.safetensors").is_file():
        gan, weights = TextGAN.from_pretrained(folder), str(folder)
    else:
        gan, weights = TextGAN(TextGANConfig(), with_discriminator=False).eval(), "random"
    gan = gan.to(memory_format=torch.channels_last)  # as the task loads it
    result: dict = {"weights": weights, "threads": args.threads}
    result |= bench(gan, "cpu", args.repeats)
    if args.with_encoder:
        from multimodal_core.backends.sentence_encoder import load_sentence_encoder

        encoder = load_sentence_encoder()
        wall, _ = timed(lambda: encoder.encode(["a dog on a blue background"]), args.repeats)
        result["encode_ms"] = round(wall, 2)
    if torch.cuda.is_available():
        result |= bench(gan, "cuda", args.repeats, prefix="cuda_")
    print(f"8 pictures: {result['gan8_ms']} ms wall, {result['gan8_cpu_ms']} ms CPU")
    print("per picture by batch size (ms):", result["per_image_ms"])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
