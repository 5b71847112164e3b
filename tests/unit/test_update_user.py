"""Update User (`UPDATE_USER`, SPEC §1.5): the body, the rules, the no-op, the audit
record and the permissions of each preset."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from adapters.testing.world import Actor, World
from archive_core.config import Policy
from archive_core.entities import UserKind
from archive_core.errors import Catalogue
from archive_core.use_cases import UPDATE_USER
from tests.unit.conftest import Scene
from tests.unit.helpers import refused, snapshot


def update(world: World, actor: Actor, target_id: str, body: bytes) -> dict[str, Any]:
    path = f"/auth/users/{target_id}"
    return world.call(UPDATE_USER, world.signed_request(actor, "PUT", path, body))


def test_update_stores_is_sso_required_and_answers_it(scene: Scene) -> None:
    world = scene.world
    answer = update(world, scene.admin, scene.end_user.id, b'{"isSSORequired": true}')
    assert (answer["userId"], answer["isSSORequired"]) == (scene.end_user.id, True)
    stored = world.fresh_user(scene.end_user.user)
    assert stored.is_sso_required and stored.version == scene.end_user.user.version + 1
    (record,) = world.audit_records(scene.org)
    assert record.action == f"PUT /auth/users/{scene.end_user.id}"
    assert record.permissions_required == ("Auth:Users:Update", "Auth:Types:EndUser")
    back = update(world, scene.admin, scene.end_user.id, b'{"isSSORequired":false}')
    assert back["isSSORequired"] is False
    assert len(world.audit_records(scene.org)) == 2


def test_the_same_value_changes_nothing_and_writes_no_record(scene: Scene) -> None:
    world = scene.world
    before = world.fresh_user(scene.employee.user)
    answer = update(world, scene.admin, scene.employee.id, b'{"isSSORequired": false}')
    assert answer["isSSORequired"] is False
    assert world.fresh_user(scene.employee.user) == before
    assert world.audit_records(scene.org) == []


def test_a_user_may_update_itself(scene: Scene) -> None:
    answer = update(scene.world, scene.admin, scene.admin.id, b'{"isSSORequired": true}')
    assert answer["isSSORequired"] is True


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "The request body is invalid: a JSON object is required."),
        (b"{}", "The request body is invalid: isSSORequired is required."),
        (
            b'{"isSSORequired": "true"}',
            "The request body is invalid: isSSORequired must be a boolean.",
        ),
        (
            b'{"isSSORequired": true, "kind": "EndUser"}',
            "The request body is invalid: unknown field kind.",
        ),
    ],
)
def test_a_body_other_than_is_sso_required_is_a_400_naming_it(
    scene: Scene, body: bytes, message: str
) -> None:
    world = scene.world
    request = world.signed_request(scene.admin, "PUT", f"/auth/users/{scene.employee.id}", body)
    kept = snapshot(world)
    refused(Catalogue.BODY_INVALID, lambda: world.call(UPDATE_USER, request), message=message)
    assert snapshot(world) == kept


def test_a_service_account_is_refused(scene: Scene) -> None:
    world = scene.world
    robot = world.actor(scene.org, service_account=True)
    refused(
        Catalogue.SERVICE_ACCOUNT_UPDATE,
        lambda: update(world, scene.admin, robot.id, b'{"isSSORequired": true}'),
    )


def test_archived_and_foreign_users_are_not_found(scene: Scene) -> None:
    world = scene.world
    world.archive_user(scene.admin, scene.end_user.id)
    stranger = world.actor(world.new_org())
    for target in (scene.end_user.id, stranger.id):
        request = world.signed_request(
            scene.admin, "PUT", f"/auth/users/{target}", b'{"isSSORequired": true}'
        )
        refused(Catalogue.TARGET_NOT_FOUND, functools.partial(world.call, UPDATE_USER, request))


@pytest.mark.parametrize(
    ("preset", "granted", "message_tail"),
    [
        ("dfns", ("Auth:Users:Update",), "(Auth:Types:EndUser)"),
        ("dfns-delete", ("Auth:Users:Update", "Auth:Types:Employee"), "(Auth:Types:EndUser)"),
        ("dfns-current", (), "(Auth:Users:Update)"),
    ],
)
def test_each_preset_asks_its_permissions(
    preset: str, granted: tuple[str, ...], message_tail: str
) -> None:
    world = World(policy=Policy(matrix=preset))
    org = world.new_org()
    caller = world.actor(org, operations=granted)
    target = world.actor(org, kind=UserKind.END_USER)
    error = refused(
        Catalogue.PERMISSION_DENIED,
        lambda: update(world, caller, target.id, b'{"isSSORequired": true}'),
        message=(
            f"CustomerEmployee {caller.id} is not authorized to perform operation {message_tail}"
        ),
    )
    assert error.reason == "permission_missing"
    allowed = world.actor(org, operations=("Auth:Users:Update",), kind=UserKind.END_USER)
    if preset == "dfns-current":
        assert update(world, allowed, target.id, b'{"isSSORequired": true}')["isSSORequired"]
