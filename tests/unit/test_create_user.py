"""Create User (`CREATE_USER`, SPEC §1.5): the new user, its audit record, the body, the
username rule, externalId idempotency, and the permissions of each preset."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from adapters.testing.world import Actor, World
from archive_core.audit import verify_audit_chain
from archive_core.config import Policy
from archive_core.entities import UserKind
from archive_core.errors import Catalogue
from archive_core.requests import Request
from archive_core.use_cases import CREATE_USER
from tests.unit.helpers import refused, snapshot

CREATOR_OPS = ("Auth:Users:Create", "Auth:Types:Employee", "Auth:Types:EndUser")


def request(world: World, actor: Actor, body: dict[str, Any] | bytes) -> Request:
    sent = body if isinstance(body, bytes) else json.dumps(body).encode()
    return world.signed_request(actor, "POST", "/auth/users", sent)


def create(world: World, actor: Actor, body: dict[str, Any] | bytes) -> dict[str, Any]:
    return world.call(CREATE_USER, request(world, actor, body))


@pytest.fixture
def creator(world: World) -> Actor:
    return world.actor(world.new_org(), operations=CREATOR_OPS, username="creator@example.co")


def test_a_new_user_is_active_unregistered_without_credential_or_permission(
    world: World, creator: Actor
) -> None:
    answer = create(world, creator, {"email": "New@Example.co", "kind": "EndUser"})
    assert answer["username"] == answer["name"] == "New@Example.co"
    assert (answer["kind"], answer["orgId"]) == ("EndUser", creator.user.org_id)
    assert answer["isActive"] is True and answer["isRegistered"] is False
    assert answer["isSSORequired"] is False and answer["isServiceAccount"] is False
    assert answer["permissionAssignments"] == [] and answer["credentialUuid"].startswith("cr-")
    with world.uow_factory() as uow:
        stored = uow.users.get(answer["userId"])
        assert stored is not None and uow.credentials.list_for_user(stored.id) == []
    assert (stored.external_id, stored.is_sso_required) == (None, False)
    (record,) = world.audit_records(creator.user.org_id)
    assert (record.action, record.target_id) == ("POST /auth/users", stored.id)
    assert record.target_before is None and record.target_after == stored.state
    assert record.permissions_required == ("Auth:Users:Create", "Auth:Types:EndUser")
    assert verify_audit_chain(world.audit_records(creator.user.org_id)).ok
    created = create(
        world,
        creator,
        {"email": "sso@example.co", "kind": "CustomerEmployee", "isSSORequired": True},
    )
    assert created["isSSORequired"] is True and created["kind"] == "CustomerEmployee"


def test_registration_delegated_is_the_default_and_direct_is_refused(
    world: World, creator: Actor
) -> None:
    body = {"email": "d@example.co", "kind": "EndUser", "registration": "Delegated"}
    assert create(world, creator, body)["username"] == "d@example.co"
    direct = request(
        world, creator, {"email": "e@example.co", "kind": "EndUser", "registration": "Direct"}
    )
    kept = snapshot(world)
    refused(Catalogue.DIRECT_REGISTRATION, functools.partial(world.call, CREATE_USER, direct))
    assert snapshot(world) == kept


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "The request body is invalid: a JSON object is required."),
        (b'{"kind": "EndUser"}', "The request body is invalid: email is required."),
        (b'{"email": "a@b.co"}', "The request body is invalid: kind is required."),
        (
            b'{"email": "a@b.co", "kind": "Robot"}',
            "The request body is invalid: kind must be one of CustomerEmployee, EndUser.",
        ),
        (
            b'{"email": "a@b.co", "kind": "EndUser", "isSSORequired": "yes"}',
            "The request body is invalid: isSSORequired must be a boolean.",
        ),
        (
            b'{"email": "a@b.co", "kind": "EndUser", "externalId": ""}',
            "The request body is invalid: externalId must be a string of 1 to 254 characters.",
        ),
        (
            b'{"email": "a@b.co", "kind": "EndUser", "external_id": "x"}',
            "The request body is invalid: unknown field external_id.",
        ),
    ],
)
def test_a_bad_body_is_a_400_naming_the_field(
    world: World, creator: Actor, body: bytes, message: str
) -> None:
    sent = request(world, creator, body)
    kept = snapshot(world)
    refused(
        Catalogue.BODY_INVALID, functools.partial(world.call, CREATE_USER, sent), message=message
    )
    assert snapshot(world) == kept


def test_the_username_rule_applies(world: World, creator: Actor) -> None:
    refused(
        Catalogue.USERNAME_INVALID,
        lambda: create(world, creator, {"email": "a\u202eb@example.co", "kind": "EndUser"}),
        message=(
            "The username is not acceptable: it holds a bidirectional control character (U+202E)."
        ),
    )
    create(world, creator, {"email": "Taken@example.co", "kind": "EndUser"})
    refused(
        Catalogue.USERNAME_TAKEN,
        lambda: create(world, creator, {"email": "TAKEN@example.co", "kind": "CustomerEmployee"}),
    )
    assert len(world.audit_records(creator.user.org_id)) == 1


def test_an_external_id_makes_create_idempotent_among_users_not_archived(
    world: World, creator: Actor
) -> None:
    body = {"email": "crm@example.co", "kind": "EndUser", "externalId": "crm-42"}
    first = create(world, creator, body)
    again = create(world, creator, body)
    assert again == first
    assert len(world.audit_records(creator.user.org_id)) == 1
    other = request(world, creator, {**body, "email": "other@example.co"})
    refusal = refused(
        Catalogue.EXTERNAL_ID_TAKEN, functools.partial(world.call, CREATE_USER, other)
    )
    assert refusal.details == {"userId": first["userId"], "username": "crm@example.co"}
    assert len(world.audit_records(creator.user.org_id)) == 1
    admin = world.actor(
        creator.user.org_id,
        operations=("Auth:Users:Update", "Auth:Types:EndUser"),
    )
    world.archive_user(admin, first["userId"])
    successor = create(world, creator, body)
    assert successor["userId"] != first["userId"]


def test_the_idempotent_answer_still_spends_the_token(world: World, creator: Actor) -> None:
    body = {"email": "once@example.co", "kind": "EndUser", "externalId": "e-1"}
    create(world, creator, body)
    sent = request(world, creator, body)
    world.call(CREATE_USER, sent)
    refused(Catalogue.USER_ACTION_REPLAYED, functools.partial(world.call, CREATE_USER, sent))


@pytest.mark.parametrize(
    ("preset", "caller_kind", "granted", "message_tail"),
    [
        ("dfns", UserKind.CUSTOMER_EMPLOYEE, (), "(Auth:Users:Create)"),
        ("dfns", UserKind.CUSTOMER_EMPLOYEE, ("Auth:Users:Create",), "(Auth:Types:EndUser)"),
        (
            "dfns-delete",
            UserKind.END_USER,
            ("Auth:Users:Create", "Auth:Types:Employee"),
            "(Auth:Types:EndUser)",
        ),
        ("dfns-current", UserKind.CUSTOMER_EMPLOYEE, (), "(Auth:Users:Create)"),
        ("dfns-current", UserKind.END_USER, ("Auth:Users:Create",), "(Auth:Users:Create)"),
    ],
)
def test_each_preset_asks_its_permissions(
    preset: str, caller_kind: UserKind, granted: tuple[str, ...], message_tail: str
) -> None:
    world = World(policy=Policy(matrix=preset))
    org = world.new_org()
    caller = world.actor(org, kind=caller_kind, operations=granted)
    refused(
        Catalogue.PERMISSION_DENIED,
        lambda: create(world, caller, {"email": "x@example.co", "kind": "EndUser"}),
        message=f"{caller_kind.value} {caller.id} is not authorized to perform operation {message_tail}",
    )
    assert world.audit_records(org) == []
    if preset == "dfns-current":
        allowed = world.actor(org, operations=("Auth:Users:Create",))
        assert create(world, allowed, {"email": "y@example.co", "kind": "EndUser"})["isActive"]


def test_permissions_are_checked_before_the_body(world: World) -> None:
    org = world.new_org()
    caller = world.actor(org)
    refused(
        Catalogue.PERMISSION_DENIED,
        lambda: create(world, caller, b"{}"),
        message=f"CustomerEmployee {caller.id} is not authorized to perform operation "
        "(Auth:Users:Create)",
    )
