"""The composition root: the one place that names concrete classes and wires them.

    with build(db_url="archive-core.db") as deployment:
        app = AsgiApplication(deployment)

`build` serves the operations it is given (the library's own, `OPERATIONS`, unless
told otherwise): each declaration's handler is built from one `Wiring` of the
deployment's ports, and the permission matrix in force gathers their rows.

Everything is a parameter (storage URLs, policy, clock, randomness, token issuer and
audience); nothing is built at import time. Tests and the testing kit
(`adapters.testing.World`) wire through the same function, passing their fakes in:
opened `storage` instead of a URL, a manual clock, seeded randomness, and test doubles
of the crypto ports (`bearer_tokens`, `token_codec`, `verifiers`, `authenticator_parser`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol, Self

import attrs

from adapters.crypto import credential_verifiers
from adapters.crypto.page_tokens import PAGE_TOKEN_PURPOSE, HmacPageTokens
from adapters.crypto.signing_keys import (
    BEARER_PURPOSE,
    EDDSA,
    ES256,
    HS256,
    USER_ACTION_PURPOSE,
    SigningKeyRing,
)
from adapters.crypto.tokens import HmacUserActionCodec, JwtBearerTokens
from adapters.crypto.webauthn import WebAuthnAuthenticatorDataParser
from adapters.observability.health import Readiness, store_checks
from adapters.storage.urls import Storage, Waits, open_storage
from adapters.system.clocks import SystemClock
from adapters.system.randomness import SystemRandomness
from archive_core.access import NONCE_HEADER, Gate
from archive_core.config import Policy
from archive_core.declarations import Declaration, Endpoints, Handler, Wiring, resolve_matrix
from archive_core.entities import CredentialKind, TokenKind, User
from archive_core.errors import ArchiveCoreError, Catalogue
from archive_core.ids import UserId
from archive_core.log_signing import CheckpointSigner
from archive_core.operations import OPERATIONS
from archive_core.permissions import PermissionMatrix
from archive_core.ports import (
    AuthenticatorDataParser,
    BearerClaims,
    Clock,
    Randomness,
    SignatureVerifier,
    UserActionTokenCodec,
)
from archive_core.requests import Headers
from archive_core.use_cases.maintenance import PurgeExpired
from archive_core.use_cases.provisioning import Provisioning

__all__ = ["DEFAULT_AUDIENCE", "DEFAULT_ISSUER", "BearerTokens", "Deployment", "build"]

DEFAULT_ISSUER = "urn:archive-core"
DEFAULT_AUDIENCE = "urn:archive-core:api"


class BearerTokens(Protocol):
    """Issues and verifies bearer tokens (`adapters.crypto.JwtBearerTokens`, or a test double)."""

    def issue(self, user: User, *, now: datetime, ttl: timedelta, token_kind: TokenKind) -> str:
        """A bearer token for `user`, valid from `now` for `ttl`."""
        ...

    def verify(self, token: str, *, now: datetime) -> BearerClaims:
        """The claims of a valid token; raises `ArchiveCoreError` otherwise."""
        ...


@attrs.frozen(kw_only=True)
class Deployment:
    """A wired deployment: the operations it serves with their handlers (`endpoints`),
    the store checks behind `GET /readyz` (`readiness`), the administrative operations
    and the adapters. A transport serves it as it is: `AsgiApplication(deployment)`.
    An application with its own login issues its users' bearer tokens with
    `issue_bearer_token`; `close` (or a `with` block) closes the storage."""

    endpoints: Endpoints
    readiness: Readiness | None
    matrix: PermissionMatrix
    provisioning: Provisioning
    purge: PurgeExpired
    bearer_tokens: BearerTokens
    verifiers: Mapping[CredentialKind, SignatureVerifier]
    storage: Storage
    policy: Policy
    clock: Clock
    #: which of the stores' calls may wait (`storage.waits`, as `build` found them)
    waits: Waits

    def may_wait(self, declaration: Declaration[Handler], headers: Headers) -> bool:
        """Whether answering a request for `declaration` may wait on a lock held across
        I/O, an fsync or the network: when its handler is the embedder's own, when it
        reads from a store whose reads may wait, when it burns the nonce the request
        sends in a replay guard that may wait, and when it may write to any store
        whose writes or nonces may wait (`Declaration.reads_only`)."""
        if not self.endpoints.built(declaration):
            return True
        waits = self.waits
        if declaration.reads_only:
            return waits.reads or (waits.nonces and NONCE_HEADER in headers.by_name)
        return waits.reads or waits.writes or waits.nonces

    def issue_bearer_token(
        self, user_id: str, *, ttl: timedelta, token_kind: TokenKind | None = None
    ) -> str:
        """A bearer token for the user `user_id`, valid from now (the deployment's clock)
        for `ttl`: what an application's own login hands its client once it has checked,
        its own way, who the client is. The token is the one `Authorization: Bearer …`
        every operation of this deployment verifies.

        `token_kind` is the token's `tokenKind`: by default `ServiceAccount` for a service
        account and `Login` for anyone else (`Pat` is for a personal access token).

        Raises `ArchiveCoreError` 401 `Not Authorized.` — what the operations would answer
        the token — when the user is unknown or archived (reason `caller_unknown`) or
        deactivated (`caller_inactive`): no token is issued that could not authenticate.
        Raises `ValueError` for a `ttl` that is not positive, or a `token_kind` the user
        cannot authenticate with (`ServiceAccount` for a person, or the reverse).
        """
        if ttl <= timedelta(0):
            raise ValueError("ttl must be positive")
        with self.storage.uow_factory() as uow:
            user = uow.users.get(UserId(user_id))
        if user is None or user.is_archived:
            raise ArchiveCoreError(Catalogue.NOT_AUTHORIZED, reason="caller_unknown")
        if not user.is_active:
            raise ArchiveCoreError(Catalogue.NOT_AUTHORIZED, reason="caller_inactive")
        service = TokenKind.SERVICE_ACCOUNT
        if token_kind is None:
            token_kind = service if user.is_service_account else TokenKind.LOGIN
        elif (token_kind is service) != user.is_service_account:
            raise ValueError(
                f"a token of kind {token_kind.value} cannot authenticate "
                + ("a service account" if user.is_service_account else "a person")
            )
        return self.bearer_tokens.issue(user, now=self.clock.now(), ttl=ttl, token_kind=token_kind)

    def close(self) -> None:
        """Close the storage connections."""
        self.storage.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _page_tokens(storage: Storage, clock: Clock) -> HmacPageTokens:
    """The list tokens' sealer, its key made now if the store has none yet (so that a
    list, a read, never writes to the store)."""
    ring = SigningKeyRing(storage.signing_keys, purpose=PAGE_TOKEN_PURPOSE, algorithm=HS256)
    ring.signing_key(now=clock.now())
    return HmacPageTokens(ring, clock=clock)


def build(
    *,
    db_url: str | None = None,
    replay_url: str | None = None,
    storage: Storage | None = None,
    policy: Policy | None = None,
    clock: Clock | None = None,
    randomness: Randomness | None = None,
    issuer: str = DEFAULT_ISSUER,
    audience: str = DEFAULT_AUDIENCE,
    bearer_algorithm: str = EDDSA,
    bearer_tokens: BearerTokens | None = None,
    token_codec: UserActionTokenCodec | None = None,
    verifiers: Mapping[CredentialKind, SignatureVerifier] | None = None,
    authenticator_parser: AuthenticatorDataParser | None = None,
    operations: Sequence[Declaration[Handler]] = OPERATIONS,
    commit_timeout: float | None = None,
    log_signer: CheckpointSigner | None = None,
) -> Deployment:
    """Open storage from `db_url` (and `replay_url` for challenges and nonces) — or take
    `storage` already opened, which the deployment then owns and closes — and wire the
    handler of each of `operations` to it, the crypto adapters, the clock and the
    randomness source. Each crypto adapter left out is the production one.
    `commit_timeout` (seconds) bounds a PostgreSQL commit's wait for a synchronous
    standby (`open_storage`). `log_signer` signs the audit log's checkpoints (None: the
    checkpoint and proof endpoints answer 503: `adapters.crypto.log_key.KeyFileSigner`)."""
    if storage is None:
        if db_url is None:
            raise ValueError("build needs db_url (or storage already opened)")
        storage = open_storage(db_url, replay_url=replay_url, commit_timeout=commit_timeout)
    elif db_url is not None or replay_url is not None or commit_timeout is not None:
        raise ValueError(
            "build takes storage already opened or URLs (and commit_timeout) to open, not both"
        )
    policy = policy or Policy()
    clock = clock or SystemClock()
    randomness = randomness or SystemRandomness()
    try:
        if bearer_tokens is None:
            bearer_tokens = JwtBearerTokens(
                SigningKeyRing(
                    storage.signing_keys,
                    purpose=BEARER_PURPOSE,
                    algorithm=bearer_algorithm,
                    allowed_algorithms=(EDDSA, ES256),
                ),
                issuer=issuer,
                audience=audience,
            )
        codec = token_codec
        if codec is None:
            codec = HmacUserActionCodec(
                SigningKeyRing(storage.signing_keys, purpose=USER_ACTION_PURPOSE, algorithm=HS256),
                clock=clock,
            )
        verifiers = verifiers if verifiers is not None else credential_verifiers()
        gate = Gate(
            clock=clock,
            bearer_verifier=bearer_tokens,
            replay_guard=storage.replay_guard,
            require_app_id=policy.require_app_id,
            require_nonce=policy.require_nonce,
            nonce_window=policy.nonce_window,
        )
        uow = storage.uow_factory
        matrix = resolve_matrix(policy.matrix, operations)
        wiring = Wiring(
            gate=gate,
            uow_factory=uow,
            challenges=storage.challenges,
            randomness=randomness,
            token_codec=codec,
            verifiers=verifiers,
            authenticator_parser=(
                WebAuthnAuthenticatorDataParser()
                if authenticator_parser is None
                else authenticator_parser
            ),
            policy=policy,
            matrix=matrix,
            page_tokens=_page_tokens(storage, clock),
            log_signer=log_signer,
        )
        return Deployment(
            endpoints=Endpoints.build(operations, wiring),
            readiness=Readiness(store_checks(storage, clock, db_url=db_url, replay_url=replay_url)),
            matrix=matrix,
            provisioning=Provisioning(uow_factory=uow, randomness=randomness, verifiers=verifiers),
            purge=PurgeExpired(
                uow_factory=uow,
                challenges=storage.challenges,
                replay_guard=storage.replay_guard,
                clock=clock,
            ),
            bearer_tokens=bearer_tokens,
            verifiers=verifiers,
            storage=storage,
            policy=policy,
            clock=clock,
            waits=storage.waits,
        )
    except BaseException:
        storage.close()
        raise
