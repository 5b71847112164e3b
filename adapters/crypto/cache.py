"""A small bounded map for loaded keys and verified tokens.

Reads are the map's own `get` (atomic under the GIL, no lock, no bookkeeping), which
is what keeps a cached key within a few percent of a bare `cryptography` verify.
Writes take a lock and evict the oldest entry once the bound is reached
(first-in first-out: an entry that is still used is simply loaded again). The map is
an `OrderedDict`, whose oldest entry goes in constant time: taking a plain dict's
first key walks past every slot its earlier evictions left empty, so a write to a
full cache would slow down as it serves (docs/benchmarks.md §1 has the figures).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["BoundedCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """At most `max_entries` entries; the oldest goes first when full."""

    __slots__ = ("_entries", "_lock", "get", "max_entries")

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        #: The entry for a key, or None (the dict's own bound method: no extra call).
        self.get: Callable[[K], V | None] = self._entries.get

    def put(self, key: K, value: V) -> None:
        """Store an entry, evicting the oldest ones beyond the bound."""
        with self._lock:
            entries = self._entries
            entries.pop(key, None)
            entries[key] = value
            while len(entries) > self.max_entries:
                entries.popitem(last=False)

    def take(self, key: K) -> V | None:
        """Remove and return the entry for a key, or None."""
        with self._lock:
            return self._entries.pop(key, None)

    def discard(self, key: K) -> None:
        """Forget an entry if it is there."""
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
