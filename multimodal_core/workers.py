"""Worker processes for the server's CPU-bound Python work that needs no model.

The server answers concurrent requests in threads of one process, and work that is mostly Python
(matplotlib's plots, librosa's analysis) holds the interpreter lock while it runs: two threads
analysed recordings no faster than one, two processes 1.5 to 2.3 times as fast
(``bench/parallel.py``). :func:`run` sends a function to a pool of ``MMC_WORKERS`` spawned
processes, made on first use and again when the settings change; with 0 workers it runs in the
calling thread. Nothing that loads a model is sent there: each worker would load its own copy
(and open its own CUDA context).
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from multimodal_core.settings import Settings, get_settings

T = TypeVar("T")

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_settings: Settings | None = None


class WorkerCrashError(RuntimeError):
    """A worker process died during a task (killed for its memory, say); the request that sent it
    fails, and the next one gets a new pool."""


def run(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in a worker process, or here when there are no workers.

    ``function`` must be importable by name (a module-level function) and its arguments and
    result picklable; its exceptions reach the caller as they were raised.
    """
    pool = _current_pool()
    if pool is None:
        return function(*args)
    try:
        return pool.submit(function, *args).result()
    except BrokenProcessPool as error:
        _discard(pool)
        raise WorkerCrashError("a worker process stopped during its task") from error


def start() -> None:
    """Start every worker now (the app does as it launches), so that no visitor waits for one."""
    pool = _current_pool()
    for _ in range(get_settings().workers if pool else 0):
        pool.submit(int)  # while none is idle, each task sent makes the pool start a worker


def _prepare() -> None:
    """Run in each worker as it starts: compile librosa's numba code (about 15 s in a fresh
    environment) before the first recording waits for it."""
    from multimodal_core import audio

    audio.warm_up().join()


def _current_pool() -> ProcessPoolExecutor | None:
    """The pool for the current settings; workers start with the environment of this moment,
    which is where their settings come from."""
    global _pool, _pool_settings
    settings = get_settings()
    with _lock:
        if _pool is not None and _pool_settings is not settings:
            _pool.shutdown(wait=False)  # tasks already sent still finish
            _pool = None
        if _pool is None and settings.workers > 0:
            spawn = multiprocessing.get_context("spawn")  # never fork torch's threads
            _pool = ProcessPoolExecutor(settings.workers, spawn, initializer=_prepare)
            _pool_settings = settings
        return _pool


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)
