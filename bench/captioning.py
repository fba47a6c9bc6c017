"""Beam-search benchmark for the built-in captioner: ``python bench/captioning.py [--json]``.

Every ratio is measured side by side in one run, on the same model and the same scenes:

- ``beam_speedup_k5``: one image at k = 5, a per-beam Python loop (each beam stepped alone, the
  classic tutorial code) against :func:`multimodal_core.decoding.beam_search` (the k beams as one
  batch per step). Both must return the same best caption.
- ``batch_speedup_k5``: 32 images at k = 5 in one call against the same 32 one at a time
  (throughput: batching must pay).
- ``beam{1,3,5}_ms``: latency of one image at k = 1, 3, 5 (one call per image, as the tab does).
- ``show_and_tell_beam5_ms``: the same latency at k = 5 for Show and Tell, the no-attention
  model of the same tab (``checkpoints/show_and_tell``), measured the same way in the same run.
- ``*_cpu`` / ``*_cpu_ms``: the same from this process's CPU time, which other jobs on shared
  cores inflate far less than wall time (medians of several runs either way).
- the same on CUDA when a GPU is available (``cuda_*`` keys).

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

from multimodal_core.decoding import banned_tokens, beam_search
from multimodal_core.models.show_and_tell import ShowAndTell, ShowAndTellConfig
from multimodal_core.models.show_attend_tell import (
    ShowAttendTell,
    ShowAttendTellConfig,
)
from multimodal_core.settings import get_settings
from multimodal_core.world.datasets import image_tensor
from multimodal_core.world.splits import scene_in_split


@torch.inference_mode()
def loop_beam_search(
    model: ShowAttendTell, image: torch.Tensor, k: int, max_length: int
) -> list[tuple[list[int], float]]:
    """The baseline: a Python loop over beams, each stepped with a batch of one.

    Same search as ``beam_search`` at alpha = 0 (k alive beams, finished ones set aside, stop when
    no alive beam can beat the k-th finished one), written the way tutorials write it.
    """
    config = model.config
    banned = banned_tokens(config)
    memory = model.encode(image[None])
    alive = [([], 0.0, model.init_state(memory))]  # (tokens, log prob, state)
    finished: list[tuple[list[int], float]] = []
    for _ in range(max_length):
        candidates = []
        for tokens, score, state in alive:
            last = torch.tensor([tokens[-1] if tokens else config.start_id])
            out = model.step(last, state, memory)
            logits = out.logits.float()
            logits[:, banned] = float("-inf")
            log_probs = torch.log_softmax(logits, -1)[0]
            top_lp, top_tok = log_probs.topk(2 * k)
            for lp, tok in zip(top_lp.tolist(), top_tok.tolist(), strict=True):
                candidates.append(([*tokens, tok], score + lp, out.state))
        candidates.sort(key=lambda c: -c[1])
        alive = []
        for tokens, score, state in candidates[: 2 * k]:
            if tokens[-1] == config.end_id:
                finished.append((tokens[:-1], score))
            elif len(alive) < k:
                alive.append((tokens, score, state))
        finished = sorted(finished, key=lambda f: -f[1])[:k]
        if len(finished) == k and finished[-1][1] > max(s for _, s, _ in alive):
            break
    pool = finished + [(t, s) for t, s, _ in alive]
    return sorted(pool, key=lambda f: -f[1])[:k]


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall time and median CPU time of this process over ``repeats`` calls, in seconds,
    after one warm-up call. CPU time says what the work costs when other jobs share the cores."""
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def load_model(
    checkpoint: Path,
    model_class: type[ShowAttendTell] | type[ShowAndTell] = ShowAttendTell,
    config_class: type[ShowAttendTellConfig] | type[ShowAndTellConfig] = ShowAttendTellConfig,
) -> tuple[ShowAttendTell | ShowAndTell, str]:
    if (checkpoint / "model.safetensors").is_file():
        return model_class.from_pretrained(checkpoint), str(checkpoint)
    torch.manual_seed(0)
    return model_class(config_class(vocab_size=204)).eval(), "random init (no checkpoint)"


def latency(
    model: ShowAttendTell | ShowAndTell, images: torch.Tensor, k: int, repeats: int
) -> tuple[float, float]:
    """Wall and CPU milliseconds of one image's beam search at ``k``: the mean over the first
    four scenes of the median of ``repeats`` calls."""
    runs = [timed(lambda i=i: beam_search(model, images[i : i + 1], k), repeats) for i in range(4)]
    return statistics.mean(w for w, _ in runs) * 1000, statistics.mean(c for _, c in runs) * 1000


def measure(model: ShowAttendTell, images: torch.Tensor, repeats: int, prefix: str) -> dict:
    """All figures on the model's device; keys get ``prefix``."""
    device = next(model.parameters()).device
    images = images.to(device)
    one = images[:1]
    max_length = model.config.max_length
    r: dict[str, float | bool] = {}
    batched = beam_search(model, one, 5)[0][0]
    looped = loop_beam_search(model, one[0], 5, max_length)[0]
    r["same_best_caption"] = batched.tokens == looped[0]
    (loop_wall, loop_cpu) = timed(lambda: loop_beam_search(model, one[0], 5, max_length), repeats)
    (beam_wall, beam_cpu) = timed(lambda: beam_search(model, one, 5), repeats)
    r["loop_beam5_ms"] = loop_wall * 1000
    r["beam_speedup_k5"] = loop_wall / beam_wall
    r["beam_speedup_k5_cpu"] = loop_cpu / beam_cpu
    for k in (1, 3, 5):
        r[f"beam{k}_ms"], r[f"beam{k}_cpu_ms"] = latency(model, images, k, repeats)
    n = len(images)
    batch_wall, batch_cpu = timed(lambda: beam_search(model, images, 5), repeats)
    single_wall, single_cpu = timed(
        lambda: [beam_search(model, images[i : i + 1], 5) for i in range(n)], max(1, repeats // 2)
    )
    r["batch32_beam5_ms_per_image"] = batch_wall * 1000 / n
    r["single_beam5_ms_per_image"] = single_wall * 1000 / n
    r["batch_speedup_k5"] = single_wall / batch_wall
    r["batch_speedup_k5_cpu"] = single_cpu / batch_cpu
    return {f"{prefix}{key}": value for key, value in r.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", type=Path, default=get_settings().checkpoints_dir / "captioning"
    )
    parser.add_argument(
        "--show-and-tell-checkpoint",
        type=Path,
        default=get_settings().checkpoints_dir / "show_and_tell",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="the JSON line is always last")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, source = load_model(args.checkpoint)
    size = model.config.image_size
    scenes = [scene_in_split("validation", i, size=size) for i in range(32)]
    images = torch.stack([image_tensor(s.image) for s in scenes])  # (32, 3, H, W)
    result: dict[str, object] = {"model": source, "threads": args.threads, "device": "cpu"}
    result.update(measure(model.to("cpu"), images, args.repeats, ""))
    if torch.cuda.is_available():
        result["cuda_device"] = torch.cuda.get_device_name(0)
        result.update(measure(model.to("cuda"), images, args.repeats, "cuda_"))
    # Show and Tell last, beside the attention model's beam5_ms: the same scenes and procedure.
    plain, plain_source = load_model(args.show_and_tell_checkpoint, ShowAndTell, ShowAndTellConfig)
    result["show_and_tell_model"] = plain_source
    devices = [("cpu", ""), ("cuda", "cuda_")] if torch.cuda.is_available() else [("cpu", "")]
    for device, prefix in devices:
        wall, cpu = latency(plain.to(device), images.to(device), 5, args.repeats)
        result[f"{prefix}show_and_tell_beam5_ms"] = wall
        result[f"{prefix}show_and_tell_beam5_cpu_ms"] = cpu
    for key, value in result.items():
        print(f"{key:32s} {value:.3f}" if isinstance(value, float) else f"{key:32s} {value}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
