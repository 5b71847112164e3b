"""Stored forms of the core's values, shared by the SQLite, PostgreSQL and Redis adapters.

Whatever a query filters or orders on is a column of its own; the rest of a record
(evidence, a challenge's requested action, an audit record) is kept as JSON so that
it round-trips exactly. Times inside JSON are ISO-8601 with their offset; times a
query compares are integer microseconds since the epoch (SQLite, Redis) or
`timestamptz` (PostgreSQL).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from archive_core.audit import AuditRecord
from archive_core.entities import (
    Challenge,
    RequestedAction,
    SignedEvidence,
    UserActionGrant,
    UserActionRecord,
)
from archive_core.ids import CredentialUuid, OrgId, UserId

__all__ = [
    "audit_from_json",
    "audit_to_json",
    "challenge_from_json",
    "challenge_to_json",
    "micros",
    "user_action_from_json",
    "user_action_to_json",
]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch (a naive time is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def _dumps(document: Any) -> str:
    # The canonical form of audit.record_hash: sorted keys, compact, ASCII only.
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def audit_to_json(record: AuditRecord) -> str:
    """The canonical JSON of `AuditRecord.to_dict()`."""
    return _dumps(record.to_dict())


def audit_from_json(text: str) -> AuditRecord:
    """Inverse of `audit_to_json`."""
    return AuditRecord.from_dict(json.loads(text))


def user_action_to_json(record: UserActionRecord) -> str:
    """A grant and its evidence (its use is a column of its own)."""
    grant = record.grant
    return _dumps(
        {
            "tokenId": grant.token_id,
            "userId": grant.user_id,
            "orgId": grant.org_id,
            "credentialUuid": grant.credential_uuid,
            "method": grant.method,
            "path": grant.path,
            "payloadSha256": grant.payload_sha256,
            "issuedAt": grant.issued_at.isoformat(),
            "expiresAt": grant.expires_at.isoformat(),
            "evidence": [e.to_dict() for e in record.evidence],
        }
    )


def user_action_from_json(text: str, used_at: datetime | None) -> UserActionRecord:
    """Inverse of `user_action_to_json`, with the stored use."""
    data = json.loads(text)
    grant = UserActionGrant(
        token_id=data["tokenId"],
        user_id=UserId(data["userId"]),
        org_id=OrgId(data["orgId"]),
        credential_uuid=CredentialUuid(data["credentialUuid"]),
        method=data["method"],
        path=data["path"],
        payload_sha256=data["payloadSha256"],
        issued_at=datetime.fromisoformat(data["issuedAt"]),
        expires_at=datetime.fromisoformat(data["expiresAt"]),
    )
    evidence = tuple(SignedEvidence.from_dict(e) for e in data["evidence"])
    return UserActionRecord(grant=grant, evidence=evidence, used_at=used_at)


def challenge_to_json(challenge: Challenge) -> str:
    """An open challenge, owner included (the Redis take script reads `userId`)."""
    action = challenge.action
    return _dumps(
        {
            "key": challenge.key,
            "userId": challenge.user_id,
            "orgId": challenge.org_id,
            "challenge": challenge.challenge,
            "action": {
                "method": action.method,
                "path": action.path,
                "payloadSha256": action.payload_sha256,
                "serverKind": action.server_kind,
            },
            "allowedCredIds": list(challenge.allowed_cred_ids),
            "issuedAt": challenge.issued_at.isoformat(),
            "expiresAt": challenge.expires_at.isoformat(),
        }
    )


def challenge_from_json(text: str | bytes) -> Challenge:
    """Inverse of `challenge_to_json`."""
    data = json.loads(text)
    action = data["action"]
    return Challenge(
        key=data["key"],
        user_id=UserId(data["userId"]),
        org_id=OrgId(data["orgId"]),
        challenge=data["challenge"],
        action=RequestedAction(
            method=action["method"],
            path=action["path"],
            payload_sha256=action["payloadSha256"],
            server_kind=action["serverKind"],
        ),
        allowed_cred_ids=tuple(data["allowedCredIds"]),
        issued_at=datetime.fromisoformat(data["issuedAt"]),
        expires_at=datetime.fromisoformat(data["expiresAt"]),
    )
