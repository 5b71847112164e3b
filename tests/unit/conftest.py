"""Fixtures for unit tests of the core: a world with in-memory adapters and crypto fakes."""

from __future__ import annotations

import attrs
import pytest

from archive_core.entities import UserKind
from archive_core.ids import OrgId
from tests.world import ARCHIVE_OPS, Actor, World


@attrs.frozen
class Scene:
    """An org with an archiving admin, an employee and an end user."""

    world: World
    org: OrgId
    admin: Actor
    employee: Actor
    end_user: Actor


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def scene(world: World) -> Scene:
    org = world.new_org()
    return Scene(
        world=world,
        org=org,
        admin=world.actor(org, operations=ARCHIVE_OPS, username="admin@example.co"),
        employee=world.actor(org, username="employee@example.co"),
        end_user=world.actor(org, kind=UserKind.END_USER, username="end.user@example.co"),
    )
