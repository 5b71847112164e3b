"""What the transports serve: the inbound port of the HTTP layer.

A `Deployment` (`adapters.wiring.build`) is one as it is, and so is the testing kit's
`World.deployment`; an embedder may hand any object with these two attributes and
`may_wait` (answering True always is the safe answer: every request then runs in a
worker thread).
"""

from __future__ import annotations

from typing import Protocol

from adapters.observability.health import Readiness
from archive_core.declarations import Declaration, Endpoints, Handler
from archive_core.requests import Headers

__all__ = ["Served"]


class Served(Protocol):
    """The operations to serve, each with its handler, the store checks of `/readyz`,
    and which requests may wait on their stores."""

    @property
    def endpoints(self) -> Endpoints:
        """The declarations served, with their handlers."""
        ...

    @property
    def readiness(self) -> Readiness | None:
        """The checks behind `GET /readyz` (None: nothing to check, always ready)."""
        ...

    def may_wait(self, declaration: Declaration[Handler], headers: Headers) -> bool:
        """Whether answering a request for `declaration` with these headers may wait on
        a lock held across I/O, an fsync or the network (an event-loop transport then
        answers it in a worker thread, and on its loop otherwise)."""
        ...
