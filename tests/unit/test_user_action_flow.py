"""`InitUserAction` and `CompleteUserAction`: SPEC §3 and the assertion checks of §6."""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import timedelta
from typing import Any

import attrs
import pytest

from adapters.testing.fakes import FLAG_BE, FLAG_BS, FLAG_UP, FLAG_UV
from adapters.testing.world import Actor, Scene, World, b64
from archive_core.config import Policy
from archive_core.entities import CredentialKind, UserKind
from archive_core.errors import ArchiveCoreError, Catalogue
from archive_core.ids import UserId
from archive_core.requests import Request
from archive_core.use_cases import COMPLETE_USER_ACTION, INIT_USER_ACTION
from tests.unit.helpers import refused


def _init(world: World, actor: Actor, body: bytes | None = None, **headers: str) -> dict[str, Any]:
    body = body if body is not None else world.init_body("DELETE", "/auth/users/us-a-b")
    return world.call(
        INIT_USER_ACTION,
        Request("POST", "/auth/action/init", world.headers(actor, **headers), body),
    )


def _complete(world: World, actor: Actor, body: dict[str, Any] | bytes) -> dict[str, str]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return world.call(
        COMPLETE_USER_ACTION, Request("POST", "/auth/action", world.headers(actor), raw)
    )


def _signed(world: World, actor: Actor, challenge: dict[str, Any], **sign: Any) -> dict[str, Any]:
    return {
        "challengeIdentifier": challenge["challengeIdentifier"],
        "firstFactor": world.sign_challenge(actor, challenge, **sign),
    }


# --------------------------------------------------------------------------- init


def test_init_answers_the_spec_shape(scene: Scene) -> None:
    world = scene.world
    answer = _init(world, scene.admin)
    assert set(answer) == {
        "challenge",
        "challengeIdentifier",
        "supportedCredentialKinds",
        "allowCredentials",
        "userVerification",
        "rp",
        "externalAuthenticationUrl",
        "attestation",
    }
    assert answer["attestation"] == "none"
    assert answer["supportedCredentialKinds"] == [
        {"kind": "Key", "factor": "first", "requiresSecondFactor": False}
    ]
    assert answer["allowCredentials"] == {
        "key": [{"type": "public-key", "id": scene.admin.credential.cred_id}],  # type: ignore[union-attr]
        "passwordProtectedKey": [],
        "webauthn": [],
    }
    assert answer["rp"] == {"id": "localhost", "name": "archive-core"}
    assert answer["userVerification"] == "required"
    assert len(answer["challenge"]) == 43


def test_init_lists_only_active_credentials_of_every_kind(world: World) -> None:
    org = world.new_org()
    actor = world.actor(org, credential_kind=CredentialKind.FIDO2)
    ppk = world.add_credential(actor.user, CredentialKind.PASSWORD_PROTECTED_KEY)
    dead = world.add_credential(actor.user, CredentialKind.KEY)
    with world.store.lock:
        world.store.credentials[dead.uuid] = attrs.evolve(dead, is_active=False)
    answer = _init(world, actor)
    assert [k["kind"] for k in answer["supportedCredentialKinds"]] == [
        "Fido2",
        "PasswordProtectedKey",
    ]
    assert answer["allowCredentials"]["key"] == []
    assert answer["allowCredentials"]["webauthn"][0]["transports"] == []
    assert answer["allowCredentials"]["passwordProtectedKey"][0]["id"] == ppk.cred_id


def test_init_without_credentials_is_401(world: World) -> None:
    org = world.new_org()
    actor = world.actor(org, credential_kind=None)
    refused(Catalogue.NO_USABLE_CREDENTIAL, lambda: _init(world, actor))


def test_init_by_deactivated_user_is_400(scene: Scene) -> None:
    world = scene.world
    with world.store.lock:
        world.store.users[scene.admin.id] = attrs.evolve(scene.admin.user, is_active=False)  # type: ignore[index]
    refused(Catalogue.USER_DEACTIVATED, lambda: _init(world, scene.admin))


def test_init_by_unknown_or_archived_user_is_401_user_not_found(scene: Scene) -> None:
    world = scene.world
    token = world.bearer.issue(
        attrs.evolve(scene.admin.user, id=UserId("us-aaaaa-bbbbb-cccccccccccccccc")),
        now=world.clock.now(),
        ttl=timedelta(hours=1),
    )
    ghost = attrs.evolve(scene.admin, token=token)
    refused(Catalogue.SIGNING_USER_NOT_FOUND, lambda: _init(world, ghost))
    world.archive_user(scene.admin, scene.employee.id)
    refused(Catalogue.SIGNING_USER_NOT_FOUND, lambda: _init(world, scene.employee))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"userActionHttpMethod": "DELETE", "userActionHttpPath": "/x"}, "userActionPayload"),
        (
            {"userActionPayload": {}, "userActionHttpMethod": "DELETE", "userActionHttpPath": "/x"},
            "userActionPayload",
        ),
        (
            {"userActionPayload": "", "userActionHttpMethod": "PATCH", "userActionHttpPath": "/x"},
            "userActionHttpMethod",
        ),
        (
            {"userActionPayload": "", "userActionHttpMethod": "delete", "userActionHttpPath": "/x"},
            "userActionHttpMethod",
        ),
        (
            {"userActionPayload": "", "userActionHttpMethod": [], "userActionHttpPath": "/x"},
            "userActionHttpMethod",
        ),
        (
            {
                "userActionPayload": "",
                "userActionHttpMethod": "GET",
                "userActionHttpPath": "/x",
                "userActionServerKind": {},
            },
            "userActionServerKind",
        ),
        (
            {"userActionPayload": "", "userActionHttpMethod": "DELETE", "userActionHttpPath": "x"},
            "userActionHttpPath",
        ),
        (
            {
                "userActionPayload": "",
                "userActionHttpMethod": "DELETE",
                "userActionHttpPath": "/a b",
            },
            "userActionHttpPath",
        ),
        (
            {
                "userActionPayload": "",
                "userActionHttpMethod": "DELETE",
                "userActionHttpPath": "/x",
                "userActionServerKind": "Other",
            },
            "userActionServerKind",
        ),
    ],
)
def test_init_body_is_validated(scene: Scene, body: dict[str, Any], field: str) -> None:
    world = scene.world
    error = refused(
        Catalogue.BODY_INVALID,
        lambda: _init(world, scene.admin, json.dumps(body).encode()),
        message=None if False else _message_for(field),
    )
    assert field in error.message


def _message_for(field: str) -> str:
    return {
        "userActionPayload": "The request body is invalid: userActionPayload must be a string (the exact request body).",
        "userActionHttpMethod": "The request body is invalid: userActionHttpMethod must be one of POST, PUT, DELETE, GET.",
        "userActionHttpPath": "The request body is invalid: userActionHttpPath must be an absolute request path.",
        "userActionServerKind": "The request body is invalid: userActionServerKind must be Api or Staff.",
    }[field]


@pytest.mark.parametrize("raw", [b"", b"[]", b"{", b'{"a":1,"a":2}', b"\xff"])
def test_init_body_must_be_strict_json_object(scene: Scene, raw: bytes) -> None:
    world = scene.world
    refused(Catalogue.JSON_MALFORMED, lambda: _init(world, scene.admin, raw))


# --------------------------------------------------------------------------- complete


def test_complete_issues_a_token_bound_to_the_requested_action(scene: Scene) -> None:
    world = scene.world
    challenge = _init(world, scene.admin, world.init_body("DELETE", "/auth/users/us-a-b", "{}"))
    token = _complete(world, scene.admin, _signed(world, scene.admin, challenge))["userAction"]
    grant = world.codec.decode(token)
    assert (grant.method, grant.path) == ("DELETE", "/auth/users/us-a-b")
    assert grant.payload_sha256 == hashlib.sha256(b"{}").hexdigest()
    assert grant.user_id == scene.admin.id
    assert grant.credential_uuid == scene.admin.credential.uuid  # type: ignore[union-attr]
    assert grant.expires_at - grant.issued_at == timedelta(minutes=5)


def test_typescript_sdk_client_data_without_origin_verifies(scene: Scene) -> None:
    world = scene.world
    challenge = _init(world, scene.admin)
    client_data = {"type": "key.get", "challenge": challenge["challenge"]}
    assert _complete(
        world, scene.admin, _signed(world, scene.admin, challenge, client_data=client_data)
    )


def test_challenge_is_single_use(scene: Scene) -> None:
    world = scene.world
    challenge = _init(world, scene.admin)
    body = _signed(world, scene.admin, challenge)
    _complete(world, scene.admin, body)
    refused(Catalogue.CHALLENGE_INVALID, lambda: _complete(world, scene.admin, body))


def test_failed_verification_burns_the_challenge(scene: Scene) -> None:
    world = scene.world
    challenge = _init(world, scene.admin)
    bad = _signed(world, scene.admin, challenge, client_data={"type": "key.get", "challenge": "x"})
    refused(Catalogue.ASSERTION_INVALID, lambda: _complete(world, scene.admin, bad))
    refused(
        Catalogue.CHALLENGE_INVALID,
        lambda: _complete(world, scene.admin, _signed(world, scene.admin, challenge)),
    )


def test_foreign_challenge_is_invalid_and_not_burnt(scene: Scene) -> None:
    world = scene.world
    challenge = _init(world, scene.admin)
    refused(
        Catalogue.CHALLENGE_INVALID,
        lambda: _complete(world, scene.employee, _signed(world, scene.employee, challenge)),
    )
    assert _complete(world, scene.admin, _signed(world, scene.admin, challenge))["userAction"]


def test_expired_challenge_is_invalid_at_the_exact_limit(scene: Scene) -> None:
    world = scene.world
    challenge = _init(world, scene.admin)
    world.clock.advance(timedelta(minutes=5) - timedelta(microseconds=1))
    assert _complete(world, scene.admin, _signed(world, scene.admin, challenge))
    late = _init(world, scene.admin)
    world.clock.advance(timedelta(minutes=5))
    refused(
        Catalogue.CHALLENGE_INVALID,
        lambda: _complete(world, scene.admin, _signed(world, scene.admin, late)),
    )


@pytest.mark.parametrize("identifier", [None, 12, "", "x" * 600, "not-issued"])
def test_bad_challenge_identifiers(scene: Scene, identifier: object) -> None:
    world = scene.world
    challenge = _init(world, scene.admin)
    body = _signed(world, scene.admin, challenge)
    body["challengeIdentifier"] = identifier
    refused(Catalogue.CHALLENGE_INVALID, lambda: _complete(world, scene.admin, body))


@pytest.mark.parametrize(
    ("client_data", "reason"),
    [
        (b"not json", "client_data_malformed"),
        (b"[]", "client_data_malformed"),
        (b'{"type":"key.get","type":"key.get"}', "client_data_malformed"),
        ({"type": "webauthn.get", "challenge": "{c}"}, "client_data_type"),
        ({"type": "key.create", "challenge": "{c}"}, "client_data_type"),
        ({"challenge": "{c}"}, "client_data_type"),
        ({"type": "key.get", "challenge": "wrong"}, "challenge_mismatch"),
        ({"type": "key.get", "challenge": None}, "challenge_mismatch"),
        ({"type": "key.get", "challenge": "{c}", "origin": 5}, "origin_malformed"),
        (
            {"type": "key.get", "challenge": "{c}", "crossOrigin": "false"},
            "cross_origin_not_boolean",
        ),
        ({"type": "key.get", "challenge": "{c}", "crossOrigin": 0}, "cross_origin_not_boolean"),
        ({"type": "key.get", "challenge": "{c}", "crossOrigin": True}, "cross_origin_not_allowed"),
        (
            {"type": "key.get", "challenge": "{c}", "topOrigin": "https://evil"},
            "top_origin_not_allowed",
        ),
    ],
)
def test_client_data_checks(scene: Scene, client_data: dict[str, Any] | bytes, reason: str) -> None:
    world = scene.world
    challenge = _init(world, scene.admin)
    if isinstance(client_data, dict):
        client_data = {
            k: (challenge["challenge"] if v == "{c}" else v) for k, v in client_data.items()
        }
    body = _signed(world, scene.admin, challenge, client_data=client_data)
    error = refused(Catalogue.ASSERTION_INVALID, lambda: _complete(world, scene.admin, body))
    assert error.reason == reason


def test_key_origin_checked_only_when_configured() -> None:
    world = World(policy=Policy(key_origins=frozenset({"https://app.example"})))
    org = world.new_org()
    actor = world.actor(org)
    for origin, ok in (("https://app.example", True), ("https://app", False), (None, False)):
        challenge = _init(world, actor)
        client_data: dict[str, Any] = {"type": "key.get", "challenge": challenge["challenge"]}
        if origin is not None:
            client_data["origin"] = origin
        body = _signed(world, actor, challenge, client_data=client_data)
        if ok:
            assert _complete(world, actor, body)
        else:
            error = refused(
                Catalogue.ASSERTION_INVALID, functools.partial(_complete, world, actor, body)
            )
            assert error.reason == "origin_not_allowed"


def test_cross_origin_allowed_by_policy_with_top_origin() -> None:
    world = World(
        policy=Policy(allow_cross_origin=True, allowed_top_origins=frozenset({"https://top"}))
    )
    org = world.new_org()
    actor = world.actor(org)
    challenge = _init(world, actor)
    data = {
        "type": "key.get",
        "challenge": challenge["challenge"],
        "crossOrigin": True,
        "topOrigin": "https://top",
    }
    assert _complete(world, actor, _signed(world, actor, challenge, client_data=data))
    challenge = _init(world, actor)
    data = {**data, "challenge": challenge["challenge"], "topOrigin": "https://other"}
    assert (
        refused(
            Catalogue.ASSERTION_INVALID,
            lambda: _complete(world, actor, _signed(world, actor, challenge, client_data=data)),
        ).reason
        == "top_origin_not_allowed"
    )


def test_bad_signature_is_401(scene: Scene) -> None:
    world = scene.world
    challenge = _init(world, scene.admin)
    body = _signed(world, scene.admin, challenge)
    body["firstFactor"]["credentialAssertion"]["signature"] = b64(b"\x00" * 32)
    assert (
        refused(Catalogue.ASSERTION_INVALID, lambda: _complete(world, scene.admin, body)).reason
        == "signature_invalid"
    )


def test_credential_of_another_user_inactive_or_wrong_kind(scene: Scene) -> None:
    world = scene.world
    challenge = _init(world, scene.admin)
    stolen = world.sign_challenge(scene.employee, challenge)
    refused(
        Catalogue.NO_USABLE_CREDENTIAL,
        lambda: _complete(
            world,
            scene.admin,
            {"challengeIdentifier": challenge["challengeIdentifier"], "firstFactor": stolen},
        ),
    )

    # a passkey stated as a Key: another family, refused before any verification
    passkey = world.add_credential(scene.admin.user, CredentialKind.FIDO2)
    challenge = _init(world, scene.admin)
    body = _signed(world, scene.admin, challenge, credential=passkey)
    body["firstFactor"]["kind"] = "Key"
    refused(Catalogue.NO_USABLE_CREDENTIAL, lambda: _complete(world, scene.admin, body))

    challenge = _init(world, scene.admin)
    credential = scene.admin.credential
    assert credential is not None
    with world.store.lock:
        world.store.credentials[credential.uuid] = attrs.evolve(credential, is_active=False)
    refused(
        Catalogue.NO_USABLE_CREDENTIAL,
        lambda: _complete(world, scene.admin, _signed(world, scene.admin, challenge)),
    )


def test_credential_added_after_init_is_not_offered(scene: Scene) -> None:
    world = scene.world
    challenge = _init(world, scene.admin)
    late = world.add_credential(scene.admin.user, CredentialKind.KEY)
    body = _signed(world, scene.admin, challenge, credential=late)
    refused(Catalogue.NO_USABLE_CREDENTIAL, lambda: _complete(world, scene.admin, body))


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.pop("firstFactor"), "firstFactor"),
        (lambda b: b["firstFactor"].update(kind="Secret"), "firstFactor.kind"),
        (
            lambda b: b["firstFactor"].update(credentialAssertion=[]),
            "firstFactor.credentialAssertion",
        ),
        (
            lambda b: b["firstFactor"]["credentialAssertion"].pop("credId"),
            "firstFactor.credentialAssertion.credId",
        ),
        (
            lambda b: b["firstFactor"]["credentialAssertion"].update(clientData="a=="),
            "firstFactor.credentialAssertion.clientData",
        ),
        (
            lambda b: b["firstFactor"]["credentialAssertion"].update(signature=""),
            "firstFactor.credentialAssertion.signature",
        ),
        (
            lambda b: b["firstFactor"]["credentialAssertion"].update(signature="A" * 5000),
            "firstFactor.credentialAssertion.signature",
        ),
        (lambda b: b.update(secondFactor=b["firstFactor"]), "secondFactor"),
    ],
)
def test_complete_body_is_validated(scene: Scene, mutate: Any, field: str) -> None:
    world = scene.world
    challenge = _init(world, scene.admin)
    body = _signed(world, scene.admin, challenge)
    mutate(body)
    error = refused(
        Catalogue.BODY_INVALID,
        lambda: _complete(world, scene.admin, body),
        message=_body_message(field),
    )
    assert error.code == "body_invalid"


def _body_message(field: str) -> str:
    if field == "secondFactor":
        return "The request body is invalid: secondFactor must use another credential."
    return f"The request body is invalid: {field} is missing or malformed."


def test_second_factor_must_verify_too(scene: Scene) -> None:
    world = scene.world
    second = world.add_credential(scene.admin.user, CredentialKind.PASSWORD_PROTECTED_KEY)
    challenge = _init(world, scene.admin)
    body = _signed(world, scene.admin, challenge)
    body["secondFactor"] = world.sign_challenge(scene.admin, challenge, credential=second)
    assert _complete(world, scene.admin, body)["userAction"]
    challenge = _init(world, scene.admin)
    body = _signed(world, scene.admin, challenge)
    body["secondFactor"] = world.sign_challenge(scene.admin, challenge, credential=second)
    body["secondFactor"]["credentialAssertion"]["signature"] = b64(b"bad")
    refused(Catalogue.ASSERTION_INVALID, lambda: _complete(world, scene.admin, body))


# --------------------------------------------------------------------------- Fido2 (core's part)


@pytest.fixture
def fido(world: World) -> tuple[World, Actor]:
    org = world.new_org()
    return world, world.actor(org, credential_kind=CredentialKind.FIDO2, kind=UserKind.END_USER)


def test_fido2_assertion_verifies_and_stores_the_counter(fido: tuple[World, Actor]) -> None:
    world, actor = fido
    challenge = _init(world, actor)
    _complete(world, actor, _signed(world, actor, challenge, sign_count=7))
    assert actor.credential is not None
    assert world.store.credentials[actor.credential.uuid].sign_count == 7


@pytest.mark.parametrize(
    ("sign", "reason"),
    [
        ({"flags": FLAG_UV}, "user_not_present"),
        ({"flags": FLAG_UP}, "user_not_verified"),
        ({"flags": FLAG_UP | FLAG_UV | FLAG_BS}, "backup_state_without_eligibility"),
        ({"rp_id": "evil.example"}, "rp_id_hash_mismatch"),
    ],
)
def test_fido2_flag_and_rp_checks(
    fido: tuple[World, Actor], sign: dict[str, Any], reason: str
) -> None:
    world, actor = fido
    challenge = _init(world, actor)
    error = refused(
        Catalogue.ASSERTION_INVALID,
        lambda: _complete(world, actor, _signed(world, actor, challenge, **sign)),
    )
    assert error.reason == reason


def test_fido2_backup_state_with_eligibility_is_fine(fido: tuple[World, Actor]) -> None:
    world, actor = fido
    challenge = _init(world, actor)
    assert _complete(
        world, actor, _signed(world, actor, challenge, flags=FLAG_UP | FLAG_UV | FLAG_BE | FLAG_BS)
    )


def test_fido2_uv_not_needed_when_discouraged() -> None:
    world = World(policy=Policy(user_verification="discouraged"))
    actor = world.actor(world.new_org(), credential_kind=CredentialKind.FIDO2)
    challenge = _init(world, actor)
    assert _complete(world, actor, _signed(world, actor, challenge, flags=FLAG_UP))


def test_fido2_origin_always_checked(fido: tuple[World, Actor]) -> None:
    world, actor = fido
    challenge = _init(world, actor)
    data = {"type": "webauthn.get", "challenge": challenge["challenge"]}
    assert (
        refused(
            Catalogue.ASSERTION_INVALID,
            lambda: _complete(world, actor, _signed(world, actor, challenge, client_data=data)),
        ).reason
        == "origin_not_allowed"
    )


def test_fido2_counter_rollback_refused_and_stored_counter_kept(fido: tuple[World, Actor]) -> None:
    world, actor = fido
    assert actor.credential is not None
    _complete(world, actor, _signed(world, actor, _init(world, actor), sign_count=10))
    for count in (10, 3):
        challenge = _init(world, actor)
        body = _signed(world, actor, challenge, sign_count=count)
        error = refused(
            Catalogue.ASSERTION_INVALID, functools.partial(_complete, world, actor, body)
        )
        assert error.reason == "sign_count_rollback"
        assert world.store.credentials[actor.credential.uuid].sign_count == 10


def test_fido2_zero_counters_are_allowed(fido: tuple[World, Actor]) -> None:
    world, actor = fido
    for _ in range(2):
        assert _complete(world, actor, _signed(world, actor, _init(world, actor), sign_count=0))


def test_fido2_counter_not_stored_when_a_later_check_fails(fido: tuple[World, Actor]) -> None:
    world, actor = fido
    assert actor.credential is not None
    challenge = _init(world, actor)
    body = _signed(world, actor, challenge, sign_count=50)
    body["firstFactor"]["credentialAssertion"]["signature"] = b64(b"x" * 32)
    refused(Catalogue.ASSERTION_INVALID, lambda: _complete(world, actor, body))
    assert world.store.credentials[actor.credential.uuid].sign_count == 0


def test_fido2_user_handle(fido: tuple[World, Actor]) -> None:
    world, actor = fido
    challenge = _init(world, actor)
    body = _signed(world, actor, challenge)
    body["firstFactor"]["credentialAssertion"]["userHandle"] = b64(actor.id.encode())
    assert _complete(world, actor, body)
    challenge = _init(world, actor)
    body = _signed(world, actor, challenge)
    body["firstFactor"]["credentialAssertion"]["userHandle"] = b64(b"us-someone-else")
    assert (
        refused(Catalogue.ASSERTION_INVALID, lambda: _complete(world, actor, body)).reason
        == "user_handle_mismatch"
    )


def test_fido2_requires_authenticator_data(fido: tuple[World, Actor]) -> None:
    world, actor = fido
    challenge = _init(world, actor)
    body = _signed(world, actor, challenge)
    del body["firstFactor"]["credentialAssertion"]["authenticatorData"]
    refused(
        Catalogue.BODY_INVALID,
        lambda: _complete(world, actor, body),
        message=_body_message("firstFactor.credentialAssertion.authenticatorData"),
    )


def test_only_domain_errors_escape_for_garbage(scene: Scene) -> None:
    world = scene.world
    for raw in (
        b"null",
        b"1",
        b'"x"',
        b'{"firstFactor": null}',
        b'{"challengeIdentifier": "a", "firstFactor": {"kind": "Key", "credentialAssertion": {"credId": 1}}}',
    ):
        with pytest.raises(ArchiveCoreError):
            _complete(world, scene.admin, raw)
