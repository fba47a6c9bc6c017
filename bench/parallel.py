"""Threads against processes for the tabs' CPU work: ``python bench/parallel.py [--json]``.

The server runs concurrent requests in threads of one Python process. This bench asks how much
that can gain for the work of the Sound and Voice to face tabs (decode, features, pitch track,
built-in face model, the plots): the same recordings are handled one after another, by
``--workers`` threads at once, and by ``--workers`` processes at once (each warmed first, as a
server would be). Runs are repeated, interleaved, and the median of each is kept. Reports
recordings per second each way and the two speedups over one at a time. The last line is one
JSON object with ``thread_speedup`` and ``process_speedup``.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

VOICES = sorted((REPO / "examples").glob("voice_*.wav"))


def handle(path: Path) -> None:
    """What the Sound and Voice to face tabs compute for one recording."""
    from multimodal_core.tasks import sound, voice_to_face

    sound.analyse_sound(path)
    voice_to_face.voice_to_face(path)


def warm(_: int = 0) -> None:
    """Compile librosa, load the face model and build the plots, outside the timing."""
    from multimodal_core import audio

    audio.warm_up().join()
    for path in VOICES[:2]:
        handle(path)


def timed(run: Callable[[], object], count: int) -> float:
    start = time.perf_counter()
    run()
    return count / (time.perf_counter() - start)


def measure(workers: int, clips: int, repeats: int) -> dict[str, object]:
    paths = [VOICES[i % len(VOICES)] for i in range(clips)]
    warm()
    rates: dict[str, list[float]] = {"one_at_a_time": [], "threads": [], "processes": []}
    spawn = multiprocessing.get_context("spawn")  # no fork of a process holding torch threads
    threads = ThreadPoolExecutor(workers)
    processes = ProcessPoolExecutor(workers, mp_context=spawn)
    pools: dict[str, Executor] = {"threads": threads, "processes": processes}
    try:
        list(processes.map(warm, range(workers)))  # one warm-up per worker, as a server's start
        for _ in range(repeats):
            rates["one_at_a_time"].append(timed(lambda: [handle(p) for p in paths], clips))
            for name, pool in pools.items():
                rates[name].append(timed(lambda pool=pool: list(pool.map(handle, paths)), clips))
    finally:
        threads.shutdown()
        processes.shutdown()
    per_second = {name: statistics.median(values) for name, values in rates.items()}
    return {
        "workers": workers,
        "recordings": clips,
        "repeats": repeats,
        **{f"{name}_per_second": round(value, 2) for name, value in per_second.items()},
        "thread_speedup": round(per_second["threads"] / per_second["one_at_a_time"], 2),
        "process_speedup": round(per_second["processes"] / per_second["one_at_a_time"], 2),
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="threads or processes (default 2)")
    parser.add_argument("--recordings", type=int, default=12, help="recordings per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="the JSON line is always last")
    args = parser.parse_args(argv)
    if not VOICES:
        raise SystemExit("examples/voice_*.wav are missing")
    if args.workers < 1 or args.recordings < 1 or args.repeats < 1:
        parser.error("--workers, --recordings and --repeats must be at least 1")
    logging.basicConfig(level=logging.WARNING)
    result = measure(args.workers, args.recordings, args.repeats)
    workers = result["workers"]
    print(
        f"Sound + Voice to face for {result['recordings']} recordings; {result['cpu_count']} "
        f"cores, load average {result['load_average_1min']}"
    )
    print(f"{'':<24}{'recordings/s':>13}{'speedup':>9}")
    print(f"{'one at a time':<24}{result['one_at_a_time_per_second']:>13.2f}{1.0:>9.2f}")
    print(
        f"{f'{workers} threads':<24}{result['threads_per_second']:>13.2f}"
        f"{result['thread_speedup']:>9.2f}"
    )
    print(
        f"{f'{workers} processes':<24}{result['processes_per_second']:>13.2f}"
        f"{result['process_speedup']:>9.2f}"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
