"""The load bench, small: a few concurrent users against the real app, no failures allowed."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from multimodal_core.registry import FAMILIES

REPO = Path(__file__).resolve().parent.parent


def load_bench():
    """bench/load.py as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("load_bench", REPO / "bench" / "load.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_request_mix_interleaves_every_tab_or_only_those_asked_for() -> None:
    bench = load_bench()
    served = [f.api_name for f in FAMILIES if f.name != "status"]  # Status runs no model
    assert list(bench.ENDPOINTS) == served
    mix = bench.requests_mix()
    names = [request.api_name for request in mix]
    tabs = len(served)
    assert names[:tabs] == [f"/{name}" for name in served]  # a prefix mixes every tab
    assert {names.count(name) for name in set(names)} == {len(mix) // tabs}
    only = bench.requests_mix(("captioning", "sound"))
    assert {request.api_name for request in only} == {"/captioning", "/sound"}
    assert [r.api_name for r in only[:2]] == ["/captioning", "/sound"]


@pytest.mark.slow
def test_load_bench_serves_concurrent_users_without_failures() -> None:
    users, per_user = 3, -(-len(load_bench().ENDPOINTS) // 3)  # enough requests for every tab
    options = ["--users", str(users), "--requests", str(per_user), "--rounds", "2"]
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "load.py"), *options],
        capture_output=True,
        text=True,
        timeout=1200,  # minutes on a machine busy with other jobs
        cwd=REPO,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-2000:]
    result = json.loads(lines[-1])
    assert result["failures"] == 0, result["errors"]
    assert done.returncode == 0, done.stderr[-2000:]
    assert result["requests"] == users * per_user and result["users"] == users
    assert result["throughput_ratio"] > 0 and result["p95_ms"] >= result["p50_ms"] > 0
    assert len(result["endpoints"]) == len(load_bench().ENDPOINTS)  # every tab, built-in model
    # The echo app's ceiling was measured with the same uploads, and it runs no model.
    assert result["echo_throughput_ratio"] > 0
    assert (
        result["echo_sequential_server_cpu_ms_per_request"]
        < (result["sequential_server_cpu_ms_per_request"])
    )
    # The Sound, voice and localization requests did their model-free work in the workers.
    for way in ("sequential", "concurrent"):
        workers = result[f"{way}_worker_cpu_ms_per_request"]
        assert 0 < workers < result[f"{way}_server_cpu_ms_per_request"], way
    assert result["echo_concurrent_worker_cpu_ms_per_request"] < 1.0
    # The batched models were counted; one request at a time, every batch holds one item.
    batched = {"captioning", "vqa", "text_to_image"}
    assert set(result["sequential_mean_batch_size"]) == batched
    assert set(result["sequential_mean_batch_size"].values()) == {1.0}
    assert set(result["concurrent_mean_batch_size"]) == batched
    assert result["echo_concurrent_mean_batch_size"] == {}
