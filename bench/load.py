"""Throughput under load: ``python bench/load.py [--users 8] [--requests 25] [--json]``.

Starts the app in this process on 127.0.0.1 (the first free port from 7860) and sends the same
requests twice through ``gradio_client``, as a person's browser would (upload, queue, result;
result pictures are not downloaded: a browser fetches them apart, outside the queue): one at a
time from one client, then from ``--users`` clients at once, each sending ``--requests`` in a row.
The requests cycle through the tabs' built-in models with the files in ``examples/`` and the
text-to-image tab's example prompts (four pictures each): word vectors, search (its example
queries and scenes), captioning, VQA, text to image, sound
localization, separation (a click on each source of the example mixtures), voice to face and
sound analysis. Reports requests per second both ways,
their ratio (``throughput_ratio``: concurrent / one at a time), latency percentiles under load,
the CPU time per request of the server (its worker processes included) and of the clients,
the items per forward pass of the batched models (``*_mean_batch_size``: do batches form?),
and failures (any exception; must be 0).

gradio_client checks for each answer every 50 ms, which a browser does not: each latency
includes up to 50 ms of waiting, which lowers the one-at-a-time rate more than the concurrent
one (bench/README.md, "The client's 50 ms polling").

The same requests are then sent both ways to an echo app that uploads the same files through the
same queue but runs no model (``echo_throughput_ratio``): the most that Gradio, its client and
this machine allow, so that the app's own ratio can be read against it.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import logging
import multiprocessing
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import gradio as gr
from gradio_client import Client, handle_file

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import app
from multimodal_core import batching, workers
from multimodal_core.registry import FAMILIES
from multimodal_core.settings import get_settings
from multimodal_core.tasks import matching, text_to_image, words
from multimodal_core.ui.common import MODEL_QUEUE

EXAMPLES = REPO / "examples"


@dataclass(frozen=True)
class Request:
    """One API call: the endpoint and its arguments, files as paths (uploaded at each call)."""

    api_name: str
    args: tuple[Any, ...]

    def payload(self) -> tuple[Any, ...]:
        return tuple(handle_file(a) if isinstance(a, Path) else a for a in self.args)


def _arguments() -> dict[str, list[tuple[Any, ...]]]:
    """Per family that runs a model: the arguments of its requests (files as paths)."""
    scenes = sorted(EXAMPLES.glob("scene_*.png"))
    voices = sorted(EXAMPLES.glob("voice_*.wav"))
    pairs = [(p, p.with_suffix(".wav")) for p in sorted(EXAMPLES.glob("localization_*.png"))]
    mixtures = json.loads((EXAMPLES / "separation" / "examples.json").read_text())
    clicks = [
        (EXAMPLES / "separation" / m["image"], EXAMPLES / "separation" / m["audio"], *s["point"])
        for m in mixtures
        for s in m["sources"]
    ]
    questions = ["how many pianos are there", "what is on the left", "is there a dog"]
    prompts = text_to_image.EXAMPLE_PROMPTS
    return {
        "words": [(query, "", "builtin") for query in words.EXAMPLES],
        "matching": [("words", q, None, "", "", "builtin") for q in matching.EXAMPLE_QUERIES]
        + [("picture", "", p, "", "", "builtin") for p in scenes],
        "captioning": [(p, 5, "builtin") for p in scenes],
        "vqa": [(p, q, "builtin") for p, q in zip(scenes, itertools.cycle(questions))],
        "text_to_image": [(t, 4, seed, "builtin") for seed, t in enumerate(prompts)],
        "localization": [(p, a, "builtin") for p, a in pairs],
        "separation": [(p, a, x, y, "builtin") for p, a, x, y in clicks],
        "voice_to_face": [(v, "builtin", 0) for v in voices],
        "sound": [(v,) for v in voices],
    }


ENDPOINTS = tuple(f.api_name for f in FAMILIES if f.name in _arguments())
"""Every tab that runs a model (the Status tab runs none), in the app's order, by endpoint."""


def requests_mix(endpoints: tuple[str, ...] = ENDPOINTS) -> list[Request]:
    """One request per (tab, example) pair, tabs interleaved, so any prefix mixes the tabs;
    only the tabs of ``endpoints`` (endpoint names, like ``separate``)."""
    arguments = _arguments()
    family_of = {f.api_name: f.name for f in FAMILIES}
    asked = list(dict.fromkeys(endpoints))
    if missing := [name for name in asked if not arguments[family_of[name]]]:
        raise SystemExit(f"examples are missing in {EXAMPLES} for: {', '.join(missing)}")
    per_tab = [[Request(f"/{name}", args) for args in arguments[family_of[name]]] for name in asked]
    tabs = [itertools.cycle(requests) for requests in per_tab]
    return [next(tab) for _ in range(max(map(len, per_tab))) for tab in tabs]


@dataclass
class Run:
    """Wall seconds of a run, each request's latency (s), the errors, and the CPU seconds the
    clients and the server used meanwhile (unlike wall time, hardly changed by other jobs); the
    server's include its worker processes', also given apart. ``batches``: what each batched
    model ran meanwhile (``multimodal_core.batching.counts``)."""

    seconds: float
    latencies: list[float]
    errors: list[str]
    client_cpu_seconds: float = 0.0
    server_cpu_seconds: float = 0.0
    worker_cpu_seconds: float = 0.0
    batches: dict[str, batching.BatchCount] = field(default_factory=dict)

    def __add__(self, other: Run) -> Run:
        names = self.batches.keys() | other.batches.keys()
        none = batching.BatchCount()
        return Run(
            self.seconds + other.seconds,
            self.latencies + other.latencies,
            self.errors + other.errors,
            self.client_cpu_seconds + other.client_cpu_seconds,
            self.server_cpu_seconds + other.server_cpu_seconds,
            self.worker_cpu_seconds + other.worker_cpu_seconds,
            {n: self.batches.get(n, none) + other.batches.get(n, none) for n in sorted(names)},
        )

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    def cpu_ms_per_request(self, seconds: float) -> float:
        return round(1000 * seconds / len(self.latencies), 1)


def send(client: Client, requests: list[Request]) -> tuple[list[float], list[str]]:
    """Send ``requests`` one after another; latencies and errors in order."""
    latencies, errors = [], []
    for request in requests:
        start = time.perf_counter()
        try:
            client.predict(*request.payload(), api_name=request.api_name)
        except Exception as error:  # a failure of the app, counted, never hidden
            errors.append(f"{request.api_name}: {type(error).__name__}: {error}")
        latencies.append(time.perf_counter() - start)
    return latencies, errors


@functools.cache
def connect(url: str, users: int) -> list[Client]:
    """``users`` clients, made once per process: each fetches the app's config, which is slow.

    The app is served over plain HTTP on 127.0.0.1, so no certificate is ever checked; without
    ``ssl_verify=False`` the client would still load the system's CA bundle for each of the
    several HTTP clients it makes per request (about 140 ms of CPU a request on the 2-core
    machine, taken from the server's cores), which a browser does once.
    """
    options = {
        "verbose": False,
        "download_files": False,
        "ssl_verify": False,
        "httpx_kwargs": {"timeout": 60},
    }
    return [Client(url, **options) for _ in range(users)]


def run_users(url: str, per_user: list[list[Request]]) -> Run:
    """Each user a client of its own, in a thread, all released at the same moment.

    Runs in a child process (see :func:`measure`). Clients wait up to a minute for an answer, as
    a browser would, not httpx's default 5 s.
    """
    clients = connect(url, len(per_user))
    ready = threading.Barrier(len(per_user) + 1)

    def user(index: int) -> tuple[list[float], list[str]]:
        ready.wait()
        return send(clients[index], per_user[index])

    with ThreadPoolExecutor(len(per_user)) as pool:
        futures = [pool.submit(user, i) for i in range(len(per_user))]
        ready.wait()
        start, cpu = time.perf_counter(), time.process_time()
        outcomes = [f.result() for f in futures]
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    latencies = [x for lat, _ in outcomes for x in lat]
    return Run(seconds, latencies, [e for _, errs in outcomes for e in errs], cpu)


def percentile_ms(values: list[float], q: int) -> float:
    return round(1000 * statistics.quantiles(values, n=100, method="inclusive")[q - 1], 1)


def median_ms_by_endpoint(requests: list[Request], latencies: list[float]) -> dict[str, float]:
    by_name: dict[str, list[float]] = {}
    for request, latency in zip(requests, latencies, strict=True):
        by_name.setdefault(request.api_name, []).append(latency)
    return {name: round(1000 * statistics.median(v), 1) for name, v in sorted(by_name.items())}


def children_cpu_seconds(exclude: set[int]) -> float:
    """CPU seconds used so far by this process's live child processes (the app's worker
    processes), read from Linux's /proc; 0 elsewhere."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for listing in Path("/proc/self/task").glob("*/children"):
        for pid in map(int, listing.read_text().split()):
            if pid in exclude:
                continue
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # ended meanwhile
                continue
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def echo_app() -> gr.Blocks:
    """An app that takes the same uploads through the same kind of queue and runs nothing: up
    to two files in, their sizes out. Its uploads leave Gradio's cache as the app's do."""

    def sizes(first: str | None, second: str | None) -> str:
        return " ".join(str(os.path.getsize(path)) for path in (first, second) if path)

    with gr.Blocks(delete_cache=app.cache_lifetime(get_settings())) as demo:
        files = [gr.File(type="filepath"), gr.File(type="filepath")]
        result = gr.Textbox()
        gr.Button().click(sizes, files, result, api_name="echo", concurrency_id=MODEL_QUEUE)
    demo.queue(default_concurrency_limit=get_settings().concurrency)
    return demo


def as_echo(request: Request) -> Request:
    """The echo app's request that uploads what ``request`` uploads."""
    paths = [a for a in request.args if isinstance(a, Path)] + [None, None]
    return Request("/echo", (paths[0], paths[1]))


def serve(build: Callable[[], gr.Blocks], attempts: int = 3) -> tuple[gr.Blocks, str]:
    """An app on 127.0.0.1 and its URL. Tried again when launching fails: Gradio gives up when
    its own page takes over 3 s to answer, which a machine busy with other jobs can exceed."""
    for _ in range(attempts):
        demo = build()
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


def settle(exclude: set[int], quiet_seconds: float = 1.0, limit_seconds: float = 120.0) -> None:
    """Wait until the server's worker processes are idle. Each compiles librosa's code as it
    starts (seconds of CPU), which would otherwise be counted against the first timed requests."""
    deadline = time.monotonic() + limit_seconds
    used = children_cpu_seconds(exclude)
    while time.monotonic() < deadline:
        time.sleep(quiet_seconds)
        now = children_cpu_seconds(exclude)
        if now - used < 0.02 * quiet_seconds:
            return
        used = now


def both_ways(build: Callable[[], gr.Blocks], shares: list[list[list[Request]]]) -> tuple[Run, Run]:
    """Start an app, warm every endpoint, then time the same requests both ways.

    In each share (a round) every user's requests are sent one at a time, then concurrently, so
    that other load on the machine hits both ways alike. The clients run in a child process: in
    the server's process their Python work would compete for its interpreter lock, which a
    person's browser never does.
    """
    sequential = concurrent = Run(0.0, [], [])
    demo, url = serve(build)
    try:
        before = {process.pid for process in multiprocessing.active_children()}
        with multiprocessing.get_context("spawn").Pool(1) as clients:
            client_pids = {process.pid for process in multiprocessing.active_children()} - before

            def timed(requests: list[list[Request]]) -> Run:
                server, in_workers = time.process_time(), children_cpu_seconds(client_pids)
                counted = batching.counts()
                run = clients.apply(run_users, (url, requests))
                in_workers = children_cpu_seconds(client_pids) - in_workers
                server = time.process_time() - server + in_workers
                batches = {
                    name: n - counted.get(name, batching.BatchCount())
                    for name, n in batching.counts().items()
                }
                return replace(
                    run, server_cpu_seconds=server, worker_cpu_seconds=in_workers, batches=batches
                )

            workers.start()  # as app.main does
            every = [r for share in shares for user in share for r in user]
            warm = timed([list({r.api_name: r for r in every}.values())])  # loads every model
            if warm.errors:
                raise SystemExit("warm-up failed: " + "; ".join(warm.errors[:3]))
            settle(exclude=client_pids)
            for share in shares:
                sequential += timed([[r for user in share for r in user]])
                concurrent += timed(share)
    finally:
        demo.close()
    return sequential, concurrent


def measure(
    users: int, per_user: int, rounds: int, endpoints: tuple[str, ...] = ENDPOINTS
) -> dict[str, Any]:
    """The app's figures both ways, then the echo app's with the same uploads."""
    mix = requests_mix(endpoints)
    schedule = [[mix[(u * per_user + i) % len(mix)] for i in range(per_user)] for u in range(users)]
    shares = [[user[r::rounds] for user in schedule] for r in range(rounds)]
    flat = [r for share in shares for user in share for r in user]  # in the order sent
    sequential, concurrent = both_ways(app.build_app, shares)
    echo_shares = [[[as_echo(r) for r in user] for user in share] for share in shares]
    echo_sequential, echo_concurrent = both_ways(echo_app, echo_shares)
    errors = sequential.errors + concurrent.errors + echo_sequential.errors + echo_concurrent.errors
    return {
        "users": users,
        "requests_per_user": per_user,
        "requests": users * per_user,
        "rounds": rounds,
        "throughput_ratio": round(concurrent.rps / sequential.rps, 2),
        "p50_ms": percentile_ms(concurrent.latencies, 50),
        "p95_ms": percentile_ms(concurrent.latencies, 95),
        **figures("sequential", sequential),
        **figures("concurrent", concurrent),
        "sequential_p50_ms_by_endpoint": median_ms_by_endpoint(flat, sequential.latencies),
        "echo_throughput_ratio": round(echo_concurrent.rps / echo_sequential.rps, 2),
        **figures("echo_sequential", echo_sequential),
        **figures("echo_concurrent", echo_concurrent),
        "failures": len(errors),
        "errors": errors[:5],
        "endpoints": sorted({r.api_name for r in flat}),
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),  # other jobs slow both runs
    }


def figures(way: str, run: Run) -> dict[str, Any]:
    return {
        f"{way}_rps": round(run.rps, 2),
        f"{way}_p50_ms": percentile_ms(run.latencies, 50),
        f"{way}_p95_ms": percentile_ms(run.latencies, 95),
        f"{way}_server_cpu_ms_per_request": run.cpu_ms_per_request(run.server_cpu_seconds),
        f"{way}_worker_cpu_ms_per_request": run.cpu_ms_per_request(run.worker_cpu_seconds),
        f"{way}_client_cpu_ms_per_request": run.cpu_ms_per_request(run.client_cpu_seconds),
        f"{way}_mean_batch_size": {
            name: round(count.mean_size, 2)
            for name, count in run.batches.items()
            if count.mean_size is not None
        },
    }


def print_table(result: dict[str, Any]) -> None:
    users = result["users"]
    print(
        f"{result['requests']} requests over {', '.join(result['endpoints'])}; "
        f"{result['cpu_count']} cores, load average {result['load_average_1min']}"
    )
    header = ("req/s", "p50 ms", "p95 ms", "CPU ms/request: server", "its workers", "clients")
    widths = (8, 9, 9, 24, 13, 9)
    print(f"{'':<24}" + "".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
    for way, label in (
        ("sequential", "app, one at a time"),
        ("concurrent", f"app, {users} users"),
        ("echo_sequential", "echo, one at a time"),
        ("echo_concurrent", f"echo, {users} users"),
    ):
        print(
            f"{label:<24}{result[f'{way}_rps']:>8.2f}{result[f'{way}_p50_ms']:>9.0f}"
            f"{result[f'{way}_p95_ms']:>9.0f}{result[f'{way}_server_cpu_ms_per_request']:>24.1f}"
            f"{result[f'{way}_worker_cpu_ms_per_request']:>13.1f}"
            f"{result[f'{way}_client_cpu_ms_per_request']:>9.1f}"
        )
    alone, together = result["sequential_mean_batch_size"], result["concurrent_mean_batch_size"]
    sizes = [f"{name} {alone.get(name, 0):.2f} / {size:.2f}" for name, size in together.items()]
    print(
        f"items per forward pass (one at a time / {users} users): "
        + (", ".join(sizes) or "no batched model was asked")
    )
    print(
        f"throughput ratio {result['throughput_ratio']:.2f}x "
        f"(the echo app, which runs no model: {result['echo_throughput_ratio']:.2f}x), "
        f"failures {result['failures']}"
    )
    for error in result["errors"]:
        print(f"  {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--requests", type=int, default=25, help="requests per user (default 25)")
    parser.add_argument("--rounds", type=int, default=5, help="alternations of the two ways")
    parser.add_argument(
        "--endpoints",
        nargs="+",
        choices=ENDPOINTS,
        default=ENDPOINTS,
        help="the tabs to ask (default all), e.g. only caption to see its batches form",
    )
    parser.add_argument("--json", action="store_true", help="the JSON line is always last")
    args = parser.parse_args(argv)
    if args.users < 1 or not 1 <= args.rounds <= args.requests:
        parser.error("--users must be >= 1, and --rounds between 1 and --requests")
    logging.basicConfig(level=logging.WARNING)
    result = measure(args.users, args.requests, args.rounds, tuple(args.endpoints))
    print_table(result)
    print(json.dumps(result))
    return 0 if result["failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
