"""The audit chain (SPEC §5): an edit, a recomputed hash, a deletion, an insertion and a
truncation are each detected; each org has its own chain."""

from __future__ import annotations

import attrs
import pytest

from adapters.testing.world import World
from archive_core.audit import AuditRecord, chain_record, record_hash, verify_audit_chain


@pytest.fixture
def chain(world: World) -> list[AuditRecord]:
    org = world.new_org()
    admin = world.actor(org, full_admin=True)
    for _ in range(5):
        world.archive_user(admin, world.actor(org).id)
    records = world.store.audit[org]
    assert verify_audit_chain(records).ok
    return list(records)


def test_chain_detects_an_edit(chain: list[AuditRecord]) -> None:
    chain[2] = attrs.evolve(chain[2], actor_username="someone.else")
    result = verify_audit_chain(chain)
    assert [(b.sequence, b.reason) for b in result.breaks] == [(3, "hash_mismatch")]


def test_chain_detects_an_edit_with_recomputed_hash(chain: list[AuditRecord]) -> None:
    edited = attrs.evolve(chain[2], action="DELETE /auth/users/us-other-one")
    chain[2] = attrs.evolve(edited, hash=record_hash(edited.content()))
    assert [(b.sequence, b.reason) for b in verify_audit_chain(chain).breaks] == [
        (4, "link_mismatch")
    ]


def test_chain_detects_a_deletion(chain: list[AuditRecord]) -> None:
    del chain[1]
    assert [b.reason for b in verify_audit_chain(chain).breaks] == ["sequence_gap"]


def test_chain_detects_an_insertion(chain: list[AuditRecord]) -> None:
    forged = chain_record(attrs.evolve(chain[1], id="au-forged-record-x"), chain[1])
    chain.insert(2, forged)
    assert not verify_audit_chain(chain).ok


def test_chain_detects_truncation_against_an_expected_head(chain: list[AuditRecord]) -> None:
    head = {str(chain[0].org_id): chain[-1].hash}
    assert verify_audit_chain(chain, expected_heads=head).ok
    assert [b.reason for b in verify_audit_chain(chain[:-1], expected_heads=head).breaks] == [
        "head_mismatch"
    ]


def test_chains_are_per_org(world: World) -> None:
    for _ in range(2):
        org = world.new_org()
        admin = world.actor(org, full_admin=True)
        world.archive_user(admin, world.actor(org).id)
    with world.store() as uow:
        records = uow.audit.records()
    assert [r.sequence for r in records] == [1, 1]
    assert verify_audit_chain(records).ok
