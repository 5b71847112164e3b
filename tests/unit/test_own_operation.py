"""An embedder's operation with a body, declared once and served beside the library's
(`tests/e2e/rename_user.py`, the one docs/extending.md shows): the pipeline parses its
body at its place in SPEC §4's order and hands the value to its rules and its change."""

from __future__ import annotations

import json

import pytest

from adapters.testing import World, refused, snapshot
from adapters.testing.world import Scene
from archive_core.config import Policy
from archive_core.errors import Catalogue
from archive_core.operations import OPERATIONS, PRESETS
from archive_core.requests import Request
from tests.e2e.rename_user import NOT_A_PERSON, RENAME_USER


@pytest.fixture
def world() -> World:
    return World(operations=(*OPERATIONS, RENAME_USER))


@pytest.fixture
def scene(world: World) -> Scene:
    return world.scene()


def rename_request(world: World, scene: Scene, target: str, body: bytes) -> Request:
    return world.signed_request(scene.admin, "PUT", f"/auth/users/{target}/rename", body)


def body(username: object) -> bytes:
    return json.dumps({"username": username}).encode()


def test_a_rename_changes_the_name_and_is_audited(world: World, scene: Scene) -> None:
    target = scene.end_user.id
    answer = world.answer(RENAME_USER, rename_request(world, scene, target, body("new@example.co")))
    assert answer.document is not None and answer.document["username"] == "new@example.co"
    assert answer.outcome == "renamed"
    (record,) = world.audit_records(scene.org)
    assert record.action == f"PUT /auth/users/{target}/rename"
    assert world.fresh_user(scene.end_user.user).username == "new@example.co"


def test_the_same_name_again_is_unchanged(world: World, scene: Scene) -> None:
    target = scene.end_user
    request = rename_request(world, scene, target.id, body(target.user.username))
    assert world.answer(RENAME_USER, request).outcome == "unchanged"
    assert world.audit_records(scene.org) == []


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        (b"", "The request body is invalid: a JSON object is required."),
        (b"{}", "The request body is invalid: username is required."),
        (
            body(""),
            "The request body is invalid: username must be a string of 1 to 254 characters.",
        ),
        (body(7), "The request body is invalid: username must be a string of 1 to 254 characters."),
        (b'{"username": "x", "nick": 1}', "The request body is invalid: unknown field nick."),
    ],
)
def test_a_body_that_breaks_the_declaration_changes_nothing(
    world: World, scene: Scene, sent: bytes, message: str
) -> None:
    request = rename_request(world, scene, scene.end_user.id, sent)
    before = snapshot(world)
    refused(Catalogue.BODY_INVALID, lambda: world.call(RENAME_USER, request), message=message)
    assert snapshot(world) == before  # the token unused, the user untouched


def test_the_body_is_read_after_the_permission_and_before_the_id(
    world: World, scene: Scene
) -> None:
    outsider = world.actor(scene.org)
    path = "/auth/users/us-NOT-AN-ID/rename"
    request = world.signed_request(outsider, "PUT", path, b"{}")
    refused(
        Catalogue.PERMISSION_DENIED,
        lambda: world.call(RENAME_USER, request),
        message=f"CustomerEmployee {outsider.id} is not authorized to perform operation (Auth:Users:Update)",
    )
    request = world.signed_request(scene.admin, "PUT", path, b"{}")
    refused(
        Catalogue.BODY_INVALID,
        lambda: world.call(RENAME_USER, request),
        message="The request body is invalid: username is required.",
    )


def test_the_rules_see_the_parsed_value(world: World, scene: Scene) -> None:
    request = rename_request(world, scene, scene.end_user.id, body("bad\nname"))
    refused(
        Catalogue.USERNAME_INVALID,
        lambda: world.call(RENAME_USER, request),
        message="The username is not acceptable: it holds a control character (U+000A).",
    )
    robot = world.actor(scene.org, service_account=True)
    request = rename_request(world, scene, robot.id, body("robot2@example.co"))
    refused(NOT_A_PERSON, lambda: world.call(RENAME_USER, request))


def test_another_users_name_is_409_and_changes_nothing(world: World, scene: Scene) -> None:
    taken = scene.employee.user.username.upper()
    request = rename_request(world, scene, scene.end_user.id, body(taken))
    before = snapshot(world)
    refused(Catalogue.USERNAME_TAKEN, lambda: world.call(RENAME_USER, request))
    assert snapshot(world) == before
    assert world.audit_records(scene.org) == []


def test_its_row_joins_every_preset(world: World) -> None:
    for name in PRESETS:
        assert "RenameUser" not in PRESETS[name].operations
    assert world.matrix.required("RenameUser", None) == ("Auth:Users:Update",)
    dfns_current = World(
        operations=(*OPERATIONS, RENAME_USER), policy=Policy(matrix="dfns-current")
    )
    assert dfns_current.matrix.required("RenameUser", None) == ("Auth:Users:Update",)
