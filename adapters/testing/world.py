"""A test world: a deployment wired by `adapters.wiring.bootstrap.build` — the function
production uses — to in-memory (or given) storage, a manual clock, seeded randomness and
the crypto fakes of `adapters.testing.fakes`, with scenario builders (orgs, users of
each kind with chosen permissions and credentials) and the client side of the signed
flow (init → sign → complete → request) for any signed operation."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Self, TypeVar

import attrs

from adapters.storage.memory import (
    MemoryChallengeStore,
    MemoryReplayGuard,
    MemorySigningKeyStore,
    MemoryStore,
)
from adapters.storage.urls import Storage
from adapters.system.clocks import ManualClock
from adapters.system.randomness import SeededRandomness
from adapters.testing.fakes import (
    FLAG_UP,
    FLAG_UV,
    FakeAuthenticatorDataParser,
    FakeBearerTokens,
    FakeSignatureVerifier,
    FakeUserActionCodec,
    fake_sign,
    make_authenticator_data,
)
from adapters.wiring.bootstrap import Deployment, build
from archive_core.audit import AuditRecord
from archive_core.config import Policy
from archive_core.declarations import Declaration, Handler
from archive_core.entities import FULL_ADMIN, Credential, CredentialKind, TokenKind, User, UserKind
from archive_core.ids import OrgId
from archive_core.log_signing import CheckpointSigner
from archive_core.operations import DFNS_PRESET, OPERATIONS
from archive_core.permissions import PermissionMatrix
from archive_core.ports import (
    ChallengeStore,
    ReplayGuard,
    UnitOfWorkFactory,
)
from archive_core.requests import Answer, Headers, Request
from archive_core.use_cases import (
    ACTIVATE_USER,
    ARCHIVE_USER,
    COMPLETE_USER_ACTION,
    DEACTIVATE_USER,
    INIT_USER_ACTION,
)

__all__ = ["ADMIN_OPERATIONS", "ARCHIVE_OPS", "Actor", "Scene", "World", "admin_grants", "b64"]

H = TypeVar("H", bound=Handler)

#: The signed operations a scene's admin performs on users of either kind.
ADMIN_OPERATIONS: Final = (ARCHIVE_USER.name, DEACTIVATE_USER.name, ACTIVATE_USER.name)


def admin_grants(
    matrix: PermissionMatrix, operations: Iterable[str] = ADMIN_OPERATIONS
) -> tuple[str, ...]:
    """What a user must hold under `matrix` to perform `operations` on users of every
    kind: each permission once, in the matrix's order (operations it does not name are
    skipped). Raises ValueError when the matrix refuses employees one of them."""
    needed: dict[str, None] = {}
    for operation in operations:
        if operation not in matrix.operations:
            continue
        if matrix.refuses(operation, UserKind.CUSTOMER_EMPLOYEE):
            raise ValueError(
                f"matrix {matrix.name!r} refuses {operation} to employees whatever they hold"
            )
        for kind in UserKind:
            needed.update(dict.fromkeys(matrix.required(operation, kind)))
    return tuple(needed)


#: The operations that let a user archive, deactivate and activate employees and end
#: users under the default matrix `dfns` (`admin_grants(DFNS_PRESET)`); under another
#: matrix, `admin_grants(world.matrix)` says what they are.
ARCHIVE_OPS: Final = admin_grants(DFNS_PRESET)


def b64(data: bytes) -> str:
    """Unpadded base64url, as the API writes binary values."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@attrs.frozen
class Actor:
    """A user with (optionally) a credential and a bearer token."""

    user: User
    token: str
    credential: Credential | None

    @property
    def id(self) -> str:
        """The user's id."""
        return self.user.id


@attrs.frozen
class Scene:
    """An org with an admin (who can archive, deactivate and activate users of either
    kind under the world's matrix), an employee and an end user."""

    world: World
    org: OrgId
    admin: Actor
    employee: Actor
    end_user: Actor


class World:
    """Everything a test needs, wired by `build` with the fakes passed in.

    Storage is in memory unless `db_url` names other storage (`sqlite:///…`,
    `postgresql://…`) or `uow_factory` / `challenges` / `replay_guard` are given;
    `log_signer` signs the audit log's checkpoints (none by default: they answer 503);
    `store` is the in-memory store (for tests that look inside it). `operations` are
    the declarations served (the library's own by default; add yours to test them).
    Close the world (or use it as a context manager) when it opened storage from
    `db_url`.

    An operation is run by its declaration: `world.call(ARCHIVE_USER, request, user_id)`
    (the JSON answer), `world.answer(...)` (the whole `Answer`), or its handler,
    `world.handler(ARCHIVE_USER)`. A transport serves `world.deployment`.
    """

    def __init__(
        self,
        *,
        policy: Policy | None = None,
        db_url: str | None = None,
        uow_factory: UnitOfWorkFactory | None = None,
        challenges: ChallengeStore | None = None,
        replay_guard: ReplayGuard | None = None,
        seed: int = 7,
        start: datetime | None = None,
        operations: Sequence[Declaration[Handler]] = OPERATIONS,
        log_signer: CheckpointSigner | None = None,
    ) -> None:
        self.policy = Policy() if policy is None else policy
        self.store = MemoryStore()
        self.clock = ManualClock(start)
        self.randomness = SeededRandomness(seed)
        self.bearer = FakeBearerTokens()
        self.codec = FakeUserActionCodec()
        self.verifier = FakeSignatureVerifier()
        self.verifiers = dict.fromkeys(CredentialKind, self.verifier)
        self._names = itertools.count()
        self._nonces = itertools.count()
        storage = None
        if db_url is None:
            storage = Storage(
                uow_factory=self.store if uow_factory is None else uow_factory,
                challenges=MemoryChallengeStore() if challenges is None else challenges,
                replay_guard=MemoryReplayGuard() if replay_guard is None else replay_guard,
                signing_keys=MemorySigningKeyStore(),
            )
        self.deployment: Deployment = build(
            db_url=db_url,
            storage=storage,
            policy=self.policy,
            clock=self.clock,
            randomness=self.randomness,
            bearer_tokens=self.bearer,
            token_codec=self.codec,
            verifiers=self.verifiers,
            authenticator_parser=FakeAuthenticatorDataParser(),
            operations=operations,
            log_signer=log_signer,
        )
        opened = self.deployment.storage
        self.uow_factory: UnitOfWorkFactory = opened.uow_factory
        self.challenges: ChallengeStore = opened.challenges
        self.replay_guard: ReplayGuard = opened.replay_guard
        self.provisioning = self.deployment.provisioning
        self.purge = self.deployment.purge

    @property
    def matrix(self) -> PermissionMatrix:
        """The permission matrix in force (the policy's, resolved over the operations)."""
        return self.deployment.matrix

    def close(self) -> None:
        """Close the storage the world opened."""
        self.deployment.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ operations
    def handler(self, declaration: Declaration[H]) -> H:
        """The handler serving `declaration` in this world."""
        return self.deployment.endpoints.handler(declaration)

    def replace_handler(self, declaration: Declaration[H], handler: H) -> None:
        """Serve `declaration` with `handler` from now on (a double, or the library's
        handler rewired: `attrs.evolve(world.handler(COMPLETE_USER_ACTION), ...)`)."""
        self.deployment = attrs.evolve(
            self.deployment,
            endpoints=self.deployment.endpoints.with_handler(declaration, handler),
        )

    def answer(self, declaration: Declaration[Handler], request: Request, *params: str) -> Answer:
        """Run `declaration`'s handler on `request`. Its path parameters are `params`, in
        the order of its path, when given (a test may give other values than the path's,
        to see the operation judge them), else those of `request` (else its path's)."""
        if params:
            named = dict(zip(declaration.parameters, params, strict=True))
            request = attrs.evolve(request, params=named)
        elif not request.params:
            request = attrs.evolve(request, params=declaration.match(request.path) or {})
        return self.handler(declaration)(request)

    def call(
        self, declaration: Declaration[Handler], request: Request, *params: str
    ) -> dict[str, Any]:
        """`answer`, for an operation answering JSON: the document."""
        document = self.answer(declaration, request, *params).document
        if document is None:
            raise AssertionError(f"{declaration!r} did not answer JSON")
        return dict(document)

    # ------------------------------------------------------------------ scenarios
    def new_org(self) -> OrgId:
        """A fresh org id (an org exists through its users)."""
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
        """A new user of `org` granted `operations` (or everything, with `full_admin`),
        with a credential of `credential_kind` (none with None) and a bearer token."""
        user = self.provisioning.create_user(
            org,
            username or f"user{next(self._names)}@example.co",
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
        token = self.bearer.issue(
            user,
            now=self.clock.now(),
            ttl=token_ttl,
            token_kind=TokenKind.SERVICE_ACCOUNT if service_account else TokenKind.LOGIN,
        )
        return Actor(user=user, token=token, credential=credential)

    def scene(self) -> Scene:
        """A new org with an admin, an employee and an end user. The admin is an employee
        granted `admin_grants(world.matrix)`: under the world's matrix it can archive,
        deactivate and activate users of either kind (ValueError when the matrix refuses
        employees one of those operations)."""
        grants = admin_grants(self.matrix)
        org = self.new_org()
        return Scene(
            world=self,
            org=org,
            admin=self.actor(org, operations=grants, username="admin@example.co"),
            employee=self.actor(org, username="employee@example.co"),
            end_user=self.actor(org, kind=UserKind.END_USER, username="end.user@example.co"),
        )

    def add_credential(self, user: User, kind: CredentialKind) -> Credential:
        """A new credential of `kind` for `user`, with a fake key pair."""
        public_key = "pk-" + b64(self.randomness.token_bytes(12))
        return self.provisioning.register_credential(
            user,
            kind=kind,
            cred_id="cid" + b64(self.randomness.token_bytes(9)),
            public_key=public_key,
            algorithm="fake-hmac",
        )

    def fresh_user(self, user: User) -> User:
        """The user as stored now."""
        with self.uow_factory() as uow:
            found = uow.users.get(user.id)
        if found is None:
            raise AssertionError(f"user {user.id} is not stored")
        return found

    def audit_records(self, org: OrgId | None = None) -> list[AuditRecord]:
        """The audit trail (of one org, or of all), oldest first."""
        with self.uow_factory() as uow:
            return uow.audit.records(org)

    # ------------------------------------------------------------------ requests
    def headers(self, actor: Actor | None, **extra: str) -> Headers:
        """The actor's bearer header (none for None), then `extra`."""
        pairs = [] if actor is None else [("Authorization", f"Bearer {actor.token}")]
        pairs += list(extra.items())
        return Headers(pairs)

    def nonce(self, uuid: str = "nonce-0123456789", *, offset: timedelta = timedelta(0)) -> str:
        """An `X-DFNS-NONCE` value dated now (plus `offset`)."""
        date = (self.clock.now() + offset).isoformat()
        return b64(json.dumps({"uuid": uuid, "date": date}).encode())

    def _fresh_nonce(self) -> dict[str, str]:
        """A fresh `X-DFNS-NONCE` header when the policy requires one, else none."""
        if not self.policy.require_nonce:
            return {}
        return {"X-DFNS-NONCE": self.nonce(f"world-nonce-{next(self._nonces):010d}")}

    def init_body(self, method: str, path: str, payload: str = "") -> bytes:
        """The `POST /auth/action/init` body for one request."""
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
        if cred is None:
            raise ValueError(f"{actor.user.username} has no credential to sign with")
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
        """init → sign → complete: a user action token for the request (`sign` goes to
        `sign_challenge`; init and complete carry fresh nonces when the policy requires)."""
        init_body = self.init_body(method, path, payload)
        init_headers = self.headers(actor, **self._fresh_nonce())
        challenge = self.call(
            INIT_USER_ACTION, Request("POST", "/auth/action/init", init_headers, init_body)
        )
        body = {
            "challengeIdentifier": challenge["challengeIdentifier"],
            "firstFactor": self.sign_challenge(actor, challenge, **sign),
        }
        complete_headers = self.headers(actor, **self._fresh_nonce())
        answer = self.call(
            COMPLETE_USER_ACTION,
            Request("POST", "/auth/action", complete_headers, json.dumps(body).encode()),
        )
        return str(answer["userAction"])

    def signed_request(
        self,
        actor: Actor,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        token: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> Request:
        """Any signed operation: init → sign → complete for (`method`, `path`, `body`),
        then the request itself with the bearer and `X-DFNS-USERACTION` headers, `extra`,
        and a fresh nonce when the policy requires one and `extra` has none. A given
        `token` is used as is instead."""
        if token is None:
            token = self.user_action(actor, method, path, body.decode())
        extra = dict(extra or {})
        if not any(name.lower() == "x-dfns-nonce" for name in extra):
            extra.update(self._fresh_nonce())
        headers = self.headers(actor, **{"X-DFNS-USERACTION": token}, **extra)
        return Request(method, path, headers, body, self.params_of(method, path))

    def params_of(self, method: str, path: str) -> dict[str, str]:
        """The path parameters of `path` on the route of a served operation (as the
        router finds them); none when it is on no route."""
        for declaration in self.deployment.endpoints.declarations:
            if declaration.method == method:
                found = declaration.match(path)
                if found is not None:
                    return found
        return {}

    def archive_request(
        self,
        actor: Actor,
        target_id: str,
        *,
        token: str | None = None,
        body: bytes = b"",
        extra: Mapping[str, str] | None = None,
    ) -> Request:
        """A signed `DELETE /auth/users/{target_id}`."""
        path = f"/auth/users/{target_id}"
        return self.signed_request(actor, "DELETE", path, body, token=token, extra=extra)

    def archive_user(self, actor: Actor, target_id: str, **kwargs: Any) -> dict[str, Any]:
        """Archive `target_id` as `actor` through the whole signed flow; the answer."""
        return self.call(ARCHIVE_USER, self.archive_request(actor, target_id, **kwargs), target_id)

    def deactivate_user(self, actor: Actor, target_id: str, body: bytes = b"{}") -> dict[str, Any]:
        """Deactivate `target_id` as `actor` through the whole signed flow; the answer."""
        path = f"/auth/users/{target_id}/deactivate"
        return self.call(DEACTIVATE_USER, self.signed_request(actor, "PUT", path, body))

    def activate_user(self, actor: Actor, target_id: str) -> dict[str, Any]:
        """Activate `target_id` as `actor` through the whole signed flow; the answer."""
        path = f"/auth/users/{target_id}/activate"
        return self.call(ACTIVATE_USER, self.signed_request(actor, "PUT", path))
