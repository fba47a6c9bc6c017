"""Worker processes for the server's CPU-bound Python work that needs no model.

The server answers concurrent requests in threads of one process, and work that is mostly Python
(matplotlib's plots, librosa's analysis, drawing the captioning attention sheet) holds the
interpreter lock while it runs: two threads analysed recordings no faster than one, two
processes 1.5 to 2.3 times as fast (``bench/parallel.py``). :func:`run` sends a function to a
pool of ``MMC_WORKERS`` spawned processes, made on first use, with the server's settings of the
moment; with 0 workers it runs in the calling thread. Nothing that loads a model is sent there:
each worker would load its own copy (and open its own CUDA context).

The workers end with the server: :func:`stop` ends them at once, and a worker whose server is
gone without calling it (killed with SIGKILL, say, for its memory) ends itself within a second.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from multimodal_core import hub
from multimodal_core.settings import get_settings

T = TypeVar("T")

SERVER_CHECK_S = 0.5
"""How often a worker checks that its server is still there."""


class WorkerCrashError(RuntimeError):
    """A worker process died during a task (killed for its memory, say); the request that sent it
    fails, and the next one gets a new pool."""


class _Pool:
    """The server's pool of worker processes: made when first needed, made anew when
    ``MMC_WORKERS`` changes or a worker dies, ended by :meth:`stop`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self.size = 0

    def current(self) -> ProcessPoolExecutor | None:
        """The pool of the configured size."""
        size = get_settings().workers
        with self._lock:
            if self._executor is not None and self.size != size:
                self._executor.shutdown(wait=False)  # tasks already sent still finish
                self._executor = None
            if self._executor is None and size > 0:
                spawn = multiprocessing.get_context("spawn")  # never fork torch's threads
                self._executor = ProcessPoolExecutor(
                    size, spawn, initializer=_prepare, initargs=(os.getpid(),)
                )
                self.size = size
            return self._executor

    def discard(self, executor: ProcessPoolExecutor) -> None:
        """Forget a pool whose worker died; the next task gets a new one."""
        with self._lock:
            if self._executor is executor:
                self._executor = None
        executor.shutdown(wait=False, cancel_futures=True)

    def stop(self) -> None:
        """End every worker now, without waiting for the tasks they run, nor for a worker still
        starting up: its imports take seconds, and only then would it read a request to exit."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is None:
            return
        # The executor's own processes (Python 3.14 names this terminate_workers()); the pool
        # counts itself broken and shuts down without waiting on them.
        for process in list(executor._processes.values()):
            process.terminate()
        executor.shutdown(wait=True, cancel_futures=True)


class _ServerSettings:
    """In a worker process: the server's settings that it last took."""

    def __init__(self) -> None:
        self._environ: dict[str, str] | None = None

    def take(self, environ: dict[str, str]) -> None:
        """Run with the server's ``MMC_*`` settings of the moment (and its CPU threads per call).

        The settings are read from the process environment (``multimodal_core.settings``), and a
        task reads them there, so they are written into it. Only a worker does this: it is a
        process that this module spawned to run the server's tasks and nothing else, so no
        other code's environment changes.
        """
        if environ == self._environ:
            return
        for name in [name for name in os.environ if name.startswith("MMC_")]:
            del os.environ[name]
        os.environ.update(environ)
        get_settings.cache_clear()
        hub.limit_cpu_threads(get_settings().cpu_threads)
        self._environ = environ


_POOL = _Pool()
_SERVER_SETTINGS = _ServerSettings()


def run(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in a worker process, or here when there are no workers.

    ``function`` must be importable by name (a module-level function) and its arguments and
    result picklable; its exceptions reach the caller as they were raised.
    """
    pool = _POOL.current()
    if pool is None:
        return function(*args)
    try:
        return pool.submit(_call, get_settings().as_environ(), function, *args).result()
    except BrokenProcessPool as error:
        _POOL.discard(pool)
        raise WorkerCrashError("a worker process stopped during its task") from error


def start() -> None:
    """Start every worker now (the app does as it launches), so that no visitor waits for one."""
    pool = _POOL.current()
    if pool is None:
        return
    for _ in range(_POOL.size):
        pool.submit(int)  # while none is idle, each task sent makes the pool start a worker


def stop() -> None:
    """End every worker now (the app does as it stops): tasks still running are abandoned, since
    nobody is left to receive their results. A later :func:`run` makes a new pool."""
    _POOL.stop()


def _prepare(server_pid: int) -> None:
    """Run in each worker as it starts: end with the server, then compile librosa's numba code
    (about 15 s in a fresh environment) before the first recording waits for it.

    Ctrl-C in a terminal reaches every process of the server's group: the worker ignores it and
    leaves it to the server, which ends its workers itself, rather than die mid-task with a
    traceback of its own.
    """
    from multimodal_core import audio

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch = threading.Thread(target=_end_with_server, args=(server_pid,), daemon=True)
    watch.start()
    audio.warm_up().join()


def _end_with_server(server_pid: int) -> None:
    """In a worker: exit once the server is gone (the worker's parent is then another process),
    whatever the worker is running: nobody will receive its result."""
    while os.getppid() == server_pid:
        time.sleep(SERVER_CHECK_S)
    os._exit(0)


def _call(environ: dict[str, str], function: Callable[..., T], *args: Any) -> T:
    """In a worker: take the server's settings when they changed, then run the task."""
    _SERVER_SETTINGS.take(environ)
    return function(*args)
