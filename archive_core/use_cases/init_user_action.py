"""`POST /auth/action/init`: open a signing session for one exact request (SPEC §3 step 1)."""

from __future__ import annotations

import hashlib
from operator import attrgetter
from typing import Any, Final

import attrs

from archive_core.access import Gate
from archive_core.config import Policy
from archive_core.declarations import Declaration, Wiring
from archive_core.encoding import MalformedInput, b64url_encode, parse_json_object
from archive_core.entities import Challenge, Credential, CredentialKind, RequestedAction
from archive_core.errors import ArchiveCoreError, Catalogue
from archive_core.ports import ChallengeStore, Randomness, UnitOfWorkFactory
from archive_core.requests import Answer, Request
from archive_core.wire import Schema

__all__ = ["INIT_USER_ACTION", "InitUserAction", "challenge_key"]

MAX_INIT_BODY: Final = 1 << 20
MAX_ACTION_PATH: Final = 2048
METHODS: Final = frozenset({"POST", "PUT", "DELETE", "GET"})
SERVER_KINDS: Final = frozenset({"Api", "Staff"})
_KINDS: Final = tuple(CredentialKind)
_EMPTY_SHA256: Final = hashlib.sha256(b"").hexdigest()
_CRED_ID: Final = attrgetter("cred_id")
_KIND: Final = attrgetter("kind")
_FACTOR: Final = {
    CredentialKind.FIDO2: "either",
    CredentialKind.KEY: "first",
    CredentialKind.PASSWORD_PROTECTED_KEY: "either",
}
#: Each kind's `supportedCredentialKinds` entry (copied into every answer).
_SUPPORTED: Final = {
    kind: {"kind": kind.value, "factor": factor, "requiresSecondFactor": False}
    for kind, factor in _FACTOR.items()
}


def challenge_key(identifier: str) -> str:
    """Challenges are stored under a digest of their identifier, never the identifier."""
    return hashlib.sha256(identifier.encode("utf-8")).hexdigest()


def _invalid(field: str, expectation: str) -> ArchiveCoreError:
    return ArchiveCoreError(
        Catalogue.BODY_INVALID,
        message=f"The request body is invalid: {field} {expectation}.",
        reason="body_field",
    )


def parse_init_body(body: bytes) -> RequestedAction:
    """The requested action, from a strict reading of the init body (400 on defects)."""
    try:
        document = parse_json_object(body, max_bytes=MAX_INIT_BODY)
    except MalformedInput as exc:
        raise ArchiveCoreError(Catalogue.JSON_MALFORMED, reason=exc.reason) from exc
    payload = document.get("userActionPayload")
    if not isinstance(payload, str):
        raise _invalid("userActionPayload", "must be a string (the exact request body)")
    method = document.get("userActionHttpMethod")
    if not isinstance(method, str) or method not in METHODS:
        raise _invalid("userActionHttpMethod", "must be one of POST, PUT, DELETE, GET")
    path = document.get("userActionHttpPath")
    if (
        not isinstance(path, str)
        or not path.startswith("/")
        or len(path) > MAX_ACTION_PATH
        or not path.isascii()
        or not path.isprintable()
        or " " in path
    ):
        raise _invalid("userActionHttpPath", "must be an absolute request path")
    server_kind = document.get("userActionServerKind", "Api")
    if not isinstance(server_kind, str) or server_kind not in SERVER_KINDS:
        raise _invalid("userActionServerKind", "must be Api or Staff")
    try:
        payload_bytes = payload.encode("utf-8")
    except UnicodeEncodeError as exc:  # pragma: no cover - parse_json refuses lone surrogates
        raise _invalid("userActionPayload", "must be valid UTF-8") from exc
    digest = hashlib.sha256(payload_bytes).hexdigest() if payload_bytes else _EMPTY_SHA256
    return RequestedAction(method, path, digest, server_kind)


def _allow_credentials(credentials: list[Credential]) -> dict[str, list[dict[str, Any]]]:
    key: list[dict[str, Any]] = []
    password_protected: list[dict[str, Any]] = []
    webauthn: list[dict[str, Any]] = []
    for credential in credentials:
        entry: dict[str, Any] = {"type": "public-key", "id": credential.cred_id}
        if credential.kind is CredentialKind.FIDO2:
            webauthn.append({**entry, "transports": []})
        elif credential.kind is CredentialKind.PASSWORD_PROTECTED_KEY:
            password_protected.append(
                {**entry, "encryptedPrivateKey": credential.encrypted_private_key or ""}
            )
        else:
            key.append(entry)
    return {"key": key, "passwordProtectedKey": password_protected, "webauthn": webauthn}


@attrs.frozen(kw_only=True)
class InitUserAction:
    """Opens a challenge bound to the caller and the exact request it will authorize."""

    gate: Gate
    uow_factory: UnitOfWorkFactory
    challenges: ChallengeStore
    randomness: Randomness
    policy: Policy

    @classmethod
    def wired(cls, wiring: Wiring, declaration: Declaration[InitUserAction]) -> InitUserAction:
        """The use case of `declaration`, built from a deployment's wiring."""
        return cls(
            gate=wiring.gate,
            uow_factory=wiring.uow_factory,
            challenges=wiring.challenges,
            randomness=wiring.randomness,
            policy=wiring.policy,
        )

    def __call__(self, request: Request) -> Answer:
        """Answer `POST /auth/action/init` (SPEC §3 step 1)."""
        screening = self.gate.screen(request.headers)
        now = screening.now
        with self.uow_factory() as uow:
            principal = self.gate.admit(uow, screening, signing=True)
            action = parse_init_body(request.body)
            # Only kinds that sign user actions: a RecoveryKey recovers an account and is
            # never offered (nor accepted at completion).
            credentials = [
                c
                for c in uow.credentials.list_for_user(principal.user.id)
                if c.is_active and c.kind in _FACTOR
            ]
        if not credentials:
            raise ArchiveCoreError(Catalogue.NO_USABLE_CREDENTIAL, reason="no_active_credential")

        challenge = b64url_encode(self.randomness.token_bytes(32))
        identifier = b64url_encode(self.randomness.token_bytes(32))
        self.challenges.put(
            Challenge(
                challenge_key(identifier),
                principal.user.id,
                principal.user.org_id,
                challenge,
                action,
                tuple(map(_CRED_ID, credentials)),  # allowed credentials
                now,  # issued at
                now + self.policy.challenge_ttl,  # expires at
            )
        )
        present = set(map(_KIND, credentials))
        kinds = [k for k in _KINDS if k in present]
        return Answer.json(
            {
                "challenge": challenge,
                "challengeIdentifier": identifier,
                "supportedCredentialKinds": [dict(_SUPPORTED[k]) for k in kinds],
                "allowCredentials": _allow_credentials(credentials),
                "userVerification": self.policy.user_verification,
                "rp": {"id": self.policy.rp_id, "name": self.policy.rp_name},
                "externalAuthenticationUrl": "",
                "attestation": "none",
            }
        )


_STRING: Final = {"type": "string"}
_CREDENTIAL_ENTRY: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["type", "id"],
    "properties": {"type": {"const": "public-key"}, "id": _STRING},
}

INIT_USER_ACTION: Final = Declaration[InitUserAction](
    name="InitUserAction",
    method="POST",
    path="/auth/action/init",
    operation_id="initUserAction",
    outcome="challenge_issued",
    summary="Open a signing session for one exact request.",
    request_schema=Schema(
        "InitUserActionRequest",
        {
            "type": "object",
            "required": ["userActionPayload", "userActionHttpMethod", "userActionHttpPath"],
            "properties": {
                "userActionPayload": {
                    "type": "string",
                    "description": 'The exact body of the request to sign ("" for none).',
                },
                "userActionHttpMethod": {"enum": ["POST", "PUT", "DELETE", "GET"]},
                "userActionHttpPath": {"type": "string", "pattern": "^/"},
                "userActionServerKind": {"enum": ["Api", "Staff"]},
            },
        },
    ),
    answer=Schema(
        "InitUserActionResponse",
        {
            "type": "object",
            "required": [
                "challenge",
                "challengeIdentifier",
                "supportedCredentialKinds",
                "allowCredentials",
                "userVerification",
                "rp",
                "externalAuthenticationUrl",
                "attestation",
            ],
            "additionalProperties": False,
            "properties": {
                "challenge": _STRING,
                "challengeIdentifier": _STRING,
                "supportedCredentialKinds": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["kind", "factor", "requiresSecondFactor"],
                        "properties": {
                            "kind": {"$ref": "#/components/schemas/CredentialKind"},
                            "factor": {"enum": ["first", "second", "either"]},
                            "requiresSecondFactor": {"type": "boolean"},
                        },
                    },
                },
                "allowCredentials": {
                    "type": "object",
                    "required": ["key", "passwordProtectedKey", "webauthn"],
                    "additionalProperties": False,
                    "properties": {
                        "key": {"type": "array", "items": _CREDENTIAL_ENTRY},
                        "passwordProtectedKey": {
                            "type": "array",
                            "items": {
                                **_CREDENTIAL_ENTRY,
                                "required": ["type", "id", "encryptedPrivateKey"],
                                "properties": {
                                    **_CREDENTIAL_ENTRY["properties"],
                                    "encryptedPrivateKey": _STRING,
                                },
                            },
                        },
                        "webauthn": {
                            "type": "array",
                            "items": {
                                **_CREDENTIAL_ENTRY,
                                "required": ["type", "id", "transports"],
                                "properties": {
                                    **_CREDENTIAL_ENTRY["properties"],
                                    "transports": {"type": "array", "items": _STRING},
                                },
                            },
                        },
                    },
                },
                "userVerification": {"enum": ["required", "preferred", "discouraged"]},
                "rp": {
                    "type": "object",
                    "required": ["id", "name"],
                    "properties": {"id": _STRING, "name": _STRING},
                },
                "externalAuthenticationUrl": _STRING,
                "attestation": {"const": "none"},
            },
        },
        {"CredentialKind": {"enum": [kind.value for kind in CredentialKind]}},
    ),
    answer_description="The challenge to sign.",
    build=InitUserAction.wired,
)
