"""Progress of long CLI work on a terminal: one line, rewritten in place, then cleared.

    progress = Progress(sys.stderr, enabled=not args.json and sys.stderr.isatty())
    progress.update("verifying", done, total)
    progress.done()

Written to stderr, so stdout stays the command's output. Quiet (a no-op) when disabled:
with `--json`, or when stderr is not a terminal (a pipe, a file, a CI log). At most one
redraw every `interval` seconds, however often `update` is called.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """A one-line progress report on a terminal (see the module's doc)."""

    def __init__(
        self,
        stream: TextIO,
        *,
        enabled: bool,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.enabled = enabled
        self.interval = interval
        self._clock = clock
        self._started = clock()
        self._last: float | None = None
        self._shown = False

    def update(
        self, what: str, done: int, total: int | None = None, *, force: bool = False
    ) -> None:
        """Show `what: done/total (pct) elapsed`; skipped if the last redraw is too recent."""
        if not self.enabled:
            return
        now = self._clock()
        if not force and self._last is not None and now - self._last < self.interval:
            return
        self._last = now
        if total:
            text = f"{what}: {done:,}/{total:,} ({100 * done // total}%)"
        else:
            text = f"{what}: {done:,}"
        self.stream.write(f"\r\x1b[K{text} {now - self._started:.1f}s")
        self.stream.flush()
        self._shown = True

    def done(self) -> None:
        """Clear the line (the command's own output follows)."""
        if self.enabled and self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False
