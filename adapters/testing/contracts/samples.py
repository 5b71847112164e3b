"""Sample values for the contract suites: every field set, nothing left to a default
that could hide a column an adapter forgot."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

import attrs

from archive_core.audit import GENESIS_HASH, AuditRecord, chain_record
from archive_core.entities import (
    FULL_ADMIN,
    Application,
    Assignment,
    Challenge,
    Credential,
    CredentialKind,
    Permission,
    RequestedAction,
    SignedEvidence,
    User,
    UserActionGrant,
    UserActionRecord,
    UserKind,
    UserState,
)
from archive_core.ids import AppId, AssignmentId, CredentialUuid, OrgId, PermissionId, UserId
from archive_core.ports import SigningKey

T0: Final = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
#: A time with a non-UTC offset: stores must give back the same instant.
T0_PARIS: Final = datetime(2026, 1, 1, 13, 30, 15, 123456, tzinfo=timezone(timedelta(hours=1)))
ARCHIVE_OPS: Final = ("Auth:Users:Update", "Auth:Types:Employee", "Auth:Types:EndUser")

_counter = itertools.count(1)


def _serial() -> str:
    return f"{next(_counter):05d}"


def org_id(name: str = "") -> OrgId:
    """A fresh org id (or a fixed one from `name`)."""
    return OrgId(f"or-{name}" if name else f"or-{_serial()}-test")


def user(org: OrgId, **changes: object) -> User:
    """An active employee of `org` with every field set."""
    serial = _serial()
    base = User(
        id=UserId(f"us-{serial}-test"),
        org_id=org,
        username=f"user{serial}@example.co",
        kind=UserKind.CUSTOMER_EMPLOYEE,
        credential_uuid=CredentialUuid(f"cr-{serial}-test"),
        is_active=True,
        archived_at=None,
        is_service_account=False,
        is_registered=True,
        version=1,
    )
    return attrs.evolve(base, **changes)  # type: ignore[arg-type]  # test helper


def credential(owner: User, **changes: object) -> Credential:
    """A Key credential of `owner`."""
    serial = _serial()
    base = Credential(
        uuid=CredentialUuid(f"cr-{serial}-cred"),
        cred_id=f"cid-{serial}",
        user_id=owner.id,
        org_id=owner.org_id,
        kind=CredentialKind.KEY,
        public_key="-----BEGIN PUBLIC KEY-----\nMFkw" + serial + "\n-----END PUBLIC KEY-----\n",
        algorithm="ES256",
        is_active=True,
        sign_count=0,
        encrypted_private_key=None,
    )
    return attrs.evolve(base, **changes)  # type: ignore[arg-type]  # test helper


def application(org: OrgId, **changes: object) -> Application:
    """An active application of `org`."""
    base = Application(id=AppId(f"ap-{_serial()}-test"), org_id=org, name="an app")
    return attrs.evolve(base, **changes)  # type: ignore[arg-type]  # test helper


def permission(
    org: OrgId, operations: tuple[str, ...] = ARCHIVE_OPS, **changes: object
) -> Permission:
    """A permission of `org` with these operations."""
    serial = _serial()
    base = Permission(
        id=PermissionId(f"pm-{serial}-test"),
        org_id=org,
        name=f"permission {serial}",
        operations=operations,
    )
    return attrs.evolve(base, **changes)  # type: ignore[arg-type]  # test helper


def full_admin(org: OrgId) -> Permission:
    """The built-in full admin permission of `org`."""
    return permission(org, (), name=FULL_ADMIN)


def assignment(granted: Permission, holder: User) -> Assignment:
    """`granted` assigned to `holder`."""
    return Assignment(
        id=AssignmentId(f"as-{_serial()}-test"),
        permission_id=granted.id,
        identity_id=holder.id,
        org_id=holder.org_id,
    )


def evidence(fido2: bool = False) -> SignedEvidence:
    """Signed evidence, with authenticator data for Fido2."""
    return SignedEvidence(
        credential_uuid=CredentialUuid(f"cr-{_serial()}-ev"),
        credential_kind=CredentialKind.FIDO2 if fido2 else CredentialKind.KEY,
        cred_id="cid-evidence",
        algorithm="ES256",
        public_key="pk",
        client_data="eyJ0eXBlIjoia2V5LmdldCJ9",
        signature="c2lnbmF0dXJl",
        authenticator_data="YXV0aA" if fido2 else None,
    )


def grant_record(
    holder: User,
    *,
    issued_at: datetime = T0,
    ttl: timedelta = timedelta(minutes=5),
    used_at: datetime | None = None,
) -> UserActionRecord:
    """An issued user action grant of `holder` with two factors of evidence."""
    grant = UserActionGrant(
        token_id=f"ua-{_serial()}-token",
        user_id=holder.id,
        org_id=holder.org_id,
        credential_uuid=holder.credential_uuid,
        method="DELETE",
        path=f"/auth/users/us-{_serial()}-target",
        payload_sha256="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        issued_at=issued_at,
        expires_at=issued_at + ttl,
    )
    return UserActionRecord(
        grant=grant, evidence=(evidence(), evidence(fido2=True)), used_at=used_at
    )


def audit_record(
    org: OrgId,
    previous: AuditRecord | None,
    *,
    at: datetime = T0_PARIS,
    actor: UserId | None = None,
) -> AuditRecord:
    """The record that follows `previous` in `org`'s chain (by `actor`, or a new user)."""
    serial = _serial()
    before = UserState(is_active=True, archived_at=None, version=1)
    draft = AuditRecord(
        id=f"au-{serial}-test",
        org_id=org,
        sequence=0,
        action=f"DELETE /auth/users/us-{serial}-target",
        user_action_id=f"ua-{serial}",
        actor_id=actor or UserId(f"us-{serial}-actor"),
        actor_username="actor@example.co",
        actor_kind="CustomerEmployee",
        token_kind="Login",
        performed_at=at,
        evidence=(evidence(), evidence(fido2=True)),
        permissions_required=("Auth:Users:Update", "Auth:Types:Employee"),
        permissions_matched=("Auth:Users:Update", "Auth:Types:Employee"),
        target_id=UserId(f"us-{serial}-target"),
        target_before=before,
        target_after=UserState(is_active=False, archived_at=at, version=2),
        prev_hash=GENESIS_HASH,
        hash="",
        signed_at=at - timedelta(seconds=1),
    )
    return chain_record(draft, previous)


def challenge(
    owner: UserId, *, issued_at: datetime = T0, ttl: timedelta = timedelta(minutes=5)
) -> Challenge:
    """An open challenge of `owner`."""
    serial = _serial()
    return Challenge(
        key=f"{serial:0>64}",
        user_id=owner,
        org_id=OrgId("or-challenge-test"),
        challenge=f"challenge-{serial}",
        action=RequestedAction(
            method="DELETE",
            path=f"/auth/users/us-{serial}-target",
            payload_sha256="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            server_kind="Api",
        ),
        allowed_cred_ids=("cid-1", "cid-2"),
        issued_at=issued_at,
        expires_at=issued_at + ttl,
    )


def signing_key(purpose: str = "user-action", **changes: object) -> SigningKey:
    """A signing key of this purpose."""
    serial = _serial()
    base = SigningKey(
        kid=f"kid-{serial}",
        purpose=purpose,
        algorithm="EdDSA",
        private_key=f"-----BEGIN PRIVATE KEY-----\n{serial}\n-----END PRIVATE KEY-----\n",
        created_at=T0_PARIS,
        retired_at=None,
    )
    return attrs.evolve(base, **changes)  # type: ignore[arg-type]  # test helper
