"""What the serving layer knows about the request being handled, for logs and metrics.

`ObservedApplication` (the transport) opens a `RequestContext` per request (its id and
start time); the HTTP handler notes there the decision's outcome (a success's outcome,
or a refusal's reason or code) and which store failed when a request is answered 503;
log records and metrics read it. It lives here, below the transport, because both the
transport and the log formats read it. The context travels into the worker thread that runs the
use case (`AsgiApplication` copies the context into it), so a record logged there
carries the request's id.
"""

from __future__ import annotations

import contextvars
import time
from typing import Final

import attrs

__all__ = ["CURRENT", "KNOWN_STORES", "RequestContext", "note_outcome", "note_store_error"]

#: store names a `StorageUnavailable` message starts with (`"redis: ConnectionError"`)
KNOWN_STORES: Final = frozenset({"sqlite", "postgresql", "redis", "memory"})


@attrs.define
class RequestContext:
    """One request: its id, when it started, the outcome of its decision, and the store
    that failed it, if one did."""

    request_id: str
    started: float = attrs.field(factory=time.perf_counter)
    store_error: str | None = None
    outcome: str | None = None

    def elapsed(self) -> float:
        """Seconds since the request started."""
        return time.perf_counter() - self.started


CURRENT: Final[contextvars.ContextVar[RequestContext | None]] = contextvars.ContextVar(
    "archive_core_request", default=None
)


def note_store_error(message: str) -> None:
    """Record, for the current request, the store a `StorageUnavailable` message names."""
    context = CURRENT.get()
    if context is not None:
        name = message.split(":", 1)[0].strip()
        context.store_error = name if name in KNOWN_STORES else "unknown"


def note_outcome(outcome: str) -> None:
    """Record, for the current request, the outcome of its decision (a metric label)."""
    context = CURRENT.get()
    if context is not None:
        context.outcome = outcome
