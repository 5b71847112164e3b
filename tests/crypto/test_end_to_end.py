"""The core's use cases with the real crypto adapters: init → sign → complete → archive.

Key credentials sign with the official Python SDK (`dfns_sdk.KeySigner`), Fido2
credentials with the software authenticator; bearer tokens are JWTs and user
action tokens HMAC tokens, both signed with keys generated on first use. Storage
is the in-memory adapter (its own contract suite proves it stands for the others).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import attrs
import pytest
from dfns_sdk.auth import KeySigner  # type: ignore[import-untyped]  # the SDK ships no types

from adapters.crypto.keys import KeyChoice, generate_key_credential
from adapters.crypto.tokens import JwtBearerTokens
from adapters.storage.memory import (
    MemoryChallengeStore,
    MemoryReplayGuard,
    MemorySigningKeyStore,
    MemoryStore,
)
from adapters.storage.urls import Storage
from adapters.system.clocks import ManualClock
from adapters.system.randomness import SeededRandomness
from adapters.wiring.bootstrap import build
from archive_core.config import Policy
from archive_core.entities import FULL_ADMIN, Credential, CredentialKind, TokenKind, User, UserKind
from archive_core.errors import ArchiveCoreError
from archive_core.ids import OrgId
from archive_core.requests import Headers, Request
from archive_core.use_cases import ARCHIVE_USER, COMPLETE_USER_ACTION, INIT_USER_ACTION
from archive_core.user_action import reverify_evidence
from tests.crypto.authenticator import SoftwareAuthenticator

RP_ID = "app.example"
ORIGIN = "https://app.example"


class CryptoWorld:
    """The use cases wired by production's `build`, with its crypto adapters (unfaked)."""

    def __init__(self) -> None:
        self.policy = Policy(rp_id=RP_ID, webauthn_origins=frozenset({ORIGIN}))
        self.clock = ManualClock()
        self.randomness = SeededRandomness(11)
        self.store = MemoryStore()
        storage = Storage(
            uow_factory=self.store,
            challenges=MemoryChallengeStore(),
            replay_guard=MemoryReplayGuard(),
            signing_keys=MemorySigningKeyStore(),
        )
        deployment = build(
            storage=storage,
            policy=self.policy,
            clock=self.clock,
            randomness=self.randomness,
            issuer="https://auth.archive-core.test",
            audience="archive-core:api",
        )
        assert isinstance(deployment.bearer_tokens, JwtBearerTokens)  # production's, unfaked
        self.bearer = deployment.bearer_tokens
        self.verifiers = deployment.verifiers
        self.endpoints = deployment.endpoints
        self.provisioning = deployment.provisioning
        self.org: OrgId = self.provisioning.new_org_id()

    def user(self, name: str, *, admin: bool = False) -> User:
        user = self.provisioning.create_user(self.org, f"{name}@example.co", UserKind.END_USER)
        if admin:
            self.provisioning.assign(
                self.provisioning.create_permission(self.org, FULL_ADMIN, ()), user
            )
        return user

    def token(self, user: User) -> str:
        return self.bearer.issue(
            user, now=self.clock.now(), ttl=timedelta(hours=1), token_kind=TokenKind.LOGIN
        )

    def request(
        self, method: str, path: str, token: str, body: bytes = b"", *, user_action: str = ""
    ) -> Request:
        pairs = [("Authorization", f"Bearer {token}")]
        if user_action:
            pairs.append(("X-DFNS-USERACTION", user_action))
        return Request(method, path, Headers(pairs), body)

    def challenge(self, token: str, path: str) -> dict[str, Any]:
        body = {
            "userActionPayload": "",
            "userActionHttpMethod": "DELETE",
            "userActionHttpPath": path,
            "userActionServerKind": "Api",
        }
        request = self.request("POST", "/auth/action/init", token, json.dumps(body).encode())
        return dict(self.endpoints.handler(INIT_USER_ACTION)(request).document or {})

    def complete_with(self, token: str, challenge: dict[str, Any], factor: dict[str, Any]) -> str:
        body = {"challengeIdentifier": challenge["challengeIdentifier"], "firstFactor": factor}
        request = self.request("POST", "/auth/action", token, json.dumps(body).encode())
        answer = self.endpoints.handler(COMPLETE_USER_ACTION)(request).document or {}
        return str(answer["userAction"])

    def archive_with(self, token: str, target: User, user_action: str) -> dict[str, Any]:
        path = f"/auth/users/{target.id}"
        request = self.request("DELETE", path, token, user_action=user_action)
        request = attrs.evolve(request, params={"userId": target.id})
        return dict(self.endpoints.handler(ARCHIVE_USER)(request).document or {})


Signer = Callable[[dict[str, Any]], dict[str, Any]]


def with_key(world: CryptoWorld, user: User, choice: KeyChoice) -> tuple[Credential, Signer]:
    private_pem, public_pem, algorithm = generate_key_credential(choice)
    credential = world.provisioning.register_credential(
        user,
        kind=CredentialKind.KEY,
        cred_id=f"key-{choice}",
        public_key=public_pem,
        algorithm=algorithm,
    )
    signer = KeySigner(credential_id=credential.cred_id, private_key=private_pem)
    return credential, lambda challenge: dict(signer.sign(challenge))


def with_authenticator(world: CryptoWorld, user: User, algorithm: str) -> tuple[Credential, Signer]:
    device = SoftwareAuthenticator(algorithm, cred_id=f"soft-{algorithm}".encode())  # type: ignore[arg-type]
    credential = world.provisioning.register_credential(
        user,
        kind=CredentialKind.FIDO2,
        cred_id=device.cred_id,
        public_key=device.public_key,
        algorithm=device.cose_algorithm,
    )

    def sign(challenge: dict[str, Any]) -> dict[str, Any]:
        return device.get_assertion(
            challenge=challenge["challenge"],
            origin=ORIGIN,
            rp_id=RP_ID,
            user_handle=user.id.encode(),
        )

    return credential, sign


SIGNERS: list[tuple[str, Callable[[CryptoWorld, User], tuple[Credential, Signer]]]] = [
    ("key-ed25519", lambda w, u: with_key(w, u, "ed25519")),
    ("key-p256", lambda w, u: with_key(w, u, "p256")),
    ("key-secp256k1", lambda w, u: with_key(w, u, "secp256k1")),
    ("key-rsa", lambda w, u: with_key(w, u, "rsa")),
    ("fido2-es256", lambda w, u: with_authenticator(w, u, "ES256")),
    ("fido2-eddsa", lambda w, u: with_authenticator(w, u, "EdDSA")),
]


@pytest.mark.parametrize("make_signer", [pytest.param(make, id=name) for name, make in SIGNERS])
def test_archive_a_user_through_the_real_crypto(
    make_signer: Callable[[CryptoWorld, User], tuple[Credential, Signer]],
) -> None:
    world = CryptoWorld()
    admin, target = world.user("admin", admin=True), world.user("target")
    world.user("second-admin", admin=True)  # the lock-out guard wants another archiver
    credential, sign = make_signer(world, admin)
    token = world.token(admin)
    path = f"/auth/users/{target.id}"

    challenge = world.challenge(token, path)
    assert challenge["allowCredentials"]
    user_action = world.complete_with(token, challenge, sign(challenge))
    assert user_action.startswith("ua1.")
    answer = world.archive_with(token, target, user_action)

    assert answer["userId"] == target.id and answer["isActive"] is False
    with world.store() as uow:
        (record,) = uow.audit.records(world.org)
    (evidence,) = record.evidence
    assert evidence.credential_uuid == credential.uuid
    reverify_evidence(evidence, world.verifiers)  # the kept signature still verifies offline


def test_the_three_calls_of_a_flow_verify_the_bearer_signature_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = CryptoWorld()
    admin, target = world.user("admin", admin=True), world.user("target")
    world.user("second-admin", admin=True)
    _, sign = with_key(world, admin, "p256")
    token = world.token(admin)
    key = world.bearer.ring.signing_key(now=world.clock.now())
    algorithm = type(key.jwt_algorithm)
    real = algorithm.verify
    calls: list[bytes] = []

    def counting(self: Any, msg: bytes, verifier: Any, sig: bytes) -> bool:
        calls.append(msg)
        return bool(real(self, msg, verifier, sig))

    monkeypatch.setattr(algorithm, "verify", counting)
    challenge = world.challenge(token, f"/auth/users/{target.id}")
    world.clock.advance(timedelta(seconds=3))
    user_action = world.complete_with(token, challenge, sign(challenge))
    world.clock.advance(timedelta(seconds=3))
    world.archive_with(token, target, user_action)
    assert len(calls) == 1


def refusal(call: Callable[[], object]) -> tuple[int, str, str]:
    with pytest.raises(ArchiveCoreError) as caught:
        call()
    return caught.value.status, caught.value.code, caught.value.reason


def test_what_the_real_crypto_refuses_in_the_flow() -> None:
    world = CryptoWorld()
    admin, target = world.user("admin", admin=True), world.user("target")
    world.user("second-admin", admin=True)
    _, sign = with_key(world, admin, "ed25519")
    token = world.token(admin)
    path = f"/auth/users/{target.id}"

    # A reused challenge: the first use burns it.
    challenge = world.challenge(token, path)
    user_action = world.complete_with(token, challenge, sign(challenge))
    assert refusal(lambda: world.complete_with(token, challenge, sign(challenge))) == (
        400,
        "challenge_invalid",
        "challenge_unknown",
    )
    # A signature by another key.
    _, stranger = with_key(CryptoWorld(), world.user("stranger"), "ed25519")
    fresh = world.challenge(token, path)
    forged = stranger(fresh)
    forged["credentialAssertion"]["credId"] = "key-ed25519"
    assert refusal(lambda: world.complete_with(token, fresh, forged)) == (
        401,
        "assertion_invalid",
        "signature_invalid",
    )
    # A user action token presented as the bearer token, and the reverse.
    assert refusal(lambda: world.archive_with(user_action, target, user_action)) == (
        401,
        "not_authorized",
        "typ_mismatch",
    )
    assert refusal(lambda: world.archive_with(token, target, token)) == (
        403,
        "user_action_invalid",
        "typ_mismatch",
    )
    # The genuine pair archives once; the replay is refused.
    assert world.archive_with(token, target, user_action)["isActive"] is False
    assert refusal(lambda: world.archive_with(token, target, user_action)) == (
        400,
        "user_action_replayed",
        "user_action_used",
    )
    # An archived user's bearer token stops working (the token itself is still genuine).
    target_token = world.token(world.user("archivee"))
    victim = world.user("victim")
    with world.store() as uow:
        (archivee,) = [u for u in world.store.users.values() if u.username.startswith("archivee")]
        uow.users.update(archivee.archived(world.clock.now()), expected_version=archivee.version)
        uow.commit()
    assert refusal(lambda: world.challenge(target_token, f"/auth/users/{victim.id}"))[:2] == (
        401,
        "signing_user_not_found",
    )
    # An expired bearer token.
    world.clock.advance(timedelta(hours=2))
    assert refusal(lambda: world.challenge(token, path)) == (401, "not_authorized", "token_expired")


def test_a_fido2_counter_is_stored_and_a_cloned_authenticator_refused() -> None:
    world = CryptoWorld()
    admin, target = world.user("admin", admin=True), world.user("target")
    world.user("second-admin", admin=True)
    device = SoftwareAuthenticator("ES256")
    credential = world.provisioning.register_credential(
        admin,
        kind=CredentialKind.FIDO2,
        cred_id=device.cred_id,
        public_key=device.public_key,
        algorithm=device.cose_algorithm,
    )
    token = world.token(admin)
    path = f"/auth/users/{target.id}"
    challenge = world.challenge(token, path)
    world.complete_with(
        token,
        challenge,
        device.get_assertion(
            challenge=challenge["challenge"], origin=ORIGIN, rp_id=RP_ID, sign_count=10
        ),
    )
    with world.store() as uow:
        stored = uow.credentials.get_by_cred_id(credential.cred_id)
    assert stored is not None and stored.sign_count == 10
    challenge = world.challenge(token, path)
    clone = device.get_assertion(
        challenge=challenge["challenge"], origin=ORIGIN, rp_id=RP_ID, sign_count=9
    )
    assert refusal(lambda: world.complete_with(token, challenge, clone)) == (
        401,
        "assertion_invalid",
        "sign_count_rollback",
    )
    with world.store() as uow:
        kept = uow.credentials.get_by_cred_id(credential.cred_id)
    assert kept is not None and kept.sign_count == 10


def test_registration_refuses_weak_keys_through_the_core() -> None:
    world = CryptoWorld()
    user = world.user("admin")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = rsa.RSAPublicNumbers(
        3, rsa.generate_private_key(65537, 2048).public_key().public_numbers().n
    )
    pem = (
        weak.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert refusal(
        lambda: world.provisioning.register_credential(
            user,
            kind=CredentialKind.KEY,
            cred_id="weak",
            public_key=pem,
            algorithm="RSA-PKCS1v15-SHA256",
        )
    ) == (400, "credential_rejected", "rsa_exponent_not_65537")
