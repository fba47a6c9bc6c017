"""Throughput under load: ``python bench/load.py [--users 8] [--requests 25] [--json]``.

Starts the app in this process on 127.0.0.1 (the first free port from 7860), then sends the same
requests twice through ``gradio_client``, as a person's browser would (upload, queue, result):
one at a time from one client, and from ``--users`` clients at once, each sending ``--requests``
in a row. The requests cycle through the tabs' built-in models with the files in ``examples/``:
captioning, VQA, sound localization, voice to face and sound analysis. Reports requests per
second both ways, their ratio (``throughput_ratio``, concurrent / one at a time), latency
percentiles of each request under load, and failures (any exception; must be 0).
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from gradio_client import Client, handle_file

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import app

EXAMPLES = REPO / "examples"


@dataclass(frozen=True)
class Request:
    """One API call: the endpoint and a function giving its arguments (fresh file handles)."""

    api_name: str
    args: Callable[[], tuple[Any, ...]]


def requests_mix() -> list[Request]:
    """One request per (tab, example) pair, tabs interleaved, so any prefix mixes the tabs."""
    scenes = sorted(EXAMPLES.glob("scene_*.png"))
    voices = sorted(EXAMPLES.glob("voice_*.wav"))
    pairs = [(p, p.with_suffix(".wav")) for p in sorted(EXAMPLES.glob("localization_*.png"))]
    questions = ["how many pianos are there", "what is on the left", "is there a dog"]
    per_tab = [
        [Request("/caption", lambda p=p: (handle_file(p), 5, "builtin")) for p in scenes],
        [
            Request("/answer", lambda p=p, q=q: (handle_file(p), q, "vqa"))
            for p, q in zip(scenes, itertools.cycle(questions))
        ],
        [
            Request("/localize", lambda p=p, a=a: (handle_file(p), handle_file(a), "builtin"))
            for p, a in pairs
        ],
        [Request("/voice_to_face", lambda v=v: (handle_file(v), "builtin", 0)) for v in voices],
        [Request("/sound", lambda v=v: (handle_file(v),)) for v in voices],
    ]
    if not all(per_tab):
        raise SystemExit(f"examples are missing in {EXAMPLES}: one of the tabs has none")
    tabs = [itertools.cycle(requests) for requests in per_tab]
    return [next(tab) for _ in range(max(map(len, per_tab))) for tab in tabs]


@dataclass
class Run:
    """Wall time of a run and each request's latency (seconds) and error (None when fine)."""

    seconds: float
    latencies: list[float]
    errors: list[str]

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds


def send(client: Client, requests: list[Request]) -> tuple[list[float], list[str]]:
    """Send ``requests`` one after another; latencies and errors in order."""
    latencies, errors = [], []
    for request in requests:
        start = time.perf_counter()
        try:
            client.predict(*request.args(), api_name=request.api_name)
        except Exception as error:  # a failure of the app, counted, never hidden
            errors.append(f"{request.api_name}: {type(error).__name__}: {error}")
        latencies.append(time.perf_counter() - start)
    return latencies, errors


def run_one_at_a_time(url: str, requests: list[Request]) -> Run:
    client = Client(url, verbose=False)
    start = time.perf_counter()
    latencies, errors = send(client, requests)
    return Run(time.perf_counter() - start, latencies, errors)


def run_concurrently(url: str, per_user: list[list[Request]]) -> Run:
    """Each user a client of its own, in a thread, all released at the same moment."""
    clients = [Client(url, verbose=False) for _ in per_user]
    ready = threading.Barrier(len(per_user) + 1)

    def user(index: int) -> tuple[list[float], list[str]]:
        ready.wait()
        return send(clients[index], per_user[index])

    with ThreadPoolExecutor(len(per_user)) as pool:
        futures = [pool.submit(user, i) for i in range(len(per_user))]
        ready.wait()
        start = time.perf_counter()
        outcomes = [f.result() for f in futures]
        seconds = time.perf_counter() - start
    latencies = [x for lat, _ in outcomes for x in lat]
    return Run(seconds, latencies, [e for _, errs in outcomes for e in errs])


def percentile_ms(values: list[float], q: int) -> float:
    return round(1000 * statistics.quantiles(values, n=100, method="inclusive")[q - 1], 1)


def median_ms_by_endpoint(requests: list[Request], latencies: list[float]) -> dict[str, float]:
    by_name: dict[str, list[float]] = {}
    for request, latency in zip(requests, latencies, strict=True):
        by_name.setdefault(request.api_name, []).append(latency)
    return {name: round(1000 * statistics.median(v), 1) for name, v in sorted(by_name.items())}


def serve(attempts: int = 3) -> tuple[gr.Blocks, str]:
    """The app on 127.0.0.1 and its URL. Tried again when launching fails: Gradio gives up when
    its own page takes over 3 s to answer, which a machine busy with other jobs can exceed."""
    for _ in range(attempts):
        demo = app.build_app()
        try:
            options = app.launch_options()
            _, url, _ = demo.launch(
                server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, **options
            )
            return demo, url
        except ValueError as error:
            demo.close()
            failure = error
    raise RuntimeError(f"the app did not start in {attempts} attempts") from failure


def measure(users: int, per_user: int) -> dict[str, Any]:
    """Start the app, warm every endpoint, then time the same requests both ways."""
    mix = requests_mix()
    schedule = [[mix[(u * per_user + i) % len(mix)] for i in range(per_user)] for u in range(users)]
    demo, url = serve()
    try:
        warm = run_one_at_a_time(url, list({r.api_name: r for r in mix}.values()))  # loads models
        if warm.errors:
            raise SystemExit("warm-up failed: " + "; ".join(warm.errors[:3]))
        flat = [r for user in schedule for r in user]
        sequential = run_one_at_a_time(url, flat)
        concurrent = run_concurrently(url, schedule)
    finally:
        demo.close()
    return {
        "users": users,
        "requests_per_user": per_user,
        "requests": users * per_user,
        "sequential_rps": round(sequential.rps, 2),
        "concurrent_rps": round(concurrent.rps, 2),
        "throughput_ratio": round(concurrent.rps / sequential.rps, 2),
        "p50_ms": percentile_ms(concurrent.latencies, 50),
        "p95_ms": percentile_ms(concurrent.latencies, 95),
        "sequential_p50_ms": percentile_ms(sequential.latencies, 50),
        "sequential_p95_ms": percentile_ms(sequential.latencies, 95),
        "sequential_p50_ms_by_endpoint": median_ms_by_endpoint(flat, sequential.latencies),
        "failures": len(sequential.errors) + len(concurrent.errors),
        "errors": (sequential.errors + concurrent.errors)[:5],
        "endpoints": sorted({r.api_name for r in flat}),
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),  # other jobs slow both runs
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--requests", type=int, default=25, help="requests per user (default 25)")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    if args.users < 1 or args.requests < 2:
        parser.error("--users must be >= 1 and --requests >= 2")
    logging.basicConfig(level=logging.WARNING)
    result = measure(args.users, args.requests)
    if not args.json:
        print(
            f"{result['requests']} requests over {', '.join(result['endpoints'])}; "
            f"{result['cpu_count']} cores, load average {result['load_average_1min']}"
        )
        print(f"{'':<14}{'req/s':>8}{'p50 ms':>10}{'p95 ms':>10}")
        print(
            f"{'one at a time':<14}{result['sequential_rps']:>8.2f}"
            f"{result['sequential_p50_ms']:>10.0f}{result['sequential_p95_ms']:>10.0f}"
        )
        print(
            f"{f'{args.users} users':<14}{result['concurrent_rps']:>8.2f}"
            f"{result['p50_ms']:>10.0f}{result['p95_ms']:>10.0f}"
        )
        print(f"throughput ratio {result['throughput_ratio']:.2f}x, failures {result['failures']}")
        for error in result["errors"]:
            print(f"  {error}")
    print(json.dumps(result))
    return 0 if result["failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
