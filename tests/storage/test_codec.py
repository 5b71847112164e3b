"""Stored forms: the fast audit JSON is byte for byte the canonical one, every form
round-trips, and the memo of built values stays bounded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.storage import codec
from adapters.testing.contracts import samples
from archive_core.audit import GENESIS_HASH, AuditRecord, chain_record
from archive_core.entities import (
    Challenge,
    CredentialKind,
    RequestedAction,
    SignedEvidence,
    UserActionGrant,
    UserActionRecord,
    UserState,
)
from archive_core.ids import CredentialUuid, OrgId, UserId

texts = st.text(max_size=40)
moments = st.builds(
    lambda base, minutes, offset: (base + timedelta(minutes=minutes)).astimezone(
        timezone(timedelta(minutes=offset))
    ),
    st.just(datetime(2026, 1, 1, tzinfo=UTC)),
    st.integers(-10_000, 10_000),
    st.integers(-720, 720),
)
evidence = st.builds(
    SignedEvidence,
    credential_uuid=texts.map(CredentialUuid),
    credential_kind=st.sampled_from(CredentialKind),
    cred_id=texts,
    algorithm=texts,
    public_key=texts,
    client_data=texts,
    signature=texts,
    authenticator_data=st.none() | texts,
)
states = st.builds(
    UserState,
    is_active=st.booleans(),
    archived_at=st.none() | moments,
    version=st.integers(0, 2**40),
)


@st.composite
def audit_records(draw: st.DrawFn) -> AuditRecord:
    draft = AuditRecord(
        id=draw(texts),
        org_id=OrgId(draw(texts)),
        sequence=0,
        action=draw(texts),
        user_action_id=draw(texts),
        actor_id=UserId(draw(texts)),
        actor_username=draw(texts),
        actor_kind=draw(texts),
        token_kind=draw(texts),
        performed_at=draw(moments),
        evidence=tuple(draw(st.lists(evidence, max_size=3))),
        permissions_required=tuple(draw(st.lists(texts, max_size=3))),
        permissions_matched=tuple(draw(st.lists(texts, max_size=3))),
        target_id=UserId(draw(texts)),
        target_before=draw(states),
        target_after=draw(states),
        prev_hash=GENESIS_HASH,
        hash="",
    )
    return chain_record(draft, None)


def canonical(record: AuditRecord) -> str:
    return json.dumps(record.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


@given(audit_records())
def test_the_audit_json_is_the_canonical_json_and_round_trips(record: AuditRecord) -> None:
    text = codec.audit_to_json(record)
    assert text == canonical(record)
    assert codec._audit_json(record) == text  # the fast path itself, whatever the switch
    assert codec.audit_from_json(text) == record


def test_a_fast_audit_json_that_drifts_falls_back_to_the_canonical_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record = samples.audit_record(samples.org_id(), None)
    monkeypatch.setattr(codec, "_fast_audit_json", True)
    monkeypatch.setattr(codec, "_fast_audit_json_checked", False)
    monkeypatch.setattr(codec, "_audit_json", lambda r: '{"a field went missing":true}')
    assert codec.audit_to_json(record) == canonical(record)  # the first call checks
    assert codec.audit_to_json(record) == canonical(record)  # and the switch stays off
    assert codec._fast_audit_json is False


@given(
    st.builds(
        UserActionGrant,
        token_id=texts,
        user_id=texts.map(UserId),
        org_id=texts.map(OrgId),
        credential_uuid=texts.map(CredentialUuid),
        method=texts,
        path=texts,
        payload_sha256=texts,
        issued_at=moments,
        expires_at=moments,
    ),
    st.lists(evidence, max_size=3),
    st.none() | moments,
)
def test_user_action_records_round_trip(
    grant: UserActionGrant, signed: list[SignedEvidence], used_at: datetime | None
) -> None:
    record = UserActionRecord(grant=grant, evidence=tuple(signed), used_at=used_at)
    assert codec.user_action_from_json(codec.user_action_to_json(record), used_at) == record


@given(
    st.builds(
        Challenge,
        key=texts,
        user_id=texts.map(UserId),
        org_id=texts.map(OrgId),
        challenge=texts,
        action=st.builds(
            RequestedAction, method=texts, path=texts, payload_sha256=texts, server_kind=texts
        ),
        allowed_cred_ids=st.lists(texts, max_size=3).map(tuple),
        issued_at=moments,
        expires_at=moments,
    )
)
def test_challenges_round_trip(challenge: Challenge) -> None:
    assert codec.challenge_from_json(codec.challenge_to_json(challenge)) == challenge


def test_micros_counts_from_the_epoch_and_takes_naive_times_as_utc() -> None:
    assert codec.micros(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)) == 1_000_005
    assert codec.micros(datetime(1970, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == 0
    assert codec.micros(datetime(1970, 1, 1, 0, 0, 2)) == 2_000_000


def test_the_memo_builds_once_per_content_and_stays_bounded() -> None:
    built: list[str] = []

    def build(key: str) -> str:
        built.append(key)
        return key.upper()

    memo = codec.Memo(build, size=3)
    assert [memo[k] for k in ("a", "b", "a")] == ["A", "B", "A"]
    assert built == ["a", "b"]
    memo.put("c", "given")
    assert memo["c"] == "given"
    for key in ("d", "e", "f"):
        memo[key]
    assert len(memo) == 3
    assert memo["a"] == "A"  # evicted (oldest out), so built again
    assert built == ["a", "b", "d", "e", "f", "a"]


def test_the_content_memo_builds_once_per_content_and_stays_bounded() -> None:
    built: list[str] = []

    def build(content: str) -> str:
        built.append(content)
        return content.upper()

    memo: codec.ContentMemo[str, str, str] = codec.ContentMemo(build, size=2)
    # a new object with the same content is a hit: compared, not hashed
    assert [memo.get("k1", "a"), memo.get("k2", "b"), memo.get("k1", "".join(["a"]))] == [
        "A",
        "B",
        "A",
    ]
    assert built == ["a", "b"]
    assert memo.get("k1", "changed") == "CHANGED"  # other content under the same key
    assert built == ["a", "b", "changed"]
    memo.put("k3", "c", "given")
    assert memo.get("k3", "c") == "given"
    assert len(memo) == 2  # the oldest key went
    assert memo.get("k1", "changed") == "CHANGED"
    assert built == ["a", "b", "changed", "changed"]


def test_iso_remembers_utc_instants_and_keeps_every_other_offset() -> None:
    utc = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    paris = utc.astimezone(timezone(timedelta(hours=1)))
    assert utc == paris
    assert codec.iso(utc) == utc.isoformat() == "2026-01-01T12:00:00.123456+00:00"
    assert codec.iso(utc) is codec.iso(datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC))
    assert codec.iso(paris) == "2026-01-01T13:00:00.123456+01:00"
    assert codec.iso(datetime(2026, 1, 1)) == "2026-01-01T00:00:00"
