"""Stored forms of the core's values, shared by the SQLite, PostgreSQL and Redis adapters.

Whatever a query filters or orders on is a column of its own; the rest of a record
(evidence, a challenge's requested action, an audit record) is kept as JSON so that
it round-trips exactly. Times inside JSON are ISO-8601 with their offset; times a
query compares are integer microseconds since the epoch (SQLite, Redis) or
`timestamptz` (PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from typing import Any, Final, Generic, TypeVar

from archive_core.audit import AuditRecord, stored_json
from archive_core.encoding import CANONICAL_JSON, micros
from archive_core.entities import (
    Challenge,
    RequestedAction,
    SignedEvidence,
    UserActionGrant,
    UserActionRecord,
)
from archive_core.ids import CredentialUuid, OrgId, UserId

__all__ = [
    "ContentMemo",
    "Memo",
    "audit_from_json",
    "audit_to_json",
    "challenge_from_json",
    "challenge_to_json",
    "iso",
    "micros",
    "user_action_from_json",
    "user_action_to_json",
]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# The canonical form of audit.record_hash: sorted keys, compact, ASCII only.


def _evict_oldest(items: dict[Any, Any], size: int) -> None:
    # First in, first out, once over `size`; no lock on the hot path.
    if len(items) > size:
        try:  # noqa: SIM105 - hot path: contextlib.suppress would cost a context manager
            del items[next(iter(items))]
        except (KeyError, RuntimeError, StopIteration):
            pass  # another thread changed the dict meanwhile: evict next time


class Memo(dict[K, V]):
    """Values built from a key alone, by that key (bounded, oldest out): the ISO text of
    recent UTC instants (`iso`). `memo[key]` is a plain dict lookup on a hit and builds
    the value on a miss. Values built from stored content are a `ContentMemo`'s.
    """

    def __init__(self, build: Callable[[K], V], *, size: int = 4096) -> None:
        super().__init__()
        self._build = build
        self._size = size

    def __missing__(self, key: K) -> V:
        value = self._build(key)
        self.put(key, value)
        return value

    def put(self, key: K, value: V) -> None:
        """Remember a value built elsewhere."""
        self[key] = value  # atomic; no lock on the hot path
        _evict_oldest(self, self._size)


C = TypeVar("C")


class ContentMemo(Generic[K, C, V]):
    """Values built from stored content, kept by what they describe (an id, an org)
    beside the content each was built from (bounded, oldest out).

    A hit needs the same content, *compared* rather than hashed: a row or a text read
    back is a new object every time, and hashing a few KiB of it (a grant's evidence,
    an audit record) costs about as much as the lookup spares (docs/storage.md, *Hot
    path*). So a hit is the same content, hence the same value, whatever happened to
    the row meanwhile. It spares the hot path re-building what this process wrote or
    read a moment ago: the audit head it just appended, the grant it just issued, the
    caller and its permissions.
    """

    __slots__ = ("_build", "_items", "_size")

    def __init__(self, build: Callable[[C], V], *, size: int = 4096) -> None:
        self._build = build
        self._items: dict[K, tuple[C, V]] = {}
        self._size = size

    def get(self, key: K, content: C) -> V:
        """The value built from `content` (what `key` names), built now unless kept."""
        kept = self._items.get(key)
        if kept is not None and kept[0] == content:
            return kept[1]
        value = self._build(content)
        self.put(key, content, value)
        return value

    def put(self, key: K, content: C, value: V) -> None:
        """Keep a value built elsewhere (for example, from the text just written)."""
        self._items[key] = (content, value)  # atomic; no lock on the hot path
        _evict_oldest(self._items, self._size)

    def __len__(self) -> int:
        return len(self._items)


_UTC_TEXT: Final[Memo[datetime, str]] = Memo(datetime.isoformat, size=64)


def iso(moment: datetime) -> str:
    """`moment.isoformat()`, remembered for recent UTC instants: one archive writes the
    same `now` five times. (Only UTC: equal instants in other zones may print apart.)"""
    if moment.tzinfo is UTC:
        return _UTC_TEXT[moment]
    return moment.isoformat()


def _dumps(document: Any) -> str:
    return CANONICAL_JSON.encode(document)


def audit_to_json(record: AuditRecord) -> str:
    """The canonical JSON of `AuditRecord.to_dict()` (sorted keys, compact, ASCII).

    Written out field by field, which is twice as fast as building the dict and
    encoding it; the first call of each process checks the result against
    `json.dumps(record.to_dict(), ...)` and falls back to that for good if they
    differ (a field added to AuditRecord, say).
    """
    if _fast_audit_json:
        text = _audit_json(record)
        if _fast_audit_json_checked:
            return text
        return _check_fast_audit_json(record, text)
    return _dumps(record.to_dict())


_fast_audit_json = True
_fast_audit_json_checked = False


def _check_fast_audit_json(record: AuditRecord, text: str) -> str:
    global _fast_audit_json, _fast_audit_json_checked  # noqa: PLW0603 - a once-per-process switch
    canonical = _dumps(record.to_dict())
    _fast_audit_json = text == canonical
    _fast_audit_json_checked = True
    return canonical


def _audit_json(r: AuditRecord) -> str:
    # The core's hand-written canonical writer, with the record's own hash kept (not
    # written again for a record sealed in this process, the one an archive appends).
    return stored_json(r)


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


def user_action_from_json(text: str, used_at: datetime | None = None) -> UserActionRecord:
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
