"""What the official signers really send (SPEC §3 updated), at the core: the two challenge
forms of passkeys, `userHandle: ""`, the Key / PasswordProtectedKey family, the two origin
allow-lists, the deprecated factors and recovery keys that never sign."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.testing.world import Actor, World
from archive_core.config import Policy
from archive_core.encoding import b64url_encode
from archive_core.entities import CredentialKind
from archive_core.errors import Catalogue
from archive_core.requests import Request
from archive_core.use_cases import COMPLETE_USER_ACTION, INIT_USER_ACTION
from tests.unit.conftest import Scene
from tests.unit.helpers import refused

ORIGIN = "http://localhost"


def _init(world: World, actor: Actor) -> dict[str, Any]:
    body = world.init_body("DELETE", "/auth/users/us-a-b")
    return world.call(
        INIT_USER_ACTION, Request("POST", "/auth/action/init", world.headers(actor), body)
    )


def _complete(world: World, actor: Actor, challenge: dict[str, Any], factor: Any) -> str:
    body = {"challengeIdentifier": challenge["challengeIdentifier"], "firstFactor": factor}
    raw = json.dumps(body).encode()
    return str(
        world.call(
            COMPLETE_USER_ACTION, Request("POST", "/auth/action", world.headers(actor), raw)
        )["userAction"]
    )


def _passkey_client_data(challenge_field: str) -> dict[str, Any]:
    return {
        "type": "webauthn.get",
        "challenge": challenge_field,
        "origin": ORIGIN,
        "crossOrigin": False,
    }


# --------------------------------------------------------------------------- passkeys


def test_browser_passkey_challenge_is_base64url_of_the_challenge_string(scene: Scene) -> None:
    world = scene.world
    passkey = world.add_credential(scene.admin.user, CredentialKind.FIDO2)
    challenge = _init(world, scene.admin)
    # @dfns/sdk-browser: navigator.credentials.get({challenge: Buffer.from(challenge)})
    browser_form = b64url_encode(challenge["challenge"].encode("utf-8"))
    factor = world.sign_challenge(
        scene.admin,
        challenge,
        credential=passkey,
        client_data=_passkey_client_data(browser_form),
    )
    assert _complete(world, scene.admin, challenge, factor).startswith("ua")


def test_react_native_passkey_challenge_is_the_challenge_itself(scene: Scene) -> None:
    world = scene.world
    passkey = world.add_credential(scene.admin.user, CredentialKind.FIDO2)
    challenge = _init(world, scene.admin)
    factor = world.sign_challenge(
        scene.admin,
        challenge,
        credential=passkey,
        client_data=_passkey_client_data(challenge["challenge"]),
    )
    assert _complete(world, scene.admin, challenge, factor)


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(lambda c: b64url_encode(b64url_encode(c.encode()).encode()), id="twice"),
        pytest.param(lambda c: c + "=", id="padded"),
        pytest.param(lambda c: b64url_encode(c.encode()) + "A", id="browser-form-plus-one"),
        pytest.param(lambda c: c.upper(), id="case-folded"),
        pytest.param(lambda c: "", id="empty"),
    ],
)
def test_no_other_passkey_challenge_form_is_accepted(scene: Scene, form: Any) -> None:
    world = scene.world
    passkey = world.add_credential(scene.admin.user, CredentialKind.FIDO2)
    challenge = _init(world, scene.admin)
    factor = world.sign_challenge(
        scene.admin,
        challenge,
        credential=passkey,
        client_data=_passkey_client_data(form(challenge["challenge"])),
    )
    error = refused(
        Catalogue.ASSERTION_INVALID, lambda: _complete(world, scene.admin, challenge, factor)
    )
    assert error.reason == "challenge_mismatch"


def test_key_signers_send_the_challenge_string_only(scene: Scene) -> None:
    world = scene.world
    challenge = _init(world, scene.admin)
    browser_form = b64url_encode(challenge["challenge"].encode("utf-8"))
    factor = world.sign_challenge(
        scene.admin, challenge, client_data={"type": "key.get", "challenge": browser_form}
    )
    error = refused(
        Catalogue.ASSERTION_INVALID, lambda: _complete(world, scene.admin, challenge, factor)
    )
    assert error.reason == "challenge_mismatch"


def test_empty_user_handle_is_absent(scene: Scene) -> None:
    world = scene.world
    passkey = world.add_credential(scene.admin.user, CredentialKind.FIDO2)
    challenge = _init(world, scene.admin)
    factor = world.sign_challenge(scene.admin, challenge, credential=passkey)
    factor["credentialAssertion"]["userHandle"] = ""
    assert _complete(world, scene.admin, challenge, factor)

    challenge = _init(world, scene.admin)
    factor = world.sign_challenge(scene.admin, challenge, credential=passkey, sign_count=2)
    factor["credentialAssertion"]["userHandle"] = b64url_encode(b"someone-else")
    error = refused(
        Catalogue.ASSERTION_INVALID, lambda: _complete(world, scene.admin, challenge, factor)
    )
    assert error.reason == "user_handle_mismatch"


# --------------------------------------------------------------------------- key kinds


def test_password_protected_key_answering_as_key_is_verified_as_stored(scene: Scene) -> None:
    world = scene.world
    org = scene.org
    owner = world.actor(org, credential_kind=CredentialKind.PASSWORD_PROTECTED_KEY)
    challenge = _init(world, owner)
    assert owner.credential is not None
    [offered] = challenge["allowCredentials"]["passwordProtectedKey"]
    assert offered["id"] == owner.credential.cred_id
    factor = world.sign_challenge(owner, challenge)
    assert factor["kind"] == "PasswordProtectedKey"
    factor["kind"] = "Key"  # what the SDK's password-protected-key signer answers
    assert _complete(world, owner, challenge, factor)
    with world.store.lock:
        [record] = world.store.user_actions.values()
    assert record.evidence[0].credential_kind is CredentialKind.PASSWORD_PROTECTED_KEY


def test_key_answering_as_password_protected_key_is_one_family(scene: Scene) -> None:
    world = scene.world
    challenge = _init(world, scene.admin)
    factor = world.sign_challenge(scene.admin, challenge)
    factor["kind"] = "PasswordProtectedKey"
    assert _complete(world, scene.admin, challenge, factor)


def test_setting_passkey_origins_never_affects_key_signers() -> None:
    world = World(policy=Policy(webauthn_origins=frozenset({"https://wallet.example"})))
    org = world.new_org()
    actor = world.actor(org)
    for origin in ("https://app.dfns.io", None):  # the Python SDK's, the TypeScript SDK's
        challenge = _init(world, actor)
        client_data: dict[str, Any] = {"type": "key.get", "challenge": challenge["challenge"]}
        if origin is not None:
            client_data["origin"] = origin
        factor = world.sign_challenge(actor, challenge, client_data=client_data)
        assert _complete(world, actor, challenge, factor)


def test_key_origin_allow_list_is_checked_once_set() -> None:
    world = World(policy=Policy(key_origins=frozenset({"https://app.dfns.io"})))
    org = world.new_org()
    actor = world.actor(org)
    challenge = _init(world, actor)
    factor = world.sign_challenge(
        actor,
        challenge,
        client_data={"type": "key.get", "challenge": challenge["challenge"]},
    )
    error = refused(Catalogue.ASSERTION_INVALID, lambda: _complete(world, actor, challenge, factor))
    assert error.reason == "origin_not_allowed"


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("factor_kind", ["Password", "Totp"])
def test_deprecated_factors_are_named_and_refused(scene: Scene, factor_kind: str) -> None:
    world = scene.world
    challenge = _init(world, scene.admin)
    factor = world.sign_challenge(scene.admin, challenge)
    factor["kind"] = factor_kind
    refused(
        Catalogue.FACTOR_NOT_SUPPORTED,
        lambda: _complete(world, scene.admin, challenge, factor),
        message=f"{factor_kind} credentials are not supported for user actions.",
    )


def test_a_recovery_key_is_never_offered(scene: Scene) -> None:
    world = scene.world
    org = scene.org
    recovering = world.actor(org, credential_kind=CredentialKind.RECOVERY_KEY)
    refused(Catalogue.NO_USABLE_CREDENTIAL, lambda: _init(world, recovering))

    world.add_credential(scene.admin.user, CredentialKind.RECOVERY_KEY)
    challenge = _init(world, scene.admin)
    assert challenge["supportedCredentialKinds"] == [
        {"kind": "Key", "factor": "first", "requiresSecondFactor": False}
    ]
    assert scene.admin.credential is not None
    offered = [c["id"] for group in challenge["allowCredentials"].values() for c in group]
    assert offered == [scene.admin.credential.cred_id]


@pytest.mark.parametrize("stated", ["RecoveryKey", "Key", "PasswordProtectedKey"])
def test_a_recovery_key_assertion_is_refused_under_any_kind(scene: Scene, stated: str) -> None:
    world = scene.world
    recovery = world.add_credential(scene.admin.user, CredentialKind.RECOVERY_KEY)
    challenge = _init(world, scene.admin)
    factor = world.sign_challenge(scene.admin, challenge, credential=recovery)
    factor["kind"] = stated
    error = refused(
        Catalogue.NO_USABLE_CREDENTIAL, lambda: _complete(world, scene.admin, challenge, factor)
    )
    assert error.reason == "recovery_key_cannot_sign"


def test_a_recovery_kind_naming_an_unknown_credential_is_refused(scene: Scene) -> None:
    world = scene.world
    challenge = _init(world, scene.admin)
    factor = world.sign_challenge(scene.admin, challenge)
    factor["kind"] = "RecoveryKey"
    factor["credentialAssertion"]["credId"] = "no-such-credential"
    error = refused(
        Catalogue.NO_USABLE_CREDENTIAL, lambda: _complete(world, scene.admin, challenge, factor)
    )
    assert error.reason == "recovery_key_cannot_sign"


def test_another_users_recovery_key_is_just_unusable(scene: Scene) -> None:
    world = scene.world
    foreign = world.add_credential(scene.employee.user, CredentialKind.RECOVERY_KEY)
    challenge = _init(world, scene.admin)
    factor = world.sign_challenge(scene.admin, challenge, credential=foreign)
    factor["kind"] = "Key"
    error = refused(
        Catalogue.NO_USABLE_CREDENTIAL, lambda: _complete(world, scene.admin, challenge, factor)
    )
    assert error.reason == "credential_not_usable"  # nothing learnt about a foreign credId
