"""Randomness: the operating system's CSPRNG, and a seeded source for reproducible demos/tests."""

from __future__ import annotations

import os
import random
import threading

__all__ = ["SeededRandomness", "SystemRandomness"]


class SystemRandomness:
    """`os.urandom`: the only source to use in production."""

    def token_bytes(self, n: int) -> bytes:
        """`n` bytes from the operating system's CSPRNG (what `secrets.token_bytes`
        returns, without its two Python frames: four of these run per signed flow)."""
        return os.urandom(n)


class SeededRandomness:
    """Deterministic bytes from a seed. Predictable by design: tests and demos only."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)  # noqa: S311 - reproducibility is the point here
        self._lock = threading.Lock()

    def token_bytes(self, n: int) -> bytes:
        """`n` bytes determined by the seed and the calls before."""
        with self._lock:
            return self._random.randbytes(n)
