"""A test world: the use cases wired to in-memory (or given) storage, a manual clock and
the crypto fakes, with helpers to create actors and run the signed flow."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import attrs

from adapters.clocks import ManualClock
from adapters.randomness import SeededRandomness
from adapters.service import Service
from adapters.storage.memory import MemoryChallengeStore, MemoryReplayGuard, MemoryStore
from archive_core.access import Gate
from archive_core.config import Policy
from archive_core.entities import FULL_ADMIN, Credential, CredentialKind, TokenKind, User, UserKind
from archive_core.ids import OrgId
from archive_core.ports import ChallengeStore, ReplayGuard, UnitOfWorkFactory
from archive_core.requests import Headers, Request
from archive_core.use_cases import (
    ActivateUser,
    ArchiveUser,
    CompleteUserAction,
    DeactivateUser,
    GetUser,
    InitUserAction,
    Provisioning,
    PurgeExpired,
)
from tests.fakes import (
    FLAG_UP,
    FLAG_UV,
    FakeAuthenticatorDataParser,
    FakeBearerTokens,
    FakeSignatureVerifier,
    FakeUserActionCodec,
    fake_sign,
    make_authenticator_data,
)

ARCHIVE_OPS = ("Auth:Users:Update", "Auth:Types:Employee", "Auth:Types:EndUser")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@attrs.frozen
class Actor:
    """A user with (optionally) a credential and a bearer token."""

    user: User
    token: str
    credential: Credential | None

    @property
    def id(self) -> str:
        return self.user.id


class World:
    """Everything a test needs, wired the way the composition root wires production."""

    def __init__(
        self,
        *,
        policy: Policy | None = None,
        uow_factory: UnitOfWorkFactory | None = None,
        challenges: ChallengeStore | None = None,
        replay_guard: ReplayGuard | None = None,
        seed: int = 7,
    ) -> None:
        self.policy = Policy() if policy is None else policy
        self.store = MemoryStore()
        self.uow_factory: UnitOfWorkFactory = self.store if uow_factory is None else uow_factory
        self.challenges: ChallengeStore = (
            MemoryChallengeStore() if challenges is None else challenges
        )
        self.replay_guard: ReplayGuard = (
            MemoryReplayGuard() if replay_guard is None else replay_guard
        )
        self.clock = ManualClock()
        self.randomness = SeededRandomness(seed)
        self.bearer = FakeBearerTokens()
        self.codec = FakeUserActionCodec()
        self.verifier = FakeSignatureVerifier()
        self.verifiers = dict.fromkeys(CredentialKind, self.verifier)
        self.gate = Gate(
            clock=self.clock,
            bearer_verifier=self.bearer,
            replay_guard=self.replay_guard,
            require_app_id=self.policy.require_app_id,
            require_nonce=self.policy.require_nonce,
            nonce_window=self.policy.nonce_window,
        )
        common: dict[str, Any] = {
            "gate": self.gate,
            "uow_factory": self.uow_factory,
            "policy": self.policy,
        }
        self.init = InitUserAction(**common, challenges=self.challenges, randomness=self.randomness)
        self.complete = CompleteUserAction(
            **common,
            challenges=self.challenges,
            randomness=self.randomness,
            token_codec=self.codec,
            verifiers=self.verifiers,
            authenticator_parser=FakeAuthenticatorDataParser(),
        )
        signed = {**common, "randomness": self.randomness, "token_codec": self.codec}
        self.archive = ArchiveUser(**signed)
        self.deactivate = DeactivateUser(**signed)
        self.activate = ActivateUser(**signed)
        self.get_user = GetUser(**common)
        self.provisioning = Provisioning(
            uow_factory=self.uow_factory, randomness=self.randomness, verifiers=self.verifiers
        )
        self.purge = PurgeExpired(
            uow_factory=self.uow_factory,
            challenges=self.challenges,
            replay_guard=self.replay_guard,
            clock=self.clock,
        )

    def service(self) -> Service:
        """The use cases as a transport sees them."""
        return Service(
            init_user_action=self.init,
            complete_user_action=self.complete,
            archive_user=self.archive,
            get_user=self.get_user,
            deactivate_user=self.deactivate,
            activate_user=self.activate,
        )

    # ------------------------------------------------------------------ provisioning
    def new_org(self) -> OrgId:
        return self.provisioning.new_org_id()

    def actor(
        self,
        org: OrgId,
        *,
        kind: UserKind = UserKind.CUSTOMER_EMPLOYEE,
        operations: Iterable[str] = (),
        full_admin: bool = False,
        credential_kind: CredentialKind | None = CredentialKind.KEY,
        service_account: bool = False,
        username: str | None = None,
        token_ttl: timedelta = timedelta(hours=1),
    ) -> Actor:
        user = self.provisioning.create_user(
            org,
            username or f"user{len(self.store.users)}@example.co",
            kind,
            is_service_account=service_account,
        )
        ops = tuple(operations)
        if ops:
            self.provisioning.grant(user, ops)
        if full_admin:
            self.provisioning.assign(self.provisioning.create_permission(org, FULL_ADMIN, ()), user)
        credential = None
        if credential_kind is not None:
            credential = self.add_credential(user, credential_kind)
        now = self.clock.now()
        token = self.bearer.issue(
            user,
            issued_at=now,
            expires_at=now + token_ttl,
            token_kind=TokenKind.SERVICE_ACCOUNT if service_account else TokenKind.LOGIN,
        )
        return Actor(user=user, token=token, credential=credential)

    def add_credential(self, user: User, kind: CredentialKind) -> Credential:
        public_key = "pk-" + b64(self.randomness.token_bytes(12))
        return self.provisioning.register_credential(
            user,
            kind=kind,
            cred_id="cid" + b64(self.randomness.token_bytes(9)),
            public_key=public_key,
            algorithm="fake-hmac",
        )

    def fresh_user(self, user: User) -> User:
        with self.uow_factory() as uow:
            found = uow.users.get(user.id)
        assert found is not None
        return found

    # ------------------------------------------------------------------ requests
    def headers(self, actor: Actor | None, **extra: str) -> Headers:
        pairs = [] if actor is None else [("Authorization", f"Bearer {actor.token}")]
        pairs += list(extra.items())
        return Headers(pairs)

    def nonce(self, uuid: str = "nonce-0123456789", *, offset: timedelta = timedelta(0)) -> str:
        date = (self.clock.now() + offset).isoformat()
        return b64(json.dumps({"uuid": uuid, "date": date}).encode())

    def init_body(self, method: str, path: str, payload: str = "") -> bytes:
        return json.dumps(
            {
                "userActionPayload": payload,
                "userActionHttpMethod": method,
                "userActionHttpPath": path,
                "userActionServerKind": "Api",
            }
        ).encode()

    def sign_challenge(
        self,
        actor: Actor,
        challenge: Mapping[str, Any],
        *,
        client_data: Mapping[str, Any] | bytes | None = None,
        credential: Credential | None = None,
        flags: int = FLAG_UP | FLAG_UV,
        sign_count: int = 1,
        rp_id: str | None = None,
    ) -> dict[str, Any]:
        """A firstFactor for the challenge, signed with the fake scheme."""
        cred = credential or actor.credential
        assert cred is not None
        fido2 = cred.kind is CredentialKind.FIDO2
        if client_data is None:
            client_data = {
                "type": "webauthn.get" if fido2 else "key.get",
                "challenge": challenge["challenge"],
                "origin": sorted(self.policy.webauthn_origins)[0] if fido2 else "https://app",
                "crossOrigin": False,
            }
        raw = client_data if isinstance(client_data, bytes) else json.dumps(client_data).encode()
        assertion: dict[str, Any] = {"credId": cred.cred_id, "clientData": b64(raw)}
        if fido2:
            auth_data = make_authenticator_data(rp_id or self.policy.rp_id, flags, sign_count)
            message = auth_data + hashlib.sha256(raw).digest()
            assertion["authenticatorData"] = b64(auth_data)
        else:
            message = raw
        assertion["signature"] = b64(fake_sign(cred.public_key, message))
        return {"kind": cred.kind.value, "credentialAssertion": assertion}

    def user_action(
        self,
        actor: Actor,
        method: str,
        path: str,
        payload: str = "",
        **sign: Any,
    ) -> str:
        """init → sign → complete: a user action token for the request."""
        init_body = self.init_body(method, path, payload)
        challenge = self.init(Request("POST", "/auth/action/init", self.headers(actor), init_body))
        body = {
            "challengeIdentifier": challenge["challengeIdentifier"],
            "firstFactor": self.sign_challenge(actor, challenge, **sign),
        }
        answer = self.complete(
            Request("POST", "/auth/action", self.headers(actor), json.dumps(body).encode())
        )
        return answer["userAction"]

    def archive_request(
        self,
        actor: Actor,
        target_id: str,
        *,
        token: str | None = None,
        body: bytes = b"",
        extra: Mapping[str, str] | None = None,
    ) -> Request:
        path = f"/auth/users/{target_id}"
        if token is None:
            token = self.user_action(actor, "DELETE", path, body.decode())
        headers = self.headers(actor, **{"X-DFNS-USERACTION": token}, **(extra or {}))
        return Request("DELETE", path, headers, body)

    def archive_user(self, actor: Actor, target_id: str, **kwargs: Any) -> dict[str, Any]:
        return self.archive(self.archive_request(actor, target_id, **kwargs), target_id)
