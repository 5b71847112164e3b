"""User action signing (SPEC §3, §6): parsing an assertion and verifying it, step by step.

Verification steps (numbers match docs/security.md):

 1. the credential is the caller's, active, of the stated kind's family (Key and
    PasswordProtectedKey are one), offered by the challenge, and never a RecoveryKey
 2. clientData is canonical base64url of strict JSON, bounded in size
 3. clientData `type` is `key.get` (Key kinds) or `webauthn.get` (Fido2)
 4. clientData `challenge` equals the issued challenge (constant time); for Fido2 also
    in the form browser signers send: base64url of the challenge string's UTF-8 bytes
 5. `origin` is on the allow-list: always for Fido2, for Key kinds when one is configured
 6. `crossOrigin`, when present, is a JSON boolean; true only where allowed
 7. `topOrigin`, when present, only with an allowed cross-origin and on its allow-list
 8. Fido2: authenticatorData parses; rpIdHash is SHA-256 of the rp id
 9. Fido2: user present; user verified when required; backup state only if eligible
10. Fido2: `userHandle`, when present, is the caller's handle
11. the signature verifies with the credential's key (over clientData for Key kinds,
    over authenticatorData || SHA-256(clientData) for Fido2)
12. Fido2: the signature counter grows when either counter is non-zero
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, Final, overload

import attrs

from archive_core.config import Policy
from archive_core.encoding import MalformedInput, b64url_decode, b64url_encode, parse_json_object
from archive_core.entities import (
    Challenge,
    Credential,
    CredentialKind,
    SignedEvidence,
    User,
)
from archive_core.errors import ArchiveCoreError, Catalogue
from archive_core.ids import OrgId, UserId
from archive_core.ports import AuthenticatorDataParser, SignatureVerifier

__all__ = [
    "Assertion",
    "VerifiedAssertion",
    "parse_factor",
    "reverify_evidence",
    "same_family",
    "user_handle",
    "verify_assertion",
]

MAX_CLIENT_DATA: Final = 4096
MAX_SIGNATURE: Final = 1024
MAX_AUTHENTICATOR_DATA: Final = 1024
MAX_CRED_ID: Final = 1024
_KEY_CLIENT_DATA_TYPE: Final = "key.get"
_WEBAUTHN_CLIENT_DATA_TYPE: Final = "webauthn.get"
#: Factor kinds the API once had and no longer lets sign user actions (SPEC §3).
DEPRECATED_FACTORS: Final = frozenset({"Password", "Totp"})
#: Kinds that answer for one another: the password-protected-key signer says `Key`.
_KEY_FAMILY: Final = frozenset({CredentialKind.KEY, CredentialKind.PASSWORD_PROTECTED_KEY})
_KINDS_BY_VALUE: Final = {kind.value: kind for kind in CredentialKind}


def _body_error(field: str) -> ArchiveCoreError:
    return ArchiveCoreError(
        Catalogue.BODY_INVALID,
        message=f"The request body is invalid: {field} is missing or malformed.",
        reason="body_field",
    )


@attrs.frozen
class Assertion:
    """One factor of `POST /auth/action`, decoded but not yet verified."""

    kind: CredentialKind
    cred_id: str
    client_data_b64: str
    client_data: bytes
    signature_b64: str
    signature: bytes
    authenticator_data_b64: str | None = None
    authenticator_data: bytes | None = None
    user_handle: bytes | None = None
    algorithm: str | None = None


@overload
def _text_field(data: Mapping[str, Any], name: str, where: str, max_length: int) -> str: ...
@overload
def _text_field(
    data: Mapping[str, Any], name: str, where: str, max_length: int, *, required: bool
) -> str | None: ...
def _text_field(
    data: Mapping[str, Any], name: str, where: str, max_length: int, *, required: bool = True
) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise _body_error(f"{where}.{name}")
        return None
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise _body_error(f"{where}.{name}")
    return value


@overload
def _b64_field(
    data: Mapping[str, Any], name: str, where: str, max_bytes: int
) -> tuple[str, bytes]: ...
@overload
def _b64_field(
    data: Mapping[str, Any], name: str, where: str, max_bytes: int, *, required: bool
) -> tuple[str, bytes] | None: ...
def _b64_field(
    data: Mapping[str, Any], name: str, where: str, max_bytes: int, *, required: bool = True
) -> tuple[str, bytes] | None:
    # base64url spends 4 characters on 3 bytes.
    text = _text_field(data, name, where, (max_bytes * 4 + 2) // 3, required=required)
    if text is None:
        return None
    try:
        return text, b64url_decode(text)
    except MalformedInput as exc:
        raise _body_error(f"{where}.{name}") from exc


def parse_factor(value: Any, where: str) -> Assertion:
    """Parse `firstFactor` / `secondFactor`: `{kind, credentialAssertion}` (400 on defects)."""
    if not isinstance(value, dict):
        raise _body_error(where)
    stated = value.get("kind")
    if isinstance(stated, str) and stated in DEPRECATED_FACTORS:
        raise ArchiveCoreError(
            Catalogue.FACTOR_NOT_SUPPORTED,
            message=f"{stated} credentials are not supported for user actions.",
            reason="factor_deprecated",
        )
    # (a look-up by value in a dict: `CredentialKind(stated)` runs Enum's Python `__new__`)
    kind = _KINDS_BY_VALUE.get(stated) if isinstance(stated, str) else None
    if kind is None:
        raise _body_error(f"{where}.kind")
    assertion = value.get("credentialAssertion")
    inner = f"{where}.credentialAssertion"
    if not isinstance(assertion, dict):
        raise _body_error(inner)
    cred_id = _text_field(assertion, "credId", inner, MAX_CRED_ID)
    client_data = _b64_field(assertion, "clientData", inner, MAX_CLIENT_DATA)
    signature = _b64_field(assertion, "signature", inner, MAX_SIGNATURE)
    algorithm = _text_field(assertion, "algorithm", inner, 64, required=False)
    authenticator = None
    handle = None
    if kind is CredentialKind.FIDO2:
        authenticator = _b64_field(assertion, "authenticatorData", inner, MAX_AUTHENTICATOR_DATA)
        # An older browser signer sends "" when the authenticator gave no handle: absent.
        if assertion.get("userHandle") != "":
            handle_field = _b64_field(assertion, "userHandle", inner, 256, required=False)
            handle = None if handle_field is None else handle_field[1]
    return Assertion(
        kind,
        cred_id,
        client_data[0],
        client_data[1],
        signature[0],
        signature[1],
        None if authenticator is None else authenticator[0],
        None if authenticator is None else authenticator[1],
        handle,
        algorithm,
    )


def user_handle(user: User) -> bytes:
    """The WebAuthn user handle of a user: its id in UTF-8."""
    return user.id.encode("utf-8")


@attrs.frozen
class VerifiedAssertion:
    """A verified factor: the evidence to keep, and the Fido2 counter to store (if any)."""

    credential: Credential
    evidence: SignedEvidence
    new_sign_count: int | None


def same_family(stated: CredentialKind, stored: CredentialKind) -> bool:
    """Whether an assertion stated as `stated` may be made by a credential of `stored` kind."""
    return stated is stored or (stated in _KEY_FAMILY and stored in _KEY_FAMILY)


def verify_assertion(
    assertion: Assertion,
    *,
    credential: Credential | None,
    caller: User,
    challenge: Challenge,
    policy: Policy,
    verifiers: Mapping[CredentialKind, SignatureVerifier],
    authenticator_parser: AuthenticatorDataParser,
) -> VerifiedAssertion:
    """Verify one factor against the challenge it answers, in the numbered order above."""
    # 1. the credential. A recovery key recovers an account; it never authorises actions,
    # whatever kind it is stated as (only the caller's own credentials are told apart).
    # (The refusals are built only when raised: a flow that passes builds none.)
    if assertion.kind is CredentialKind.RECOVERY_KEY:
        raise Catalogue.NO_USABLE_CREDENTIAL.error("recovery_key_cannot_sign")
    if credential is None or credential.user_id != caller.id or not credential.is_active:
        raise Catalogue.NO_USABLE_CREDENTIAL.error("credential_not_usable")
    if credential.kind is CredentialKind.RECOVERY_KEY:
        raise Catalogue.NO_USABLE_CREDENTIAL.error("recovery_key_cannot_sign")
    if (
        not same_family(assertion.kind, credential.kind)
        or credential.cred_id not in challenge.allowed_cred_ids
    ):
        raise Catalogue.NO_USABLE_CREDENTIAL.error("credential_not_usable")
    # From here on the stored kind decides how the assertion is verified.
    fido2 = credential.kind is CredentialKind.FIDO2

    # 2. clientData
    try:
        client_data = parse_json_object(assertion.client_data, max_bytes=MAX_CLIENT_DATA)
    except MalformedInput as exc:
        raise Catalogue.ASSERTION_INVALID.error("client_data_malformed") from exc

    # 3. type
    expected_type = _WEBAUTHN_CLIENT_DATA_TYPE if fido2 else _KEY_CLIENT_DATA_TYPE
    if client_data.get("type") != expected_type:
        raise Catalogue.ASSERTION_INVALID.error("client_data_type")

    # 4. challenge: the string itself (key signers, React Native passkeys) or, for Fido2,
    # base64url(UTF-8(challenge)) (browser passkeys hand `Buffer.from(challenge)` to
    # `navigator.credentials.get`). Both comparisons always run, each in constant time.
    sent_challenge = client_data.get("challenge")
    if not isinstance(sent_challenge, str):
        raise Catalogue.ASSERTION_INVALID.error("challenge_mismatch")
    sent = sent_challenge.encode("utf-8")
    issued = challenge.challenge.encode("utf-8")
    as_issued = hmac.compare_digest(sent, issued)
    as_browser_bytes = hmac.compare_digest(sent, b64url_encode(issued).encode("ascii"))
    if not (as_issued or (fido2 and as_browser_bytes)):
        raise Catalogue.ASSERTION_INVALID.error("challenge_mismatch")

    # 5. origin
    origin = client_data.get("origin")
    allowed_origins = policy.webauthn_origins if fido2 else policy.key_origins
    if fido2 or allowed_origins:
        if not isinstance(origin, str) or origin not in allowed_origins:
            raise Catalogue.ASSERTION_INVALID.error("origin_not_allowed")
    elif origin is not None and not isinstance(origin, str):
        raise Catalogue.ASSERTION_INVALID.error("origin_malformed")

    # 6. crossOrigin
    cross_origin = client_data.get("crossOrigin", False)
    if not isinstance(cross_origin, bool):
        raise Catalogue.ASSERTION_INVALID.error("cross_origin_not_boolean")
    if cross_origin and not policy.allow_cross_origin:
        raise Catalogue.ASSERTION_INVALID.error("cross_origin_not_allowed")

    # 7. topOrigin
    if "topOrigin" in client_data:
        top_origin = client_data["topOrigin"]
        if (
            not cross_origin
            or not isinstance(top_origin, str)
            or top_origin not in policy.allowed_top_origins
        ):
            raise Catalogue.ASSERTION_INVALID.error("top_origin_not_allowed")

    new_sign_count: int | None = None
    if fido2:
        # 8. authenticatorData (parse_factor requires it for Fido2), rpIdHash
        authenticator_data = assertion.authenticator_data or b""
        data = authenticator_parser.parse(authenticator_data)
        expected_rp_hash = hashlib.sha256(policy.rp_id.encode("utf-8")).digest()
        if not hmac.compare_digest(data.rp_id_hash, expected_rp_hash):
            raise Catalogue.ASSERTION_INVALID.error("rp_id_hash_mismatch")
        # 9. flags
        if not data.user_present:
            raise Catalogue.ASSERTION_INVALID.error("user_not_present")
        if policy.user_verification == "required" and not data.user_verified:
            raise Catalogue.ASSERTION_INVALID.error("user_not_verified")
        if data.backup_state and not data.backup_eligible:
            raise Catalogue.ASSERTION_INVALID.error("backup_state_without_eligibility")
        # 10. userHandle
        if assertion.user_handle is not None and not hmac.compare_digest(
            assertion.user_handle, user_handle(caller)
        ):
            raise Catalogue.ASSERTION_INVALID.error("user_handle_mismatch")
        message = authenticator_data + hashlib.sha256(assertion.client_data).digest()
    else:
        message = assertion.client_data

    # 11. signature
    verifier = verifiers.get(credential.kind)
    if verifier is None:
        raise Catalogue.ASSERTION_INVALID.error("kind_not_supported")
    verifier.verify(credential, message=message, signature=assertion.signature)

    # 12. counter (a counter that goes back means a cloned authenticator)
    if fido2:
        if (data.sign_count or credential.sign_count) and data.sign_count <= credential.sign_count:
            raise Catalogue.ASSERTION_INVALID.error("sign_count_rollback")
        new_sign_count = data.sign_count

    evidence = SignedEvidence(
        credential.uuid,
        credential.kind,
        credential.cred_id,
        credential.algorithm,
        credential.public_key,
        assertion.client_data_b64,
        assertion.signature_b64,
        assertion.authenticator_data_b64,
    )
    return VerifiedAssertion(credential, evidence, new_sign_count)


def reverify_evidence(
    evidence: SignedEvidence, verifiers: Mapping[CredentialKind, SignatureVerifier]
) -> None:
    """Verify a kept signature again, offline, from the evidence alone (audit `--verify`).

    Raises ArchiveCoreError(ASSERTION_INVALID) when it no longer verifies.
    """
    try:
        client_data = b64url_decode(evidence.client_data)
        signature = b64url_decode(evidence.signature)
        if evidence.credential_kind is CredentialKind.FIDO2:
            if evidence.authenticator_data is None:
                raise Catalogue.ASSERTION_INVALID.error("evidence_incomplete")
            authenticator = b64url_decode(evidence.authenticator_data)
            message = authenticator + hashlib.sha256(client_data).digest()
        else:
            message = client_data
    except MalformedInput as exc:
        raise Catalogue.ASSERTION_INVALID.error("evidence_malformed") from exc
    verifier = verifiers.get(evidence.credential_kind)
    if verifier is None:
        raise Catalogue.ASSERTION_INVALID.error("kind_not_supported")
    stand_in = Credential(
        uuid=evidence.credential_uuid,
        cred_id=evidence.cred_id,
        user_id=UserId(""),
        org_id=OrgId(""),
        kind=evidence.credential_kind,
        public_key=evidence.public_key,
        algorithm=evidence.algorithm,
    )
    verifier.verify(stand_in, message=message, signature=signature)
