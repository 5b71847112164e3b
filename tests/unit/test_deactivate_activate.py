"""Deactivate and activate (`DEACTIVATE_USER`, `ACTIVATE_USER`): the sibling operations
of the signed pipeline (SPEC §1.4): their answers, rules, no-op answers, cut-off, order
of checks and audit."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from adapters.testing.world import ARCHIVE_OPS, Actor, World
from archive_core.config import Policy
from archive_core.entities import TokenKind, UserKind
from archive_core.errors import Catalogue, ErrorKind
from archive_core.operations import DFNS_CURRENT_PRESET, DFNS_DELETE_PRESET
from archive_core.requests import Request
from archive_core.use_cases import (
    ACTIVATE_USER,
    COMPLETE_USER_ACTION,
    DEACTIVATE_USER,
    INIT_USER_ACTION,
)
from tests.unit.conftest import Scene
from tests.unit.helpers import refused, snapshot


def _request(
    world: World,
    actor: Actor,
    target_id: str,
    action: str,
    *,
    body: bytes = b"",
    token: str | None = None,
) -> Request:
    path = f"/auth/users/{target_id}/{action}"
    if token is None:
        token = world.user_action(actor, "PUT", path, body.decode())
    return Request("PUT", path, world.headers(actor, **{"X-DFNS-USERACTION": token}), body)


def deactivate(world: World, actor: Actor, target_id: str, body: bytes = b"{}") -> dict[str, Any]:
    return world.call(
        DEACTIVATE_USER, _request(world, actor, target_id, "deactivate", body=body), target_id
    )


def activate(world: World, actor: Actor, target_id: str) -> dict[str, Any]:
    return world.call(ACTIVATE_USER, _request(world, actor, target_id, "activate"), target_id)


# --------------------------------------------------------------------------- success


@pytest.mark.parametrize("body", [b"", b"{}", b'{"force": true}', b'{"force":false}'])
def test_deactivate_answers_the_user_inactive(scene: Scene, body: bytes) -> None:
    world = scene.world
    answer = deactivate(world, scene.admin, scene.end_user.id, body)
    assert answer["userId"] == scene.end_user.id
    assert answer["isActive"] is False
    stored = world.fresh_user(scene.end_user.user)
    assert not stored.is_active and not stored.is_archived
    assert stored.cut_off_at == world.clock.now()
    assert stored.version == scene.end_user.user.version + 1


def test_activate_restores_a_deactivated_user(scene: Scene) -> None:
    world = scene.world
    deactivate(world, scene.admin, scene.employee.id)
    world.clock.advance(timedelta(seconds=1))
    answer = activate(world, scene.admin, scene.employee.id)
    assert answer["isActive"] is True
    assert answer["kind"] == "CustomerEmployee"
    stored = world.fresh_user(scene.employee.user)
    assert stored.is_active
    assert stored.version == scene.employee.user.version + 2


def test_each_change_appends_its_audit_record(scene: Scene) -> None:
    world = scene.world
    deactivate(world, scene.admin, scene.end_user.id)
    activate(world, scene.admin, scene.end_user.id)
    records = world.store.audit[scene.org]
    assert [r.action for r in records] == [
        f"PUT /auth/users/{scene.end_user.id}/deactivate",
        f"PUT /auth/users/{scene.end_user.id}/activate",
    ]
    first, second = records
    assert first.target_before is not None and second.target_before is not None
    assert (first.target_before.is_active, first.target_after.is_active) == (True, False)
    assert (second.target_before.is_active, second.target_after.is_active) == (False, True)
    assert first.actor_id == scene.admin.id
    assert first.permissions_required == ("Auth:Users:Update", "Auth:Types:EndUser")
    assert first.evidence[0].credential_uuid == scene.admin.credential.uuid  # type: ignore[union-attr]


def test_no_change_answers_the_user_as_it_stands_without_a_record(scene: Scene) -> None:
    world = scene.world
    assert activate(world, scene.admin, scene.end_user.id)["isActive"] is True
    deactivate(world, scene.admin, scene.end_user.id)
    before = world.fresh_user(scene.end_user.user)
    assert deactivate(world, scene.admin, scene.end_user.id)["isActive"] is False
    assert world.fresh_user(scene.end_user.user) == before
    assert len(world.store.audit[scene.org]) == 1


def test_no_change_still_spends_the_token(scene: Scene) -> None:
    world = scene.world
    request = _request(world, scene.admin, scene.end_user.id, "activate")
    world.call(ACTIVATE_USER, request, scene.end_user.id)
    refused(
        Catalogue.USER_ACTION_REPLAYED,
        lambda: world.call(ACTIVATE_USER, request, scene.end_user.id),
    )


def test_archived_users_cannot_be_activated(scene: Scene) -> None:
    world = scene.world
    world.archive_user(scene.admin, scene.end_user.id)
    refused(Catalogue.TARGET_NOT_FOUND, lambda: activate(world, scene.admin, scene.end_user.id))
    refused(Catalogue.TARGET_NOT_FOUND, lambda: deactivate(world, scene.admin, scene.end_user.id))


def test_a_deactivated_user_can_still_be_archived(scene: Scene) -> None:
    world = scene.world
    deactivate(world, scene.admin, scene.end_user.id)
    assert world.archive_user(scene.admin, scene.end_user.id)["isActive"] is False
    assert world.fresh_user(scene.end_user.user).is_archived


# --------------------------------------------------------------------------- rules


def test_deactivating_or_activating_yourself_is_refused(scene: Scene) -> None:
    world = scene.world
    admin = scene.admin
    refused(Catalogue.SELF_DEACTIVATE, lambda: deactivate(world, admin, admin.id))
    refused(Catalogue.SELF_ACTIVATE, lambda: activate(world, admin, admin.id))


def test_service_accounts_are_refused(scene: Scene) -> None:
    world = scene.world
    robot = world.actor(scene.org, service_account=True)
    refused(Catalogue.SERVICE_ACCOUNT_DEACTIVATE, lambda: deactivate(world, scene.admin, robot.id))
    refused(Catalogue.SERVICE_ACCOUNT_ACTIVATE, lambda: activate(world, scene.admin, robot.id))


def test_the_last_user_who_can_activate_cannot_be_deactivated() -> None:
    world = World(policy=Policy(matrix=DFNS_CURRENT_PRESET))
    org = world.new_org()
    caller = world.actor(org, operations=("Auth:Users:Deactivate",))
    target = world.actor(org, operations=("Auth:Users:Activate",))
    before = snapshot(world)
    refused(Catalogue.LAST_ACTIVATOR, lambda: deactivate(world, caller, target.id))
    after = snapshot(world)
    assert (after[0], after[2]) == (before[0], before[2])
    assert all(used is None for used in after[1].values())
    world.actor(org, operations=("Auth:Users:Activate",))
    assert deactivate(world, caller, target.id)["isActive"] is False


@pytest.mark.parametrize("guard", [True, False])
def test_a_service_account_cannot_deactivate_the_last_human_holder(guard: bool) -> None:
    world = World(policy=Policy(lockout_guard=guard))
    org = world.new_org()
    robot = world.actor(org, operations=ARCHIVE_OPS, service_account=True)
    human = world.actor(org, operations=ARCHIVE_OPS)
    if guard:
        refused(Catalogue.LAST_ACTIVATOR, lambda: deactivate(world, robot, human.id))
    else:
        assert deactivate(world, robot, human.id)["isActive"] is False


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"[]", Catalogue.JSON_MALFORMED),
        (b"{", Catalogue.JSON_MALFORMED),
        (b'{"force": "true"}', Catalogue.BODY_INVALID),
        (b'{"force": 1}', Catalogue.BODY_INVALID),
        (b'{"other": true}', Catalogue.BODY_INVALID),
    ],
)
def test_a_malformed_deactivate_body_is_refused(scene: Scene, body: bytes, kind: ErrorKind) -> None:
    world = scene.world
    message = (
        "The request body is invalid: force must be a boolean (no other field)."
        if kind is Catalogue.BODY_INVALID
        else None
    )
    before = snapshot(world)
    refused(kind, lambda: deactivate(world, scene.admin, scene.end_user.id, body), message=message)
    assert snapshot(world)[0] == before[0]


def test_the_body_is_read_after_the_permission_and_before_the_id_and_the_target(
    scene: Scene,
) -> None:
    # SPEC §4 (updated): permission (403) → body and query (400) → id syntax → target (404)
    world = scene.world
    missing = "us-aaaaa-bbbbb-cccccccccccccccc"
    refused(Catalogue.JSON_MALFORMED, lambda: deactivate(world, scene.admin, missing, b"["))
    refused(Catalogue.JSON_MALFORMED, lambda: deactivate(world, scene.admin, "us-BAD", b"["))
    outsider = world.actor(scene.org)
    refused(
        Catalogue.PERMISSION_DENIED,
        lambda: deactivate(world, outsider, scene.end_user.id, b"["),
        message=f"CustomerEmployee {outsider.id} is not authorized to perform operation "
        "(Auth:Users:Update)",
    )


# --------------------------------------------------------------------------- cut-off


def test_deactivation_cuts_off_tokens_challenges_and_user_actions_for_good(scene: Scene) -> None:
    world = scene.world
    victim = world.actor(scene.org, operations=ARCHIVE_OPS)
    # what the victim holds before its deactivation: a bearer token (victim.token), an
    # open challenge, and an unused user action token
    path = f"/auth/users/{scene.end_user.id}"
    init = Request(
        "POST", "/auth/action/init", world.headers(victim), world.init_body("DELETE", path)
    )
    challenge = world.call(INIT_USER_ACTION, init)
    unused = world.user_action(victim, "DELETE", path)

    deactivate(world, scene.admin, victim.id)
    refused(
        Catalogue.NOT_AUTHORIZED,
        lambda: world.archive_user(victim, scene.end_user.id, token=unused),
    )
    world.clock.advance(timedelta(seconds=1))
    activate(world, scene.admin, victim.id)

    # the old bearer token stays dead
    refused(
        Catalogue.NOT_AUTHORIZED,
        lambda: world.archive_user(victim, scene.end_user.id, token=unused),
    )
    # a new bearer token works, but the old challenge and user action token do not
    now = world.clock.now()
    fresh = Actor(
        user=world.fresh_user(victim.user),
        token=world.bearer.issue(
            victim.user,
            now=now,
            ttl=timedelta(hours=1),
            token_kind=TokenKind.LOGIN,
        ),
        credential=victim.credential,
    )
    body = {
        "challengeIdentifier": challenge["challengeIdentifier"],
        "firstFactor": world.sign_challenge(fresh, challenge),
    }
    refused(
        Catalogue.CHALLENGE_INVALID,
        lambda: world.call(
            COMPLETE_USER_ACTION,
            Request("POST", "/auth/action", world.headers(fresh), json.dumps(body).encode()),
        ),
    )
    refused(
        Catalogue.USER_ACTION_INVALID,
        lambda: world.archive_user(fresh, scene.end_user.id, token=unused),
    )
    # and what it signs after its activation works
    assert world.archive_user(fresh, scene.end_user.id)["isActive"] is False


def test_a_deactivated_caller_cannot_sign(scene: Scene) -> None:
    world = scene.world
    deactivate(world, scene.admin, scene.employee.id)
    init = Request(
        "POST",
        "/auth/action/init",
        world.headers(scene.employee),
        world.init_body("DELETE", f"/auth/users/{scene.end_user.id}"),
    )
    refused(Catalogue.USER_DEACTIVATED, lambda: world.call(INIT_USER_ACTION, init))


# --------------------------------------------------------------------------- order of checks


def test_the_order_of_checks_is_archives(scene: Scene) -> None:
    world = scene.world
    nobody = world.actor(scene.org)
    missing = "us-aaaaa-bbbbb-cccccccccccccccc"
    # unconditional permission before id syntax and look-up
    refused(
        Catalogue.PERMISSION_DENIED,
        lambda: deactivate(world, nobody, "not-an-id"),
        message=f"CustomerEmployee {nobody.id} is not authorized to perform operation "
        "(Auth:Users:Update)",
    )
    refused(Catalogue.USER_ID_MALFORMED, lambda: activate(world, scene.admin, "us-A"))
    refused(Catalogue.TARGET_NOT_FOUND, lambda: activate(world, scene.admin, missing))
    # the target's kind before the rules
    update_only = world.actor(scene.org, operations=("Auth:Users:Update",))
    robot = world.actor(scene.org, service_account=True)
    refused(
        Catalogue.PERMISSION_DENIED,
        lambda: deactivate(world, update_only, robot.id),
        message=f"CustomerEmployee {update_only.id} is not authorized to perform operation "
        "(Auth:Types:Employee)",
    )
    # a token for another operation's path is refused
    token = world.user_action(scene.admin, "PUT", f"/auth/users/{scene.end_user.id}/activate")
    refused(
        Catalogue.USER_ACTION_INVALID,
        lambda: world.call(
            DEACTIVATE_USER,
            _request(world, scene.admin, scene.end_user.id, "deactivate", token=token, body=b""),
            scene.end_user.id,
        ),
    )


def test_another_orgs_user_is_not_found(scene: Scene) -> None:
    world = scene.world
    other = world.actor(world.new_org())
    refused(Catalogue.TARGET_NOT_FOUND, lambda: deactivate(world, scene.admin, other.id))


# --------------------------------------------------------------------------- presets


def test_dfns_current_needs_only_the_operations_own_permission() -> None:
    world = World(policy=Policy(matrix=DFNS_CURRENT_PRESET))
    org = world.new_org()
    caller = world.actor(
        org, operations=("Auth:Users:Deactivate", "Auth:Users:Activate", "Auth:Users:Delete")
    )
    target = world.actor(org, kind=UserKind.END_USER)
    assert deactivate(world, caller, target.id)["isActive"] is False
    assert activate(world, caller, target.id)["isActive"] is True
    assert world.archive_user(caller, target.id)["isActive"] is False
    # Update is not enough any more
    update = world.actor(org, operations=ARCHIVE_OPS)
    refused(
        Catalogue.PERMISSION_DENIED,
        lambda: activate(world, update, caller.id),
        message=f"CustomerEmployee {update.id} is not authorized to perform operation "
        "(Auth:Users:Activate)",
    )


def test_dfns_current_refuses_end_user_callers_whatever_they_hold() -> None:
    world = World(policy=Policy(matrix=DFNS_CURRENT_PRESET))
    org = world.new_org()
    delegated = world.actor(org, kind=UserKind.END_USER, full_admin=True)
    target = world.actor(org)
    for call, needed in [
        (lambda: world.archive_user(delegated, target.id), "Auth:Users:Delete"),
        (lambda: deactivate(world, delegated, target.id), "Auth:Users:Deactivate"),
        (lambda: activate(world, delegated, target.id), "Auth:Users:Activate"),
    ]:
        refused(
            Catalogue.PERMISSION_DENIED,
            call,
            message=f"EndUser {delegated.id} is not authorized to perform operation ({needed})",
        )


def test_dfns_delete_deactivates_with_update() -> None:
    world = World(policy=Policy(matrix=DFNS_DELETE_PRESET))
    org = world.new_org()
    caller = world.actor(org, operations=ARCHIVE_OPS)
    target = world.actor(org)
    assert deactivate(world, caller, target.id)["isActive"] is False
    refused(
        Catalogue.PERMISSION_DENIED,
        lambda: world.archive_user(caller, target.id),
        message=f"CustomerEmployee {caller.id} is not authorized to perform operation "
        "(Auth:Users:Delete)",
    )


def test_deactivate_accepts_the_empty_object_signed_as_the_empty_payload(scene: Scene) -> None:
    world = scene.world
    target = scene.end_user.id
    token = world.user_action(scene.admin, "PUT", f"/auth/users/{target}/deactivate", "")
    request = _request(world, scene.admin, target, "deactivate", token=token, body=b"{}")
    assert world.call(DEACTIVATE_USER, request, target)["isActive"] is False
    # only `{}`: any other body must be the signed bytes
    token = world.user_action(scene.admin, "PUT", f"/auth/users/{target}/deactivate", "")
    spaced = _request(world, scene.admin, target, "deactivate", token=token, body=b"{ }")
    refused(Catalogue.USER_ACTION_INVALID, lambda: world.call(DEACTIVATE_USER, spaced, target))


def test_activate_keeps_the_exact_bytes_rule(scene: Scene) -> None:
    world = scene.world
    target = scene.end_user.id
    token = world.user_action(scene.admin, "PUT", f"/auth/users/{target}/activate", "")
    request = _request(world, scene.admin, target, "activate", token=token, body=b"{}")
    refused(Catalogue.USER_ACTION_INVALID, lambda: world.call(ACTIVATE_USER, request, target))
