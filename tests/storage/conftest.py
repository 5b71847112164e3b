"""Fixtures of the adapter tests: a PostgreSQL schema or Redis prefix per test, and a
testing world over each store."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.storage.urls import open_storage
from adapters.testing.world import World
from tests.services import pg_schema, redis_prefix

__all__ = ["pg_schema", "redis_prefix", "world"]


@pytest.fixture(params=("memory", "sqlite", "postgresql"))
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """The testing kit's world (the real use cases) over each store in turn."""
    store: str = request.param
    if store == "postgresql":
        url = request.getfixturevalue("pg_schema").url
    elif store == "sqlite":
        url = str(tmp_path / "store.db")
    else:
        url = "memory:"
    with open_storage(url) as storage:
        yield World(
            uow_factory=storage.uow_factory,
            challenges=storage.challenges,
            replay_guard=storage.replay_guard,
        )
