"""Two models of one task on the same input, side by side, with the time each took.

The built-in models are the lecture's architectures trained on the synthetic world; the
pretrained ones are what the field uses on photos. Seeing both answer the same picture is the
clearest way to see what each has learned, so every tab that has both kinds offers it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from multimodal_core.choices import ModelChoices
from multimodal_core.errors import InputError, ModelUnavailableError

T = TypeVar("T")


@dataclass(frozen=True)
class TimedRun(Generic[T]):
    """One model's answer (or the sentence saying why it has none) and how long it took."""

    key: str
    label: str
    seconds: float
    result: T | None
    error: str = ""


def side_by_side(
    run: Callable[[str], T], choices: ModelChoices, first: str, second: str
) -> list[TimedRun[T]]:
    """``run(key)`` for ``first`` and then ``second``, timed (a first call includes loading).

    A bad input fails for both, so the first model's InputError is raised as it is; the second
    model's failure to load or to read the input becomes its column's sentence, leaving the first
    model's answer on screen.
    """
    runs = []
    for key in (first, second):
        label = choices.get(key).label
        start = time.perf_counter()
        try:
            result, error = run(key), ""
        except (InputError, ModelUnavailableError) as failure:
            if key == first:
                raise
            result, error = None, str(failure)
        runs.append(TimedRun(key, label, time.perf_counter() - start, result, error))
    return runs
