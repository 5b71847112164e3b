"""The composition root: the one place that names concrete classes and wires them.

    with build(db_url="archive-core.db") as deployment:
        app = AsgiApplication(deployment.service)

Everything is a parameter (storage URLs, policy, clock, randomness, token issuer and
audience); nothing is built at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self

import attrs

from adapters.clocks import SystemClock
from adapters.crypto import (
    BEARER_PURPOSE,
    USER_ACTION_PURPOSE,
    HmacUserActionCodec,
    JwtBearerTokens,
    SigningKeyRing,
    WebAuthnAuthenticatorDataParser,
    credential_verifiers,
)
from adapters.crypto.signing_keys import EDDSA, ES256, HS256
from adapters.health import Readiness, store_checks
from adapters.randomness import SystemRandomness
from adapters.service import Service
from adapters.storage.urls import Storage, open_storage
from archive_core.access import Gate
from archive_core.config import Policy
from archive_core.entities import CredentialKind
from archive_core.ports import Clock, Randomness, SignatureVerifier
from archive_core.use_cases import (
    ArchiveUser,
    CompleteUserAction,
    GetUser,
    InitUserAction,
    Provisioning,
    PurgeExpired,
)

__all__ = ["DEFAULT_AUDIENCE", "DEFAULT_ISSUER", "Deployment", "build"]

DEFAULT_ISSUER = "urn:archive-core"
DEFAULT_AUDIENCE = "urn:archive-core:api"


@attrs.frozen(kw_only=True)
class Deployment:
    """A wired deployment: the use cases, the administrative operations, the adapters."""

    service: Service
    provisioning: Provisioning
    purge: PurgeExpired
    bearer_tokens: JwtBearerTokens
    verifiers: Mapping[CredentialKind, SignatureVerifier]
    storage: Storage
    policy: Policy
    clock: Clock

    def close(self) -> None:
        """Close the storage connections."""
        self.storage.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def build(
    *,
    db_url: str,
    replay_url: str | None = None,
    policy: Policy | None = None,
    clock: Clock | None = None,
    randomness: Randomness | None = None,
    issuer: str = DEFAULT_ISSUER,
    audience: str = DEFAULT_AUDIENCE,
    bearer_algorithm: str = EDDSA,
) -> Deployment:
    """Open storage from `db_url` (and `replay_url` for challenges and nonces) and wire
    every use case to it, the crypto adapters, the clock and the randomness source."""
    policy = policy or Policy()
    clock = clock or SystemClock()
    randomness = randomness or SystemRandomness()
    storage = open_storage(db_url, replay_url=replay_url)
    try:
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
        codec = HmacUserActionCodec(
            SigningKeyRing(storage.signing_keys, purpose=USER_ACTION_PURPOSE, algorithm=HS256),
            clock=clock,
        )
        verifiers = credential_verifiers()
        gate = Gate(
            clock=clock,
            bearer_verifier=bearer_tokens,
            replay_guard=storage.replay_guard,
            require_app_id=policy.require_app_id,
            require_nonce=policy.require_nonce,
            nonce_window=policy.nonce_window,
        )
        uow = storage.uow_factory
        service = Service(
            init_user_action=InitUserAction(
                gate=gate,
                uow_factory=uow,
                challenges=storage.challenges,
                randomness=randomness,
                policy=policy,
            ),
            complete_user_action=CompleteUserAction(
                gate=gate,
                uow_factory=uow,
                challenges=storage.challenges,
                randomness=randomness,
                token_codec=codec,
                verifiers=verifiers,
                authenticator_parser=WebAuthnAuthenticatorDataParser(),
                policy=policy,
            ),
            archive_user=ArchiveUser(
                gate=gate, uow_factory=uow, randomness=randomness, token_codec=codec, policy=policy
            ),
            get_user=GetUser(gate=gate, uow_factory=uow, policy=policy),
            readiness=Readiness(store_checks(storage, clock, db_url=db_url, replay_url=replay_url)),
        )
        return Deployment(
            service=service,
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
        )
    except BaseException:
        storage.close()
        raise
