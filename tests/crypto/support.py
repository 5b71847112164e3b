"""Shared helpers of the crypto tests: vectors, a caller and its challenge, error matching."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.crypto import credential_verifiers
from adapters.crypto.webauthn import WebAuthnAuthenticatorDataParser
from archive_core.config import Policy
from archive_core.encoding import b64url_decode
from archive_core.entities import (
    Challenge,
    Credential,
    CredentialKind,
    RequestedAction,
    User,
    UserActionGrant,
    UserKind,
)
from archive_core.errors import ArchiveCoreError
from archive_core.ids import CredentialUuid, OrgId, UserId
from archive_core.user_action import Assertion, VerifiedAssertion, verify_assertion

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
CALLER = User(
    id=UserId("us-vector-user-000000000001"),
    org_id=OrgId("or-vector-org-000000000001"),
    username="vector@example.co",
    kind=UserKind.CUSTOMER_EMPLOYEE,
    credential_uuid=CredentialUuid("cr-vector-cred-000000000001"),
)


def load_vectors(name: str) -> dict[str, Any]:
    """One committed vector file."""
    document: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return document


def expect_error(call: Callable[[], object], code: str, reason: str) -> ArchiveCoreError:
    """Run `call`; it must raise exactly this domain error (code and reason)."""
    with pytest.raises(ArchiveCoreError) as caught:
        call()
    assert (caught.value.code, caught.value.reason) == (code, reason), repr(caught.value)
    return caught.value


def outcome(call: Callable[[], object]) -> dict[str, Any]:
    """`{"ok": True}` or the domain error's `{"code", "reason"}` (anything else escapes)."""
    try:
        call()
    except ArchiveCoreError as error:
        return {"code": error.code, "reason": error.reason}
    return {"ok": True}


def credential(
    name: str,
    document: Mapping[str, Any],
    *,
    sign_count: int = 0,
) -> Credential:
    """A credential of the caller from a vector file's `credentials` entry."""
    return Credential(
        uuid=CredentialUuid("cr-vector-cred-000000000001"),
        cred_id=name,
        user_id=CALLER.id,
        org_id=CALLER.org_id,
        kind=CredentialKind(document["kind"]),
        public_key=document["publicKey"],
        algorithm=document["algorithm"],
        sign_count=sign_count,
    )


def challenge_for(text: str, cred_id: str) -> Challenge:
    """An open challenge of the caller offering `cred_id`."""
    return Challenge(
        key="vector",
        user_id=CALLER.id,
        org_id=CALLER.org_id,
        challenge=text,
        action=RequestedAction(
            method="DELETE",
            path="/auth/users/us-vector-target-000000000001",
            payload_sha256=hashlib.sha256(b"").hexdigest(),
        ),
        allowed_cred_ids=(cred_id,),
        issued_at=NOW,
        expires_at=NOW + timedelta(minutes=5),
    )


def assertion_from(case: Mapping[str, Any], kind: CredentialKind) -> Assertion:
    """The decoded assertion of a vector case."""
    authenticator = case.get("authenticatorData")
    handle = case.get("userHandle")
    return Assertion(
        kind=kind,
        cred_id=case["credential"],
        client_data_b64=case["clientData"],
        client_data=b64url_decode(case["clientData"]),
        signature_b64=case["signature"],
        signature=b64url_decode(case["signature"]),
        authenticator_data_b64=authenticator,
        authenticator_data=None if authenticator is None else b64url_decode(authenticator),
        user_handle=None if handle is None else b64url_decode(handle),
    )


def verify_case(document: Mapping[str, Any], case: Mapping[str, Any]) -> VerifiedAssertion:
    """Run one vector case through the core's `verify_assertion` with the real adapters."""
    overrides = case.get("policy", {})
    policy = Policy(
        rp_id=document.get("rpId", "localhost"),
        webauthn_origins=frozenset({document.get("origin", "http://localhost")}),
        key_origins=frozenset(overrides.get("keyOrigins", ())),
        user_verification=overrides.get("userVerification", "required"),
    )
    stored = credential(
        case["credential"],
        document["credentials"][case["credential"]],
        sign_count=case.get("storedSignCount", 0),
    )
    return verify_assertion(
        assertion=assertion_from(case, stored.kind),
        credential=stored,
        caller=CALLER,
        challenge=challenge_for(document["challenge"], stored.cred_id),
        policy=policy,
        verifiers=credential_verifiers(),
        authenticator_parser=WebAuthnAuthenticatorDataParser(),
    )


GRANT = UserActionGrant(
    token_id="ua-AbCdEfGhIjKlMnOpQrStUvWx",
    user_id=CALLER.id,
    org_id=CALLER.org_id,
    credential_uuid=CALLER.credential_uuid,
    method="DELETE",
    path="/auth/users/us-vector-target-000000000001",
    payload_sha256=hashlib.sha256(b"").hexdigest(),
    issued_at=NOW + timedelta(microseconds=123456),
    expires_at=NOW + timedelta(minutes=5, microseconds=123456),
)
