"""Decision records, hash-chained per org, and their verification.

Each record carries the hash of the record before it in the same org
(`prev_hash`, the genesis value for the first) and its own hash over a canonical
JSON form of everything else. `verify_audit_chain` recomputes both and checks the
sequence numbers, so an edit, an insertion or a deletion inside the chain is found;
deleting the newest records is found when the caller passes the head it expects
(for example one kept elsewhere or printed by a previous run).

A decision's record is built and hashed once, as it is written (`sealed_record`; a
draft is chained by `chain_record`, which calls it): its canonical JSON is written field
by field (`record_json`) rather than by building `content()` and encoding it, because
every signed mutation writes one (`flow_time_ratio`, docs/benchmarks.md §1).
tests/unit/test_audit_json.py holds it byte for byte to the encoder that `record_hash`
and `verify_audit_chain` use; a field of an unexpected type raises rather than hashing
differently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from json.encoder import encode_basestring_ascii as _quote
from typing import Any, Final

import attrs

from archive_core.encoding import CANONICAL_JSON
from archive_core.entities import SignedEvidence, UserState
from archive_core.ids import OrgId, UserId

__all__ = [
    "GENESIS_HASH",
    "AuditRecord",
    "AuditWindow",
    "ChainBreak",
    "ChainVerification",
    "chain_record",
    "leaf_data",
    "record_hash",
    "record_json",
    "sealed_record",
    "stored_json",
    "verify_audit_chain",
]

GENESIS_HASH: Final = "0" * 64
_encode: Final = CANONICAL_JSON.encode


@attrs.frozen
class AuditRecord:
    """Who did what, when, on the strength of which signed evidence and permissions."""

    id: str
    org_id: OrgId
    sequence: int
    action: str
    user_action_id: str
    actor_id: UserId
    actor_username: str
    actor_kind: str
    token_kind: str
    performed_at: datetime
    evidence: tuple[SignedEvidence, ...]
    permissions_required: tuple[str, ...]
    permissions_matched: tuple[str, ...]
    target_id: UserId
    #: None for a creation: there was nothing before
    target_before: UserState | None
    target_after: UserState
    prev_hash: str
    hash: str
    #: When the user action behind it was signed (its token issued): SPEC §1.6's
    #: `dateSigned`. None for a record written before it was kept; then absent from
    #: the content, so such a record's hash is what it was.
    signed_at: datetime | None = None
    #: The canonical JSON its hash was computed over and where a stored form puts its
    #: `"hash"` member in it, kept by `sealed_record` (None for a record built any other
    #: way: `attrs.evolve`, `from_dict`, the constructor). Not content: no part of
    #: equality, hashing, `repr` or `to_dict`.
    _hashed_json: tuple[str, int] | None = attrs.field(
        default=None, init=False, eq=False, repr=False
    )

    def content(self) -> dict[str, Any]:
        """Everything the hash covers (all fields but `hash`), JSON-ready."""
        return {
            "id": self.id,
            "orgId": self.org_id,
            "sequence": self.sequence,
            "action": self.action,
            "userActionId": self.user_action_id,
            "actorId": self.actor_id,
            "actorUsername": self.actor_username,
            "actorKind": self.actor_kind,
            "tokenKind": self.token_kind,
            "performedAt": self.performed_at.isoformat(),
            "evidence": [e.to_dict() for e in self.evidence],
            "permissionsRequired": list(self.permissions_required),
            "permissionsMatched": list(self.permissions_matched),
            "targetId": self.target_id,
            "targetBefore": None if self.target_before is None else self.target_before.to_dict(),
            "targetAfter": self.target_after.to_dict(),
            "prevHash": self.prev_hash,
            **({} if self.signed_at is None else {"signedAt": self.signed_at.isoformat()}),
        }

    def to_dict(self) -> dict[str, Any]:
        """The full JSON-ready record (what storage adapters keep and the CLI prints)."""
        return {**self.content(), "hash": self.hash}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditRecord:
        """Inverse of `to_dict` (no verification: that is `verify_audit_chain`'s job)."""
        return cls(
            id=data["id"],
            org_id=OrgId(data["orgId"]),
            sequence=int(data["sequence"]),
            action=data["action"],
            user_action_id=data["userActionId"],
            actor_id=UserId(data["actorId"]),
            actor_username=data["actorUsername"],
            actor_kind=data["actorKind"],
            token_kind=data["tokenKind"],
            performed_at=datetime.fromisoformat(data["performedAt"]),
            evidence=tuple(SignedEvidence.from_dict(e) for e in data["evidence"]),
            permissions_required=tuple(data["permissionsRequired"]),
            permissions_matched=tuple(data["permissionsMatched"]),
            target_id=UserId(data["targetId"]),
            target_before=(
                None if data["targetBefore"] is None else UserState.from_dict(data["targetBefore"])
            ),
            target_after=UserState.from_dict(data["targetAfter"]),
            prev_hash=data["prevHash"],
            hash=data["hash"],
            signed_at=None if "signedAt" not in data else datetime.fromisoformat(data["signedAt"]),
        )


@attrs.frozen(kw_only=True)
class AuditWindow:
    """The records an export reads: those performed at `start` or later and before
    `end`, by `actor` when it is given."""

    start: datetime
    end: datetime
    actor: UserId | None = None

    def holds(self, record: AuditRecord) -> bool:
        """Whether `record` falls in this window."""
        return self.start <= record.performed_at < self.end and (
            self.actor is None or record.actor_id == self.actor
        )


def record_hash(content: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a record's content (sorted keys, compact, ASCII)."""
    return hashlib.sha256(CANONICAL_JSON.encode(content).encode("ascii")).hexdigest()


def _state_json(state: UserState | None, performed_at: datetime, performed_json: str) -> str:
    # A time is written as its ISO text in quotes (an ISO text holds nothing to escape);
    # an archive's new state is stamped with the very `performed_at` of its record,
    # whose text is already written. A bool is `true`/`false`, an int its digits (a
    # field of another type is written as the encoder writes it: tests hold the two
    # equal). Inline, not helper calls: two of these run per archive. A creation's
    # "before" is nothing: `null`.
    if state is None:
        return "null"
    archived = state.archived_at
    active = state.is_active
    version = state.version
    if archived is None:
        archived_json = "null"
    elif archived is performed_at:
        archived_json = performed_json
    else:
        archived_json = f'"{archived.isoformat()}"'
    return (
        f'{{"archivedAt":{archived_json},"isActive":'
        f"{'true' if active is True else 'false' if active is False else _encode(active)}"
        f',"version":{int.__repr__(version) if type(version) is int else _encode(version)}}}'
    )


def _evidence_json(e: SignedEvidence) -> str:
    data = e.authenticator_data
    return (
        f'{{"algorithm":{_quote(e.algorithm)},'
        f'"authenticatorData":{"null" if data is None else _quote(data)},'
        f'"clientData":{_quote(e.client_data)},'
        f'"credId":{_quote(e.cred_id)},'
        f'"credentialUuid":{_quote(e.credential_uuid)},'
        f'"kind":{_quote(e.credential_kind._value_)},'
        f'"publicKey":{_quote(e.public_key)},'
        f'"signature":{_quote(e.signature)}}}'
    )


def record_json(
    r: AuditRecord, *, sequence: int, prev_hash: str, stored_hash: str | None = None
) -> str:
    """`CANONICAL_JSON.encode(r.content())` with `sequence` and `prev_hash` in place of r's
    (what the record's hash covers), and with `"hash": stored_hash` when given (what a
    store keeps): the keys in sorted order, each value as the encoder writes it. Written
    by hand for speed, and held byte for byte to the encoder by tests."""
    head, tail = _canonical_parts(r, sequence, prev_hash)
    if stored_hash is None:
        return head + tail
    return f'{head}"hash":{_quote(stored_hash)},{tail}'


def stored_json(record: AuditRecord) -> str:
    """What a store keeps of a record: `record_json(record, sequence=record.sequence,
    prev_hash=record.prev_hash, stored_hash=record.hash)`, the canonical JSON of
    `record.to_dict()`. A record sealed in this process (`sealed_record`) was written
    when it was hashed, so it is not written again here (docs/benchmarks.md §3)."""
    hashed = record._hashed_json
    if hashed is None:
        return record_json(
            record, sequence=record.sequence, prev_hash=record.prev_hash, stored_hash=record.hash
        )
    text, at = hashed
    # The hash is the hex digest of this very text: nothing in it to escape.
    return f'{text[:at]}"hash":"{record.hash}",{text[at:]}'


def leaf_data(record: AuditRecord) -> bytes:
    """The record's leaf in its org's Merkle tree (`archive_core.merkle`): the canonical
    JSON its hash covers, as bytes (ASCII). A record sealed in this process was written
    when it was hashed, so it is not written again here."""
    hashed = record._hashed_json
    if hashed is None:
        text = record_json(record, sequence=record.sequence, prev_hash=record.prev_hash)
    else:
        text = hashed[0]
    return text.encode("ascii")


def _canonical_parts(r: AuditRecord, sequence: int, prev_hash: str) -> tuple[str, str]:
    # The canonical JSON of a record's content, in two halves: before and after the place
    # a stored record's `"hash"` member takes in key order (between `evidence` and `id`).
    performed_at = r.performed_at
    performed = f'"{performed_at.isoformat()}"'
    signed_at = r.signed_at
    signed = "" if signed_at is None else f'"signedAt":"{signed_at.isoformat()}",'
    return (
        f'{{"action":{_quote(r.action)},'
        f'"actorId":{_quote(r.actor_id)},'
        f'"actorKind":{_quote(r.actor_kind)},'
        f'"actorUsername":{_quote(r.actor_username)},'
        f'"evidence":[{",".join(map(_evidence_json, r.evidence))}],',
        f'"id":{_quote(r.id)},'
        f'"orgId":{_quote(r.org_id)},'
        f'"performedAt":{performed},'
        f'"permissionsMatched":[{",".join(map(_quote, r.permissions_matched))}],'
        f'"permissionsRequired":[{",".join(map(_quote, r.permissions_required))}],'
        f'"prevHash":{_quote(prev_hash)},'
        f'"sequence":{int.__repr__(sequence) if type(sequence) is int else _encode(sequence)},'
        f"{signed}"
        f'"targetAfter":{_state_json(r.target_after, performed_at, performed)},'
        f'"targetBefore":{_state_json(r.target_before, performed_at, performed)},'
        f'"targetId":{_quote(r.target_id)},'
        f'"tokenKind":{_quote(r.token_kind)},'
        f'"userActionId":{_quote(r.user_action_id)}}}',
    )


def sealed_record(
    previous: AuditRecord | None,
    *,
    id: str,
    org_id: OrgId,
    action: str,
    user_action_id: str,
    actor_id: UserId,
    actor_username: str,
    actor_kind: str,
    token_kind: str,
    performed_at: datetime,
    evidence: tuple[SignedEvidence, ...],
    permissions_required: tuple[str, ...],
    permissions_matched: tuple[str, ...],
    target_id: UserId,
    target_before: UserState | None,
    target_after: UserState,
    signed_at: datetime | None = None,
) -> AuditRecord:
    """A new record placed after `previous` (None: the first of its org), hashed: the
    one object a decision builds (no draft to chain afterwards)."""
    if previous is None:
        sequence, prev_hash = 1, GENESIS_HASH
    else:
        sequence, prev_hash = previous.sequence + 1, previous.hash
    record = AuditRecord(  # positional, in the fields' order: built once per decision
        id,
        org_id,
        sequence,
        action,
        user_action_id,
        actor_id,
        actor_username,
        actor_kind,
        token_kind,
        performed_at,
        evidence,
        permissions_required,
        permissions_matched,
        target_id,
        target_before,
        target_after,
        prev_hash,
        "",  # its hash, set below
        signed_at,
    )
    head, tail = _canonical_parts(record, sequence, prev_hash)
    text = head + tail
    # Sealed before anyone sees it: its hash, and for `stored_json` the text the hash
    # covers, so that a store writes the record without writing its JSON again.
    object.__setattr__(record, "hash", hashlib.sha256(text.encode("ascii")).hexdigest())
    object.__setattr__(record, "_hashed_json", (text, len(head)))
    return record


def chain_record(record: AuditRecord, previous: AuditRecord | None) -> AuditRecord:
    """`record` placed after `previous` in its org's chain: sequence, prev_hash and hash set."""
    return sealed_record(
        previous,
        id=record.id,
        org_id=record.org_id,
        action=record.action,
        user_action_id=record.user_action_id,
        actor_id=record.actor_id,
        actor_username=record.actor_username,
        actor_kind=record.actor_kind,
        token_kind=record.token_kind,
        performed_at=record.performed_at,
        evidence=record.evidence,
        permissions_required=record.permissions_required,
        permissions_matched=record.permissions_matched,
        target_id=record.target_id,
        target_before=record.target_before,
        target_after=record.target_after,
        signed_at=record.signed_at,
    )


@attrs.frozen
class ChainBreak:
    """Where and how a chain fails to verify."""

    org_id: str
    sequence: int
    reason: str


@attrs.frozen
class ChainVerification:
    """The outcome of `verify_audit_chain`: ok, or the breaks found (first per org)."""

    checked: int
    breaks: tuple[ChainBreak, ...]
    heads: Mapping[str, str]

    @property
    def ok(self) -> bool:
        """True when no break was found."""
        return not self.breaks


def verify_audit_chain(
    records: Iterable[AuditRecord],
    *,
    expected_heads: Mapping[str, str] | None = None,
) -> ChainVerification:
    """Check every org's chain: hashes recomputed, links and sequence numbers contiguous.

    `expected_heads` (org id → hash of the newest record) also catches truncation.
    """
    by_org: dict[str, list[AuditRecord]] = {}
    count = 0
    for record in records:
        by_org.setdefault(record.org_id, []).append(record)
        count += 1
    breaks: list[ChainBreak] = []
    heads: dict[str, str] = {}
    for org_id, chain in by_org.items():
        broken = _first_break(org_id, chain)
        if broken is not None:
            breaks.append(broken)
        heads[org_id] = chain[-1].hash
    for org_id, head in (expected_heads or {}).items():
        if heads.get(org_id, GENESIS_HASH) != head and not any(b.org_id == org_id for b in breaks):
            last = by_org[org_id][-1].sequence if org_id in by_org else 0
            breaks.append(ChainBreak(org_id, last, "head_mismatch"))
    return ChainVerification(checked=count, breaks=tuple(breaks), heads=heads)


def _first_break(org_id: str, chain: list[AuditRecord]) -> ChainBreak | None:
    previous_hash = GENESIS_HASH
    for expected_sequence, record in enumerate(chain, start=1):
        if record.sequence != expected_sequence:
            return ChainBreak(org_id, record.sequence, "sequence_gap")
        if record.prev_hash != previous_hash:
            return ChainBreak(org_id, record.sequence, "link_mismatch")
        if record.hash != record_hash(record.content()):
            return ChainBreak(org_id, record.sequence, "hash_mismatch")
        previous_hash = record.hash
    return None
