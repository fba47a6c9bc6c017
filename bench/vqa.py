"""Built-in VQA speed on this machine: ``python bench/vqa.py [--json]``.

Measured side by side in one run, repeats interleaved so that other load on the machine hits
both alike: N questions about N validation scenes answered one at a time (image features, question
encoder, attention, classifier and top-5 for each) against the same N in one batch. Reports the
median latency per question, the batch speedup (one-at-a-time time / batched time), and the
latency of the whole task call for one question (resize, model, top-5, attention overlay).
The last line is one JSON object with ``vqa_ms`` and ``batch_speedup``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from multimodal_core.tasks import vqa
from multimodal_core.world.qa_stores import easyvqa_store, world_store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=REPO / "checkpoints" / "vqa_world")
    parser.add_argument("--n", type=int, default=32, help="questions (and batch size)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--json", action="store_true", help="the JSON line is always last")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)

    model = vqa.BuiltinVQA.from_pretrained(args.checkpoint).eval()
    size = model.image_size
    if "easyvqa" in args.checkpoint.name:
        store = easyvqa_store("test", range(args.n))
    else:
        store = world_store("validation", args.n, size)
    batch = store.batch(range(args.n))
    first = [int((batch.image_index == i).nonzero()[0]) for i in range(args.n)]  # a question each
    images = batch.images  # (N, 3, S, S)
    questions = [batch.questions[q] for q in first]

    def one_at_a_time() -> float:
        start = time.perf_counter()
        for i, question in enumerate(questions):
            model.predict(images[i : i + 1], [question])
        return time.perf_counter() - start

    def batched() -> float:
        start = time.perf_counter()
        model.predict(images, questions)
        return time.perf_counter() - start

    picture = images[0].permute(1, 2, 0).numpy()  # (S, S, 3) as media.load_image gives

    def task_call() -> float:
        start = time.perf_counter()
        vqa.answer_with(model, [picture], [questions[0]])
        return time.perf_counter() - start

    one_at_a_time(), batched(), task_call()  # warm-up
    singles, batches, tasks = [], [], []
    for _ in range(args.repeats):
        singles.append(one_at_a_time())
        batches.append(batched())
        tasks.append(task_call())
    single, joint = statistics.median(singles), statistics.median(batches)
    result = {
        "vqa_ms": round(1000 * single / args.n, 3),
        "batch_speedup": round(single / joint, 2),
        "batched_ms_per_question": round(1000 * joint / args.n, 3),
        "task_ms": round(1000 * statistics.median(tasks), 3),
        "n": args.n,
        "repeats": args.repeats,
        "threads": args.threads,
        "image_size": size,
        "checkpoint": args.checkpoint.name,
        "device": "cpu",
        "load_average_1min": round(os.getloadavg()[0], 2),  # other jobs inflate the latency
    }
    print(
        f"checkpoint {args.checkpoint.name}, {size} px, {args.threads} thread(s), CPU, "
        f"load average {result['load_average_1min']} on {os.cpu_count()} cores"
    )
    print(f"one question at a time: {result['vqa_ms']:.2f} ms per question")
    print(
        f"batch of {args.n}: {result['batched_ms_per_question']:.2f} ms per question "
        f"({result['batch_speedup']:.1f}x faster)"
    )
    print(f"whole task call (resize, model, top-5, overlay): {result['task_ms']:.2f} ms")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
