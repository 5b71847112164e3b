"""GetUser (`GET /auth/users/{userId}`): the read permission, the caller's org, the id's
syntax, and a reading unit of work where the store offers one."""

from __future__ import annotations

from typing import Any

from adapters.storage.memory import MemoryStore, MemoryUnitOfWork
from adapters.testing.world import ARCHIVE_OPS, Scene, World
from archive_core.errors import Catalogue
from archive_core.ports import ReadingUnitOfWorkFactory
from archive_core.requests import Headers, Request
from archive_core.use_cases import GET_USER
from tests.unit.helpers import refused


def _get(world: World, actor: Any, user_id: str) -> dict[str, Any]:
    return world.call(
        GET_USER, Request("GET", f"/auth/users/{user_id}", world.headers(actor)), user_id
    )


def test_get_user_needs_read(scene: Scene) -> None:
    world = scene.world
    refused(
        Catalogue.PERMISSION_DENIED,
        lambda: _get(world, scene.admin, scene.end_user.id),
        message=f"CustomerEmployee {scene.admin.id} is not authorized to perform operation (Auth:Users:Read)",
    )
    reader = world.actor(scene.org, operations=["Auth:Users:Read"])
    answer = _get(world, reader, scene.end_user.id)
    assert answer["userId"] == scene.end_user.id
    assert answer["isActive"] is True


def test_get_user_scoping_and_syntax(scene: Scene) -> None:
    world = scene.world
    reader = world.actor(scene.org, operations=["Auth:Users:Read"])
    stranger = world.actor(world.new_org())
    refused(Catalogue.USER_ID_MALFORMED, lambda: _get(world, reader, "us-NOPE"))
    refused(Catalogue.TARGET_NOT_FOUND, lambda: _get(world, reader, stranger.id))
    world.archive_user(scene.admin, scene.end_user.id)
    refused(Catalogue.TARGET_NOT_FOUND, lambda: _get(world, reader, scene.end_user.id))
    refused(
        Catalogue.NOT_AUTHORIZED,
        lambda: world.call(GET_USER, Request("GET", "/", Headers()), stranger.id),
    )


def test_get_user_reads_through_a_reading_unit_when_the_factory_offers_one() -> None:
    class Reading(MemoryStore):
        """A memory store that counts the reading units it starts."""

        readers = 0

        def reading(self) -> MemoryUnitOfWork:
            self.readers += 1
            return MemoryUnitOfWork(self)

    store = Reading()
    assert isinstance(store, ReadingUnitOfWorkFactory)
    assert not isinstance(MemoryStore(), ReadingUnitOfWorkFactory)
    world = World(uow_factory=store)
    org = world.new_org()
    reader = world.actor(org, operations=(*ARCHIVE_OPS, "Auth:Users:Read"))
    target = world.actor(org)
    answer = world.call(
        GET_USER, Request("GET", f"/auth/users/{target.id}", world.headers(reader)), target.id
    )
    assert answer["userId"] == target.id
    assert store.readers == 1
