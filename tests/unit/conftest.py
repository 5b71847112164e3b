"""Fixtures for unit tests of the core: the testing kit's world and scene."""

from __future__ import annotations

import pytest

from adapters.testing.world import Scene, World

__all__ = ["Scene", "scene", "world"]


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def scene(world: World) -> Scene:
    return world.scene()
