"""`sealed_record` (and `chain_record`, through it) hashes a record's canonical JSON
written field by field; it must be, byte for byte, what `record_hash` computes from
`content()` (and so what `verify_audit_chain` recomputes)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive_core.audit import (
    GENESIS_HASH,
    AuditRecord,
    chain_record,
    record_hash,
    record_json,
    stored_json,
    verify_audit_chain,
)
from archive_core.entities import CredentialKind, SignedEvidence, UserState
from archive_core.ids import CredentialUuid, OrgId, UserId

_TEXT = st.text(max_size=12)
_ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)
_TIMES = st.datetimes(timezones=_ZONES)
_STATES = st.builds(
    UserState,
    is_active=st.booleans(),
    archived_at=st.none() | _TIMES,
    version=st.integers(min_value=-(2**70), max_value=2**70),
)
_EVIDENCE = st.builds(
    SignedEvidence,
    credential_uuid=_TEXT.map(CredentialUuid),
    credential_kind=st.sampled_from(CredentialKind),
    cred_id=_TEXT,
    algorithm=_TEXT,
    public_key=_TEXT,
    client_data=_TEXT,
    signature=_TEXT,
    authenticator_data=st.none() | _TEXT,
)
_RECORDS = st.builds(
    AuditRecord,
    id=_TEXT,
    org_id=_TEXT.map(OrgId),
    sequence=st.integers(min_value=0, max_value=2**40),
    action=_TEXT,
    user_action_id=_TEXT,
    actor_id=_TEXT.map(UserId),
    actor_username=_TEXT,
    actor_kind=_TEXT,
    token_kind=_TEXT,
    performed_at=_TIMES,
    evidence=st.lists(_EVIDENCE, max_size=3).map(tuple),
    permissions_required=st.lists(_TEXT, max_size=3).map(tuple),
    permissions_matched=st.lists(_TEXT, max_size=3).map(tuple),
    target_id=_TEXT.map(UserId),
    target_before=st.none() | _STATES,  # None: a creation's
    target_after=_STATES,
    prev_hash=_TEXT,
    hash=_TEXT,
    signed_at=st.none() | _TIMES,
)
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def reference_chain_record(record: AuditRecord, previous: AuditRecord | None) -> AuditRecord:
    """What `chain_record` computes, the plain way: `content()` encoded."""
    sequence = 1 if previous is None else previous.sequence + 1
    prev_hash = GENESIS_HASH if previous is None else previous.hash
    content = record.content()
    content["sequence"] = sequence
    content["prevHash"] = prev_hash
    return attrs.evolve(record, sequence=sequence, prev_hash=prev_hash, hash=record_hash(content))


@given(_RECORDS, st.integers(min_value=-(2**70), max_value=2**70), _TEXT)
def test_field_by_field_json_is_the_canonical_encoding(
    record: AuditRecord, sequence: int, prev_hash: str
) -> None:
    content = record.content()
    content["sequence"] = sequence
    content["prevHash"] = prev_hash
    assert record_json(record, sequence=sequence, prev_hash=prev_hash) == _CANONICAL.encode(content)


@given(_RECORDS, st.none() | _RECORDS)
def test_chain_record_is_unchanged(record: AuditRecord, previous: AuditRecord | None) -> None:
    chained = chain_record(record, previous)
    assert chained == reference_chain_record(record, previous)
    assert chained.hash == record_hash(chained.content())


@given(st.lists(_RECORDS, min_size=1, max_size=4))
def test_a_chain_built_by_chain_record_verifies(drafts: list[AuditRecord]) -> None:
    chain: list[AuditRecord] = []
    for draft in drafts:
        same_org = attrs.evolve(draft, org_id=OrgId("or-x"))
        chain.append(chain_record(same_org, chain[-1] if chain else None))
    assert verify_audit_chain(chain).ok


def test_int_and_bool_fields_are_written_as_the_encoder_writes_them() -> None:
    state = UserState(is_active=1, archived_at=None, version=True)  # type: ignore[arg-type]
    record = AuditRecord(
        id="au-1",
        org_id=OrgId("or-1"),
        sequence=0,
        action="A",
        user_action_id="ua-1",
        actor_id=UserId("us-1"),
        actor_username="é\n\u2028",
        actor_kind="CustomerEmployee",
        token_kind="Login",
        performed_at=datetime(2026, 1, 1, tzinfo=UTC),
        evidence=(),
        permissions_required=(),
        permissions_matched=(),
        target_id=UserId("us-2"),
        target_before=state,
        target_after=state,
        prev_hash="",
        hash="",
    )
    content = record.content()
    content["sequence"] = False
    content["prevHash"] = GENESIS_HASH
    expected = _CANONICAL.encode(content)
    assert record_json(record, sequence=False, prev_hash=GENESIS_HASH) == expected
    assert '"isActive":1' in expected and '"version":true' in expected
    assert hashlib.sha256(expected.encode()).hexdigest() == record_hash(content)


def test_a_field_of_another_type_is_refused_not_hashed_differently() -> None:
    record = AuditRecord(
        id=None,  # type: ignore[arg-type]
        org_id=OrgId("or-1"),
        sequence=0,
        action="A",
        user_action_id="ua-1",
        actor_id=UserId("us-1"),
        actor_username="x",
        actor_kind="CustomerEmployee",
        token_kind="Login",
        performed_at=datetime(2026, 1, 1, tzinfo=UTC),
        evidence=(),
        permissions_required=(),
        permissions_matched=(),
        target_id=UserId("us-2"),
        target_before=UserState(is_active=True, archived_at=None, version=1),
        target_after=UserState(is_active=False, archived_at=None, version=2),
        prev_hash="",
        hash="",
    )
    with pytest.raises(TypeError):
        chain_record(record, None)


@given(_RECORDS)
def test_the_stored_form_is_the_canonical_json_of_the_record_with_its_hash(
    record: AuditRecord,
) -> None:
    stored = record_json(
        record, sequence=record.sequence, prev_hash=record.prev_hash, stored_hash=record.hash
    )
    assert stored == _CANONICAL.encode(record.to_dict())


@given(_RECORDS, st.none() | _RECORDS)
def test_a_sealed_record_is_stored_as_the_canonical_json_of_its_dict(
    record: AuditRecord, previous: AuditRecord | None
) -> None:
    sealed = chain_record(record, previous)  # through sealed_record, which keeps its JSON
    assert sealed._hashed_json is not None
    text, _ = sealed._hashed_json
    assert hashlib.sha256(text.encode()).hexdigest() == sealed.hash == record_hash(sealed.content())
    assert stored_json(sealed) == _CANONICAL.encode(sealed.to_dict())


@given(_RECORDS, st.none() | _RECORDS, st.integers(min_value=0, max_value=2**40), _TEXT)
def test_a_record_changed_after_sealing_is_stored_as_it_now_is(
    record: AuditRecord, previous: AuditRecord | None, sequence: int, text: str
) -> None:
    sealed = chain_record(record, previous)
    changed = attrs.evolve(sealed, sequence=sequence, prev_hash=text, hash=text)
    assert changed._hashed_json is None  # what was kept describes the sealed record only
    assert stored_json(changed) == _CANONICAL.encode(changed.to_dict())
    loaded = AuditRecord.from_dict(json.loads(stored_json(sealed)))
    assert loaded._hashed_json is None
    assert stored_json(loaded) == stored_json(sealed)


@given(_RECORDS)
def test_what_a_sealed_record_keeps_is_not_part_of_its_value(record: AuditRecord) -> None:
    sealed = chain_record(record, None)
    same = attrs.evolve(sealed)
    assert sealed == same
    assert hash(sealed) == hash(same)
    assert repr(sealed) == repr(same)
    assert sealed.to_dict() == same.to_dict()
