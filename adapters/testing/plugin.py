"""The testing kit as pytest fixtures (registered as the `pytest11` entry point
`archive_core_testing`, so installing `archive-core[testing]` makes them available).

- `archive_policy`: the `Policy` of the world (override it in a `conftest.py`);
- `archive_world`: a fresh `adapters.testing.World` per test, with that policy;
- `archive_scene`: an org in that world with an admin who can archive, deactivate and
  activate users of either kind under the policy's matrix, an employee and an end user.

Pytest loads this module before coverage measurement starts: it imports the kit only
inside the fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from adapters.testing.world import Scene, World
    from archive_core.config import Policy

__all__ = ["archive_policy", "archive_scene", "archive_world"]

# The contract suites and the assertions report failures as pytest does in test modules.
pytest.register_assert_rewrite("adapters.testing.contracts", "adapters.testing.assertions")


@pytest.fixture
def archive_policy() -> Policy:
    """The policy `archive_world` is built with: the SPEC's defaults."""
    from archive_core.config import Policy

    return Policy()


@pytest.fixture
def archive_world(archive_policy: Policy) -> Iterator[World]:
    """A deployment in memory wired by `build`, a manual clock, seeded randomness."""
    from adapters.testing.world import World

    with World(policy=archive_policy) as world:
        yield world


@pytest.fixture
def archive_scene(archive_world: World) -> Scene:
    """An org with an admin (archive, deactivate, activate under the policy's matrix), an
    employee and an end user."""
    return archive_world.scene()
