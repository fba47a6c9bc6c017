"""Worker processes for the server's CPU-bound Python work that needs no model.

The server answers concurrent requests in threads of one process, and work that is mostly Python
(matplotlib's plots, librosa's analysis, drawing the captioning attention sheet) holds the
interpreter lock while it runs: two threads analysed recordings no faster than one, two
processes 1.5 to 2.3 times as fast (``bench/parallel.py``). :func:`run` sends a function to a
pool of ``MMC_WORKERS`` spawned processes, made on first use, with the server's settings of the
moment; with 0 workers it runs in the calling thread. Nothing that loads a model is sent there:
each worker would load its own copy (and open its own CUDA context).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from multimodal_core import hub
from multimodal_core.settings import get_settings

T = TypeVar("T")

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_size = 0
_worker_environ: dict[str, str] | None = None  # in a worker: the settings it last took


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
        return pool.submit(_call, get_settings().as_environ(), function, *args).result()
    except BrokenProcessPool as error:
        _discard(pool)
        raise WorkerCrashError("a worker process stopped during its task") from error


def start() -> None:
    """Start every worker now (the app does as it launches), so that no visitor waits for one."""
    pool = _current_pool()
    if pool is None:
        return
    for _ in range(_pool_size):
        pool.submit(int)  # while none is idle, each task sent makes the pool start a worker


def _prepare() -> None:
    """Run in each worker as it starts: compile librosa's numba code (about 15 s in a fresh
    environment) before the first recording waits for it."""
    from multimodal_core import audio

    audio.warm_up().join()


def _call(environ: dict[str, str], function: Callable[..., T], *args: Any) -> T:
    """In a worker: take the server's settings (and its CPU threads per call) when they changed,
    then run the task."""
    global _worker_environ
    if environ != _worker_environ:
        for name in [name for name in os.environ if name.startswith("MMC_")]:
            del os.environ[name]
        os.environ.update(environ)
        get_settings.cache_clear()
        hub.limit_cpu_threads(get_settings().cpu_threads)
        _worker_environ = environ
    return function(*args)


def _current_pool() -> ProcessPoolExecutor | None:
    """The pool of the configured size, made when first needed."""
    global _pool, _pool_size
    size = get_settings().workers
    with _lock:
        if _pool is not None and _pool_size != size:
            _pool.shutdown(wait=False)  # tasks already sent still finish
            _pool = None
        if _pool is None and size > 0:
            spawn = multiprocessing.get_context("spawn")  # never fork torch's threads
            _pool = ProcessPoolExecutor(size, spawn, initializer=_prepare)
            _pool_size = size
        return _pool


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)
