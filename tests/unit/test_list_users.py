"""List Users (`LIST_USERS`, SPEC §1.5): keyset pages in id order, the kind filter, the
query's strictness, and the pagination token's binding."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from adapters.crypto.page_tokens import PAGE_TOKEN_PURPOSE, HmacPageTokens
from adapters.crypto.signing_keys import HS256, SigningKeyRing
from adapters.testing.world import Actor, World
from archive_core.entities import UserKind
from archive_core.errors import Catalogue
from archive_core.requests import Request
from archive_core.use_cases import LIST_USERS
from tests.unit.conftest import Scene
from tests.unit.helpers import refused


def page(world: World, actor: Actor, query: str = "") -> dict[str, Any]:
    return world.call(
        LIST_USERS, Request("GET", "/auth/users", world.headers(actor), b"", query=query)
    )


def walk(world: World, actor: Actor, query: str = "", limit: int = 2) -> list[str]:
    seen: list[str] = []
    token = None
    while True:
        parts = [f"limit={limit}", *([query] if query else [])]
        if token is not None:
            parts.append(f"paginationToken={token}")
        answer = page(world, actor, "&".join(parts))
        assert len(answer["items"]) <= limit
        seen += [item["userId"] for item in answer["items"]]
        token = answer.get("nextPageToken")
        if token is None:
            return seen


@pytest.fixture
def reader(scene: Scene) -> Actor:
    return scene.world.actor(
        scene.org, operations=("Auth:Users:Read",), username="reader@example.co"
    )


def test_pages_list_the_orgs_users_not_archived_in_id_order(scene: Scene, reader: Actor) -> None:
    world = scene.world
    extra = [world.actor(scene.org, kind=UserKind.END_USER) for _ in range(4)]
    world.archive_user(scene.admin, extra[0].id)
    world.deactivate_user(scene.admin, extra[1].id)
    world.actor(world.new_org())  # another org's
    expected = sorted(
        [
            scene.admin.id,
            scene.employee.id,
            scene.end_user.id,
            reader.id,
            *(a.id for a in extra[1:]),
        ]
    )
    assert walk(world, reader) == expected
    assert walk(world, reader, limit=200) == expected
    first = page(world, reader)
    assert "nextPageToken" not in first
    assert [item["userId"] for item in first["items"]] == expected
    deactivated = next(item for item in first["items"] if item["userId"] == extra[1].id)
    assert deactivated["isActive"] is False
    admin = next(item for item in first["items"] if item["userId"] == scene.admin.id)
    assert admin["permissionAssignments"] and admin["username"] == "admin@example.co"


@pytest.mark.parametrize(
    "query", ["kind=EndUser", "kind=EndUser,EndUser", "kind=EndUser&kind=EndUser"]
)
def test_a_kind_filter_lists_that_kind(scene: Scene, reader: Actor, query: str) -> None:
    world = scene.world
    more = [world.actor(scene.org, kind=UserKind.END_USER) for _ in range(3)]
    assert walk(world, reader, query, limit=1) == sorted([scene.end_user.id, *(a.id for a in more)])


def test_both_kinds_are_no_filter(scene: Scene, reader: Actor) -> None:
    world = scene.world
    everyone = walk(scene.world, reader)
    assert walk(world, reader, "kind=EndUser,CustomerEmployee") == everyone
    assert walk(world, reader, "kind=CustomerEmployee&kind=EndUser", limit=3) == everyone


def test_the_token_is_bound_to_org_and_kind_but_not_limit(scene: Scene, reader: Actor) -> None:
    world = scene.world
    first = page(world, reader, "limit=1")
    token = first["nextPageToken"]
    rest = page(world, reader, f"limit=200&paginationToken={token}")
    assert len(rest["items"]) == 3 and "nextPageToken" not in rest
    for query in (f"kind=EndUser&paginationToken={token}", f"paginationToken={token[:-2]}"):
        refused(
            Catalogue.PAGINATION_TOKEN_INVALID,
            functools.partial(page, world, reader, query),
        )
    stranger = world.actor(world.new_org(), operations=("Auth:Users:Read",))
    refused(
        Catalogue.PAGINATION_TOKEN_INVALID,
        functools.partial(page, world, stranger, f"paginationToken={token}"),
    )


@pytest.mark.parametrize(
    "token",
    ["x", "pt1page-token-1.e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "a" * 1024],
)
def test_a_forged_token_is_a_400(scene: Scene, reader: Actor, token: str) -> None:
    refused(
        Catalogue.PAGINATION_TOKEN_INVALID,
        functools.partial(page, scene.world, reader, f"paginationToken={token}"),
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("pagination_token=abc", "The query is invalid: unknown parameter pagination_token."),
        ("limit=0", "The query is invalid: limit must be an integer from 1 to 200."),
        ("limit=201", "The query is invalid: limit must be an integer from 1 to 200."),
        ("limit=1&limit=2", "The query is invalid: limit must be given once."),
        ("kind=Robot", "The query is invalid: kind must be one of CustomerEmployee, EndUser."),
        ("paginationToken=%FF", "The query is invalid: it is not UTF-8."),
    ],
)
def test_a_bad_query_is_a_400_naming_it(
    scene: Scene, reader: Actor, query: str, message: str
) -> None:
    refused(
        Catalogue.QUERY_INVALID,
        functools.partial(page, scene.world, reader, query),
        message=message,
    )


def test_listing_needs_auth_users_read(scene: Scene) -> None:
    world = scene.world
    refused(
        Catalogue.PERMISSION_DENIED,
        functools.partial(page, world, scene.employee, "pagination_token=x"),
        message=(
            f"CustomerEmployee {scene.employee.id} is not authorized to perform operation "
            "(Auth:Users:Read)"
        ),
    )


def _sealer(world: World) -> HmacPageTokens:
    ring = SigningKeyRing(
        world.deployment.storage.signing_keys, purpose=PAGE_TOKEN_PURPOSE, algorithm=HS256
    )
    return HmacPageTokens(ring, clock=world.clock)


@pytest.mark.parametrize(
    "data",
    [b"not json", b"[]", b'{"org": "x"}', b'{"org": "or-a-b", "kinds": [], "after": "us-A"}'],
)
def test_a_genuine_token_of_other_content_is_a_400(
    scene: Scene, reader: Actor, data: bytes
) -> None:
    token = _sealer(scene.world).seal(data)
    refused(
        Catalogue.PAGINATION_TOKEN_INVALID,
        functools.partial(page, scene.world, reader, f"paginationToken={token}"),
    )


def test_a_token_opens_at_another_instance_of_the_store_and_not_once_retired(
    scene: Scene, reader: Actor
) -> None:
    world = scene.world
    token = page(world, reader, "limit=1")["nextPageToken"]
    other = _sealer(world)  # another process: its own ring over the same store
    assert other.open(token) is not None
    assert other.open(token + "x") is None and other.open(token.replace(".", "..", 1)) is None
    (key,) = other.ring.loaded_keys()
    other.ring.retire(key.kid, at=world.clock.now())
    assert other.open(token) is None
