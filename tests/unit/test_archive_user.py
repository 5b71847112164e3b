"""Archive (`ARCHIVE_USER`): the happy path, every error of SPEC §4, and the order of checks."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import timedelta

import attrs
import pytest

from adapters.testing.world import Scene, World
from archive_core.config import Policy
from archive_core.entities import UserKind
from archive_core.errors import Catalogue
from archive_core.ids import OrgId
from archive_core.requests import Headers, Request
from archive_core.use_cases import ARCHIVE_USER, COMPLETE_USER_ACTION, INIT_USER_ACTION
from tests.unit.helpers import refused, snapshot

SPEC_KEYS = [
    "username",
    "userId",
    "kind",
    "credentialUuid",
    "orgId",
    "permissions",
    "scopes",
    "isActive",
    "isServiceAccount",
    "isRegistered",
    "permissionAssignments",
    # the current API profile (SPEC §1.2 updated)
    "name",
    "isSSORequired",
]


def _denial(scene: Scene, missing: str) -> str:
    return f"CustomerEmployee {scene.admin.id} is not authorized to perform operation ({missing})"


# --------------------------------------------------------------------------- success


def test_archive_answers_the_user_as_it_now_stands(scene: Scene) -> None:
    world = scene.world
    answer = world.archive_user(scene.admin, scene.end_user.id)
    assert list(answer) == SPEC_KEYS
    assert answer["userId"] == scene.end_user.id
    assert answer["kind"] == "EndUser"
    assert answer["orgId"] == scene.org
    assert answer["isActive"] is False
    assert answer["credentialUuid"] == scene.end_user.user.credential_uuid
    assert answer["permissions"] == [] and answer["scopes"] == []
    assert answer["name"] == scene.end_user.user.username
    assert answer["isSSORequired"] is False
    stored = world.fresh_user(scene.end_user.user)
    assert stored.archived_at == world.clock.now()
    assert stored.version == scene.end_user.user.version + 1


def test_archive_an_employee(scene: Scene) -> None:
    assert scene.world.archive_user(scene.admin, scene.employee.id)["kind"] == "CustomerEmployee"


def test_full_admin_archives_either_kind(world: World) -> None:
    org = world.new_org()
    root = world.actor(org, full_admin=True)
    spare = world.actor(org, full_admin=True)
    target = world.actor(org, kind=UserKind.END_USER)
    assert world.archive_user(root, target.id)["isActive"] is False
    assert world.archive_user(root, spare.id)["isActive"] is False


def test_permission_assignments_of_the_target_are_listed(scene: Scene) -> None:
    world = scene.world
    permission = world.provisioning.grant(scene.end_user.user, ["Wallets:Read"], name="Readers")
    answer = world.archive_user(scene.admin, scene.end_user.id)
    [item] = answer["permissionAssignments"]
    assert item["permissionName"] == "Readers"
    assert item["permissionId"] == permission.id
    assert item["operations"] == ["Wallets:Read"]
    assert item["assignmentId"].startswith("as-")


def test_a_second_archive_is_404(scene: Scene) -> None:
    world = scene.world
    world.archive_user(scene.admin, scene.end_user.id)
    refused(Catalogue.TARGET_NOT_FOUND, lambda: world.archive_user(scene.admin, scene.end_user.id))


def test_body_payload_conventions(scene: Scene) -> None:
    # The Python SDK sends no body (payload ""); another client sends "{}" and signs "{}".
    world = scene.world
    assert world.archive_user(scene.admin, scene.end_user.id, body=b"")["isActive"] is False
    assert world.archive_user(scene.admin, scene.employee.id, body=b"{}")["isActive"] is False


# --------------------------------------------------------------------------- 1. headers


@pytest.mark.parametrize(
    "nonce",
    [
        "not base64!",
        "e30",  # {} : no uuid, no date
        # uuid too short
        "eyJ1dWlkIjoic2hvcnQiLCJkYXRlIjoiMjAyNi0wMS0wMVQwMDowMDowMCswMDowMCJ9",
    ],
)
def test_malformed_nonce_is_400(scene: Scene, nonce: str) -> None:
    world = scene.world
    before = snapshot(world)
    refused(
        Catalogue.NONCE_INVALID,
        lambda: world.archive_user(scene.admin, scene.end_user.id, extra={"X-DFNS-NONCE": nonce}),
    )
    assert snapshot(world)[0] == before[0]


def test_nonce_date_without_offset_is_invalid(scene: Scene) -> None:
    world = scene.world
    raw = json.dumps({"uuid": "nonce-0123456789", "date": "2026-01-01T00:00:00"}).encode()
    from adapters.testing.world import b64

    refused(
        Catalogue.NONCE_INVALID,
        lambda: world.archive_user(
            scene.admin, scene.end_user.id, extra={"X-DFNS-NONCE": b64(raw)}
        ),
    )


def test_nonce_boolean_and_number_fields_are_refused(scene: Scene) -> None:
    from adapters.testing.world import b64

    world = scene.world
    for document in (
        {"uuid": 1234567890123456, "date": "2026-01-01T00:00:00Z"},
        {"uuid": "x" * 20, "date": True},
    ):
        nonce = b64(json.dumps(document).encode())
        call = functools.partial(
            world.archive_user, scene.admin, scene.end_user.id, extra={"X-DFNS-NONCE": nonce}
        )
        refused(Catalogue.NONCE_INVALID, call)


def test_valid_nonce_is_accepted_then_replay_is_400(scene: Scene) -> None:
    world = scene.world
    nonce = world.nonce("replayed-nonce-1")
    world.archive_user(scene.admin, scene.end_user.id, extra={"X-DFNS-NONCE": nonce})
    refused(
        Catalogue.NONCE_REPLAYED,
        lambda: world.archive_user(scene.admin, scene.employee.id, extra={"X-DFNS-NONCE": nonce}),
    )
    assert world.fresh_user(scene.employee.user).is_active


def test_nonce_is_burnt_even_when_the_request_then_fails(scene: Scene) -> None:
    world = scene.world
    nonce = world.nonce("burnt-on-failure-1")
    request = world.archive_request(scene.admin, scene.end_user.id, extra={"X-DFNS-NONCE": nonce})
    refused(Catalogue.USER_ID_MALFORMED, lambda: world.call(ARCHIVE_USER, request, "us-BAD"))
    refused(
        Catalogue.NONCE_REPLAYED,
        lambda: world.archive_user(scene.admin, scene.end_user.id, extra={"X-DFNS-NONCE": nonce}),
    )


def test_nonce_is_not_burnt_by_an_unauthenticated_request(scene: Scene) -> None:
    world = scene.world
    nonce = world.nonce("unauthenticated-1")
    bad = Request(
        "DELETE", f"/auth/users/{scene.end_user.id}", Headers({"X-DFNS-NONCE": nonce}.items())
    )
    refused(Catalogue.NOT_AUTHORIZED, lambda: world.call(ARCHIVE_USER, bad, scene.end_user.id))
    world.archive_user(scene.admin, scene.end_user.id, extra={"X-DFNS-NONCE": nonce})


def test_strict_mode_requires_nonce_and_app_id() -> None:
    world = World(policy=Policy(require_nonce=True, require_app_id=True))
    org = world.new_org()
    admin = world.actor(org, full_admin=True)
    target = world.actor(org)
    app = world.provisioning.create_application(org, "console")
    # token obtained with the headers present (init/complete are under the same policy)
    headers = {"X-DFNS-APPID": app.id}
    refused(
        Catalogue.APP_ID_INVALID,
        lambda: world.call(
            INIT_USER_ACTION,
            Request(
                "POST",
                "/auth/action/init",
                world.headers(admin, **{"X-DFNS-NONCE": world.nonce()}),
                b"{}",
            ),
        ),
    )
    refused(
        Catalogue.NONCE_INVALID,
        lambda: world.call(
            INIT_USER_ACTION,
            Request("POST", "/auth/action/init", world.headers(admin, **headers), b"{}"),
        ),
    )

    def signed_request(nonce_uuid: str) -> Request:
        path = f"/auth/users/{target.id}"
        init = world.call(
            INIT_USER_ACTION,
            Request(
                "POST",
                "/auth/action/init",
                world.headers(admin, **headers, **{"X-DFNS-NONCE": world.nonce(nonce_uuid + "-i")}),
                world.init_body("DELETE", path),
            ),
        )
        body = {
            "challengeIdentifier": init["challengeIdentifier"],
            "firstFactor": world.sign_challenge(admin, init),
        }
        token = world.call(
            COMPLETE_USER_ACTION,
            Request(
                "POST",
                "/auth/action",
                world.headers(admin, **headers, **{"X-DFNS-NONCE": world.nonce(nonce_uuid + "-c")}),
                json.dumps(body).encode(),
            ),
        )["userAction"]
        return Request(
            "DELETE",
            path,
            world.headers(
                admin,
                **headers,
                **{"X-DFNS-USERACTION": token, "X-DFNS-NONCE": world.nonce(nonce_uuid + "-d")},
            ),
        )

    assert (
        world.call(ARCHIVE_USER, signed_request("strict-mode-ok"), target.id)["isActive"] is False
    )


@pytest.mark.parametrize(
    "app_id", ["ap-", "AP-abcde-fghij-klmnopqrstuvwxyz", "us-abcde-fghij-klmnopqrstuvwxyz"]
)
def test_malformed_app_id_is_400(scene: Scene, app_id: str) -> None:
    world = scene.world
    refused(
        Catalogue.APP_ID_INVALID,
        lambda: world.archive_user(scene.admin, scene.end_user.id, extra={"X-DFNS-APPID": app_id}),
    )


def test_app_id_must_name_an_active_app_of_the_callers_org(scene: Scene) -> None:
    world = scene.world
    other_org = world.new_org()
    foreign = world.provisioning.create_application(other_org, "theirs")
    refused(
        Catalogue.APP_ID_INVALID,
        lambda: world.archive_user(
            scene.admin, scene.end_user.id, extra={"X-DFNS-APPID": foreign.id}
        ),
    )
    unknown = "ap-aaaaa-bbbbb-cccccccccccccccc"
    refused(
        Catalogue.APP_ID_INVALID,
        lambda: world.archive_user(scene.admin, scene.end_user.id, extra={"X-DFNS-APPID": unknown}),
    )
    ours = world.provisioning.create_application(scene.org, "ours")
    assert (
        world.archive_user(scene.admin, scene.end_user.id, extra={"X-DFNS-APPID": ours.id})[
            "isActive"
        ]
        is False
    )


def test_inactive_app_is_refused(scene: Scene) -> None:
    world = scene.world
    app = world.provisioning.create_application(scene.org, "old")
    with world.store.lock:
        world.store.applications[app.id] = attrs.evolve(app, is_active=False)
    refused(
        Catalogue.APP_ID_INVALID,
        lambda: world.archive_user(scene.admin, scene.end_user.id, extra={"X-DFNS-APPID": app.id}),
    )


def test_repeated_security_headers_are_refused(scene: Scene) -> None:
    world = scene.world
    request = world.archive_request(scene.admin, scene.end_user.id)
    pairs = [("authorization", f"Bearer {scene.admin.token}")] * 2
    doubled = attrs.evolve(request, headers=Headers([*pairs, ("x-dfns-useraction", "x")]))
    refused(Catalogue.NOT_AUTHORIZED, lambda: world.call(ARCHIVE_USER, doubled, scene.end_user.id))
    nonce = world.nonce()
    twice = attrs.evolve(
        request, headers=Headers([("X-DFNS-NONCE", nonce), ("x-dfns-nonce", nonce)])
    )
    refused(Catalogue.NONCE_INVALID, lambda: world.call(ARCHIVE_USER, twice, scene.end_user.id))


# --------------------------------------------------------------------------- 2. authentication


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic abc",
        "Bearer a b",
        "Bearer tok\u00e9",
        "bearer  tok",
        "Token x",
    ],
)
def test_missing_or_malformed_bearer_is_401(scene: Scene, authorization: str | None) -> None:
    world = scene.world
    request = world.archive_request(scene.admin, scene.end_user.id)
    pairs = [
        (k, v) for k, v in [("x-dfns-useraction", request.headers.values("x-dfns-useraction")[0])]
    ]
    if authorization is not None:
        pairs.append(("Authorization", authorization))
    refused(
        Catalogue.NOT_AUTHORIZED,
        lambda: world.call(
            ARCHIVE_USER, attrs.evolve(request, headers=Headers(pairs)), scene.end_user.id
        ),
    )
    assert world.fresh_user(scene.end_user.user).is_active


def test_bearer_scheme_is_case_insensitive(scene: Scene) -> None:
    world = scene.world
    request = world.archive_request(scene.admin, scene.end_user.id)
    token = request.headers.values("x-dfns-useraction")[0]
    headers = Headers(
        [("AUTHORIZATION", f"bearer {scene.admin.token}"), ("X-Dfns-UserAction", token)]
    )
    assert (
        world.call(ARCHIVE_USER, attrs.evolve(request, headers=headers), scene.end_user.id)[
            "isActive"
        ]
        is False
    )


def test_unknown_or_expired_token_is_401(scene: Scene) -> None:
    world = scene.world
    short = world.actor(scene.org, full_admin=True, token_ttl=timedelta(minutes=1))
    request = world.archive_request(short, scene.end_user.id)
    world.clock.advance(timedelta(minutes=1))
    refused(Catalogue.NOT_AUTHORIZED, lambda: world.call(ARCHIVE_USER, request, scene.end_user.id))
    forged = attrs.evolve(
        request, headers=Headers([("Authorization", "Bearer forged.token.value")])
    )
    refused(Catalogue.NOT_AUTHORIZED, lambda: world.call(ARCHIVE_USER, forged, scene.end_user.id))


def test_inactive_caller_is_401(scene: Scene) -> None:
    world = scene.world
    request = world.archive_request(scene.admin, scene.end_user.id)
    with world.store.lock:
        world.store.users[scene.admin.user.id] = attrs.evolve(scene.admin.user, is_active=False)
    refused(Catalogue.NOT_AUTHORIZED, lambda: world.call(ARCHIVE_USER, request, scene.end_user.id))


def test_token_of_another_org_is_401(scene: Scene) -> None:
    world = scene.world
    request = world.archive_request(scene.admin, scene.end_user.id)
    with world.store.lock:
        world.store.users[scene.admin.user.id] = attrs.evolve(
            scene.admin.user, org_id=OrgId("or-aaaaa-bbbbb-cccccccccccccccc")
        )
    refused(Catalogue.NOT_AUTHORIZED, lambda: world.call(ARCHIVE_USER, request, scene.end_user.id))


# --------------------------------------------------------------------------- 3. user action token


def test_missing_user_action_is_403(scene: Scene) -> None:
    world = scene.world
    request = Request("DELETE", f"/auth/users/{scene.end_user.id}", world.headers(scene.admin))
    refused(
        Catalogue.USER_ACTION_INVALID, lambda: world.call(ARCHIVE_USER, request, scene.end_user.id)
    )


def test_forged_user_action_is_403(scene: Scene) -> None:
    world = scene.world
    refused(
        Catalogue.USER_ACTION_INVALID,
        lambda: world.archive_user(scene.admin, scene.end_user.id, token="ua-forged"),
    )


@pytest.mark.parametrize(
    "change",
    [
        {"method": "POST"},
        {"path": "/auth/users/us-aaaaa-bbbbb-cccccccccccccccc"},
        {"path": "/auth/users/{id}/"},
        {"path": "/Auth/users/{id}"},
        {"body": b"{}"},
        {"body": b" "},
    ],
)
def test_user_action_bound_to_method_path_and_body(scene: Scene, change: dict[str, object]) -> None:
    world = scene.world
    request = world.archive_request(scene.admin, scene.end_user.id)
    if "path" in change:
        change = {"path": str(change["path"]).format(id=scene.end_user.id)}
    tampered = attrs.evolve(request, **change)  # type: ignore[arg-type]
    before = snapshot(world)
    refused(
        Catalogue.USER_ACTION_INVALID, lambda: world.call(ARCHIVE_USER, tampered, scene.end_user.id)
    )
    assert snapshot(world) == before
    # the genuine request still works: the refusal consumed nothing
    assert world.call(ARCHIVE_USER, request, scene.end_user.id)["isActive"] is False


def test_user_action_bound_to_caller(scene: Scene) -> None:
    world = scene.world
    other_admin = world.actor(scene.org, full_admin=True)
    token = world.user_action(scene.admin, "DELETE", f"/auth/users/{scene.end_user.id}")
    refused(
        Catalogue.USER_ACTION_INVALID,
        lambda: world.archive_user(other_admin, scene.end_user.id, token=token),
    )


def test_user_action_for_another_target_is_403(scene: Scene) -> None:
    world = scene.world
    token = world.user_action(scene.admin, "DELETE", f"/auth/users/{scene.employee.id}")
    refused(
        Catalogue.USER_ACTION_INVALID,
        lambda: world.archive_user(scene.admin, scene.end_user.id, token=token),
    )


def test_replayed_user_action_is_400(scene: Scene) -> None:
    world = scene.world
    request = world.archive_request(scene.admin, scene.end_user.id)
    world.call(ARCHIVE_USER, request, scene.end_user.id)
    refused(
        Catalogue.USER_ACTION_REPLAYED, lambda: world.call(ARCHIVE_USER, request, scene.end_user.id)
    )


# --------------------------------------------------------------------------- 4-8. authorization and rules


def test_missing_update_is_403_with_exact_message(world: World) -> None:
    org = world.new_org()
    caller = world.actor(org, operations=["Auth:Types:EndUser"])
    target = world.actor(org, kind=UserKind.END_USER)
    refused(
        Catalogue.PERMISSION_DENIED,
        lambda: world.archive_user(caller, target.id),
        message=f"CustomerEmployee {caller.id} is not authorized to perform operation (Auth:Users:Update)",
    )


def test_missing_type_permission_is_403_with_exact_message(world: World) -> None:
    org = world.new_org()
    caller = world.actor(org, operations=["Auth:Users:Update", "Auth:Types:Employee"])
    target = world.actor(org, kind=UserKind.END_USER)
    refused(
        Catalogue.PERMISSION_DENIED,
        lambda: world.archive_user(caller, target.id),
        message=f"CustomerEmployee {caller.id} is not authorized to perform operation (Auth:Types:EndUser)",
    )


def test_end_user_caller_is_named_end_user(world: World) -> None:
    org = world.new_org()
    caller = world.actor(org, kind=UserKind.END_USER)
    target = world.actor(org)
    refused(
        Catalogue.PERMISSION_DENIED,
        lambda: world.archive_user(caller, target.id),
        message=f"EndUser {caller.id} is not authorized to perform operation (Auth:Users:Update)",
    )


def test_archived_permissions_grant_nothing(world: World) -> None:
    org = world.new_org()
    caller = world.actor(org)
    permission = world.provisioning.grant(caller.user, ["Auth:Users:Update", "Auth:Types:EndUser"])
    with world.store.lock:
        world.store.permissions[permission.id] = attrs.evolve(permission, is_archived=True)
    target = world.actor(org, kind=UserKind.END_USER)
    refused(
        Catalogue.PERMISSION_DENIED,
        lambda: world.archive_user(caller, target.id),
        message=f"CustomerEmployee {caller.id} is not authorized to perform operation (Auth:Users:Update)",
    )


@pytest.mark.parametrize(
    "user_id",
    [
        "us-BAD",
        "us-2mhcm-9r90a-92ran47bjpl60hm%76",
        "us-" + "a" * 70,
        "us-a",
        "../etc",
        "us-%D9%A1-a",
    ],
)
def test_malformed_user_id_is_400(scene: Scene, user_id: str) -> None:
    world = scene.world
    path = f"/auth/users/{user_id}"
    token = world.user_action(scene.admin, "DELETE", path)
    request = Request("DELETE", path, world.headers(scene.admin, **{"X-DFNS-USERACTION": token}))
    refused(Catalogue.USER_ID_MALFORMED, lambda: world.call(ARCHIVE_USER, request, user_id))


def test_unknown_other_org_and_archived_targets_share_one_404(scene: Scene) -> None:
    world = scene.world
    other_org = world.new_org()
    stranger = world.actor(other_org, kind=UserKind.END_USER)
    unknown = "us-aaaaa-bbbbb-cccccccccccccccc"
    errors = [
        refused(Catalogue.TARGET_NOT_FOUND, lambda: world.archive_user(scene.admin, unknown)),
        refused(Catalogue.TARGET_NOT_FOUND, lambda: world.archive_user(scene.admin, stranger.id)),
    ]
    world.archive_user(scene.admin, scene.end_user.id)
    errors.append(
        refused(
            Catalogue.TARGET_NOT_FOUND, lambda: world.archive_user(scene.admin, scene.end_user.id)
        )
    )
    assert len({(e.status, e.message, e.code, e.reason) for e in errors}) == 1
    assert world.fresh_user(stranger.user).is_active


def test_self_archive_is_400(scene: Scene) -> None:
    world = scene.world
    refused(Catalogue.SELF_ARCHIVE, lambda: world.archive_user(scene.admin, scene.admin.id))


def test_service_account_target_is_400(scene: Scene) -> None:
    world = scene.world
    robot = world.actor(scene.org, service_account=True)
    refused(Catalogue.SERVICE_ACCOUNT_TARGET, lambda: world.archive_user(scene.admin, robot.id))


# --------------------------------------------------------------------------- order of checks


def test_order_headers_before_authentication(scene: Scene) -> None:
    world = scene.world
    request = Request(
        "DELETE", f"/auth/users/{scene.end_user.id}", Headers([("X-DFNS-NONCE", "@@")])
    )
    refused(Catalogue.NONCE_INVALID, lambda: world.call(ARCHIVE_USER, request, scene.end_user.id))


def test_order_authentication_before_user_action(scene: Scene) -> None:
    world = scene.world
    request = Request(
        "DELETE", f"/auth/users/{scene.end_user.id}", Headers([("Authorization", "Bearer nope")])
    )
    refused(Catalogue.NOT_AUTHORIZED, lambda: world.call(ARCHIVE_USER, request, scene.end_user.id))


def test_order_user_action_before_update_permission(world: World) -> None:
    org = world.new_org()
    caller = world.actor(org)  # no permission at all
    target = world.actor(org)
    refused(
        Catalogue.USER_ACTION_INVALID, lambda: world.archive_user(caller, target.id, token="forged")
    )
    request = world.archive_request(caller, target.id)
    denial = (
        f"CustomerEmployee {caller.id} is not authorized to perform operation (Auth:Users:Update)"
    )
    refused(
        Catalogue.PERMISSION_DENIED,
        lambda: world.call(ARCHIVE_USER, request, target.id),
        message=denial,
    )
    # the refusal rolled the consumption back: the same token fails on permissions again,
    # not as a replay
    refused(
        Catalogue.PERMISSION_DENIED,
        lambda: world.call(ARCHIVE_USER, request, target.id),
        message=denial,
    )


def test_order_update_permission_before_id_syntax(world: World) -> None:
    org = world.new_org()
    caller = world.actor(org, operations=["Auth:Types:EndUser"])
    path = "/auth/users/us-BAD"
    token = world.user_action(caller, "DELETE", path)
    request = Request("DELETE", path, world.headers(caller, **{"X-DFNS-USERACTION": token}))
    refused(
        Catalogue.PERMISSION_DENIED,
        lambda: world.call(ARCHIVE_USER, request, "us-BAD"),
        message=f"CustomerEmployee {caller.id} is not authorized to perform operation (Auth:Users:Update)",
    )


def test_order_id_syntax_before_lookup(scene: Scene) -> None:
    world = scene.world
    path = "/auth/users/us-NOT-THERE"
    token = world.user_action(scene.admin, "DELETE", path)
    request = Request("DELETE", path, world.headers(scene.admin, **{"X-DFNS-USERACTION": token}))
    refused(Catalogue.USER_ID_MALFORMED, lambda: world.call(ARCHIVE_USER, request, "us-NOT-THERE"))


def test_order_lookup_before_type_permission(world: World) -> None:
    org = world.new_org()
    caller = world.actor(org, operations=["Auth:Users:Update"])  # no type permission
    stranger = world.actor(world.new_org(), kind=UserKind.END_USER)
    refused(Catalogue.TARGET_NOT_FOUND, lambda: world.archive_user(caller, stranger.id))
    local = world.actor(org, kind=UserKind.END_USER)
    refused(
        Catalogue.PERMISSION_DENIED,
        lambda: world.archive_user(caller, local.id),
        message=f"CustomerEmployee {caller.id} is not authorized to perform operation (Auth:Types:EndUser)",
    )


def test_order_type_permission_before_archive_rules(world: World) -> None:
    org = world.new_org()
    caller = world.actor(org, operations=["Auth:Users:Update", "Auth:Types:EndUser"])
    # archiving itself (an employee) without Auth:Types:Employee: the 403 wins over the 400
    refused(
        Catalogue.PERMISSION_DENIED,
        lambda: world.archive_user(caller, caller.id),
        message=f"CustomerEmployee {caller.id} is not authorized to perform operation (Auth:Types:Employee)",
    )


def test_order_replay_before_permissions(world: World) -> None:
    org = world.new_org()
    caller = world.actor(org, full_admin=True)
    target = world.actor(org)
    request = world.archive_request(caller, target.id)
    world.call(ARCHIVE_USER, request, target.id)
    # now the caller loses every permission: the replay is still what is reported
    with world.store.lock:
        world.store.identity_assignments[caller.user.id] = []
    refused(Catalogue.USER_ACTION_REPLAYED, lambda: world.call(ARCHIVE_USER, request, target.id))


def test_refusals_change_nothing(scene: Scene) -> None:
    world = scene.world
    cases: list[Callable[[], object]] = [
        lambda: world.archive_user(scene.admin, scene.admin.id),
        lambda: world.archive_user(scene.admin, "us-aaaaa-bbbbb-cccccccccccccccc"),
        lambda: world.archive_user(scene.employee, scene.end_user.id),
    ]
    for case in cases:
        before = snapshot(world)
        with pytest.raises(Exception):  # noqa: B017, PT011 - any refusal; the point is the state
            case()
        after = snapshot(world)
        # the only change a refusal may leave is a new unused user action grant (init+complete)
        assert after[0] == before[0] and after[2] == before[2]
        assert all(used is None for key, used in after[1].items() if key not in before[1])
