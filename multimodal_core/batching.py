"""Micro-batching in the shared core: requests that arrive together share one forward pass.

Gradio runs each request in its own worker thread. A :class:`MicroBatcher` lets those threads hand
their inputs (already decoded and checked by ``media.py``) to one call of a function on a list, so
a model runs once for several users, and each caller gets back its own result or its own
exception. This replaces Gradio's ``batch=True``, where one bad upload fails every request of its
batch: here a batch that raises is run again one item at a time, so only the guilty item fails.

How a batch forms: the first caller of a key leads. It waits up to ``max_wait_s`` for company,
then for the model (one forward pass per batcher at a time); callers that arrive meanwhile join
its batch, up to ``max_batch``. An idle model therefore costs a lone request at most
``max_wait_s``, and a busy one gathers the next batch while the current one runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from multimodal_core.settings import get_settings

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Batch:
    """Items of one key gathered by a leader; outcomes are (ok, result or exception) per item."""

    key: Hashable
    items: list[Any] = field(default_factory=list)
    outcomes: list[tuple[bool, Any]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class BatchCount:
    """How many batches a batcher ran and how many items they held, since it was made."""

    batches: int = 0
    items: int = 0

    def __add__(self, other: BatchCount) -> BatchCount:
        return BatchCount(self.batches + other.batches, self.items + other.items)

    def __sub__(self, earlier: BatchCount) -> BatchCount:
        return BatchCount(self.batches - earlier.batches, self.items - earlier.items)

    @property
    def mean_size(self) -> float | None:
        return self.items / self.batches if self.batches else None


_NAMED: dict[str, MicroBatcher] = {}


def counts() -> dict[str, BatchCount]:
    """Every named batcher's count, to see whether batches form under load (bench/load.py)."""
    return {name: batcher.count for name, batcher in _NAMED.items()}


class MicroBatcher(Generic[T, R]):
    """Calls ``fn(items, key)`` on batches of items that share a key (e.g. the beam size).

    ``fn`` must return one result per item, in order. ``max_batch`` and ``max_wait_s`` default to
    the settings ``MMC_BATCH_SIZE`` and ``MMC_BATCH_WAIT_MS``, read at each call. A batcher made
    with a ``name`` is listed by :func:`counts`.
    """

    def __init__(
        self,
        fn: Callable[[list[T], Any], list[R]],
        max_batch: int | None = None,
        max_wait_s: float | None = None,
        name: str | None = None,
    ) -> None:
        self.fn = fn
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a batch filled up
        self._run_lock = threading.Lock()  # one forward pass at a time: bounded (GPU) memory
        self._open: dict[Hashable, _Batch] = {}
        self.count = BatchCount()
        if name is not None:
            _NAMED[name] = self

    @property
    def max_batch(self) -> int:
        return self._max_batch if self._max_batch is not None else get_settings().batch_size

    @property
    def max_wait_s(self) -> float:
        if self._max_wait_s is not None:
            return self._max_wait_s
        return get_settings().batch_wait_ms / 1000.0

    def __call__(self, item: T, key: Hashable = None) -> R:
        """The result of ``fn`` for ``item`` (computed with whatever joined it), or its error."""
        with self._lock:
            batch = self._open.get(key)
            leader = batch is None
            if batch is None:
                batch = self._open[key] = _Batch(key)
            index = len(batch.items)
            batch.items.append(item)
            if len(batch.items) >= self.max_batch:
                self._close(batch)
        if leader:
            self._lead(batch)
        else:
            batch.done.wait()
        ok, value = batch.outcomes[index]
        if not ok:
            raise value
        return value

    def _close(self, batch: _Batch) -> None:
        """Stop ``batch`` taking items (caller holds the lock); later callers start a new one."""
        if self._open.get(batch.key) is batch:
            del self._open[batch.key]
            self._changed.notify_all()

    def _lead(self, batch: _Batch) -> None:
        deadline = time.monotonic() + self.max_wait_s
        with self._lock:
            while self._open.get(batch.key) is batch and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)
        try:
            with self._run_lock:  # callers keep joining while the previous batch runs
                with self._lock:
                    self._close(batch)
                    self.count += BatchCount(1, len(batch.items))
                batch.outcomes = self._run(batch.items, batch.key)
        finally:
            if len(batch.outcomes) != len(batch.items):  # interrupted: nobody waits forever
                error = RuntimeError("the batch was interrupted")
                batch.outcomes = [(False, error)] * len(batch.items)
            batch.done.set()

    def _run(self, items: list[T], key: Hashable) -> list[tuple[bool, Any]]:
        try:
            results = self.fn(items, key)
            if len(results) != len(items):
                raise RuntimeError(f"batch function gave {len(results)} results for {len(items)}")
            return [(True, result) for result in results]
        except Exception as error:
            if len(items) == 1:
                return [(False, error)]
            # One bad item must not fail the others: each runs alone and keeps its own error.
            return [self._run([item], key)[0] for item in items]
