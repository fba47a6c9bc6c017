"""Random generators derived from a seed and a named stream, identical on every machine.

Each consumer of a seed (the scene layout, its captions, its questions, a sound) draws from
its own stream, so adding a draw to one never changes the others' output.
"""

from __future__ import annotations

import zlib

import numpy as np


def rng_for(seed: int, stream: str) -> np.random.Generator:
    """A PCG64 generator for ``seed`` in the stream called ``stream``.

    The stream name is hashed with CRC-32 (stable across processes, unlike ``hash``).
    """
    if seed < 0:
        raise ValueError(f"seeds are non-negative integers, got {seed}")
    return np.random.default_rng([int(seed), zlib.crc32(stream.encode("utf-8"))])
