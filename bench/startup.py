"""Start-up time of ``python app.py``: from process start to the first 200 from the page.

Usage: ``python bench/startup.py [--runs 3] [--json]``. Prints a table and, as its last line,
one JSON object with ``startup_s`` (median) and every run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def time_one_start(timeout: float = 120.0) -> float:
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "app.py"], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while time.perf_counter() - start < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"no answer within {timeout} s")
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs = [time_one_start() for _ in range(args.runs)]
    print(f"{'run':>4} {'seconds to first 200':>22}")
    for index, seconds in enumerate(runs, 1):
        print(f"{index:>4} {seconds:>22.2f}")
    result = {"startup_s": round(statistics.median(runs), 2), "runs": [round(s, 2) for s in runs]}
    print(f"median {result['startup_s']:.2f} s")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
