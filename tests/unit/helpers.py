"""Assertions shared by the unit tests: the testing kit's."""

from __future__ import annotations

from adapters.testing.assertions import refused, snapshot

__all__ = ["refused", "snapshot"]
