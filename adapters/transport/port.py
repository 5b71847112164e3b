"""What the transports serve: the inbound port of the HTTP layer.

A `Deployment` (`adapters.wiring.build`) is one as it is, and so is the testing kit's
`World.deployment`; an embedder may hand any object with these two attributes.
"""

from __future__ import annotations

from typing import Protocol

from adapters.observability.health import Readiness
from archive_core.declarations import Endpoints

__all__ = ["Served"]


class Served(Protocol):
    """The operations to serve, each with its handler, and the store checks of `/readyz`."""

    @property
    def endpoints(self) -> Endpoints:
        """The declarations served, with their handlers."""
        ...

    @property
    def readiness(self) -> Readiness | None:
        """The checks behind `GET /readyz` (None: nothing to check, always ready)."""
        ...
