"""The contract of each org's Merkle tree in the `AuditLog` port (part of
`UnitOfWorkContract`): a record's leaf and the subtrees it completes are written with it,
in its unit of work, and read back by (level, index) a few at a time.

What the store keeps is checked against the tree `archive_core.merkle` builds from the
records' leaves (`audit.leaf_data`), subtree by subtree; tests/contracts also check the
proofs read from each store against RFC 9162's own definitions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

import pytest

from adapters.testing.contracts import samples
from archive_core import merkle
from archive_core.audit import AuditRecord, leaf_data
from archive_core.ids import OrgId
from archive_core.ports import UnitOfWork, UnitOfWorkFactory

__all__ = ["AuditTreeContract", "append_records", "expected_subtrees", "tree_reader"]

T = TypeVar("T")


def _read(factory: UnitOfWorkFactory, work: Callable[[UnitOfWork], T]) -> T:
    with factory() as uow:
        return work(uow)


def append_records(factory: UnitOfWorkFactory, org: OrgId, count: int) -> list[AuditRecord]:
    """`count` records appended to `org`'s chain, one committed unit of work each."""
    chain: list[AuditRecord] = []
    for _ in range(count):
        record = samples.audit_record(org, chain[-1] if chain else None)
        with factory() as uow:
            uow.audit.append(record)
            uow.commit()
        chain.append(record)
    return chain


def expected_subtrees(records: Sequence[AuditRecord]) -> dict[tuple[int, int], bytes]:
    """Every complete subtree of the tree over `records`' leaves, built in memory."""
    nodes: dict[tuple[int, int], bytes] = {}
    for index, record in enumerate(records):
        leaf = merkle.leaf_hash(leaf_data(record))
        for node in merkle.appended_subtrees(index, leaf, lambda lv, ix: nodes[lv, ix]):
            nodes[node.level, node.index] = node.hash
    return nodes


def tree_reader(uow: UnitOfWork, org: OrgId) -> Callable[[Sequence[tuple[int, int]]], list[bytes]]:
    """The store's batch reader of `org`'s subtrees (for `merkle.prefetched`)."""
    return partial(uow.audit.subtrees, org)


class AuditTreeContract:
    """What every `AuditLog` keeps of each org's Merkle tree (mixed into
    `UnitOfWorkContract`, which provides the `factory` fixture)."""

    def test_an_empty_tree_has_size_zero_and_reads_nothing(
        self, factory: UnitOfWorkFactory
    ) -> None:
        org = samples.org_id()
        assert _read(factory, lambda uow: uow.audit.tree_size(org)) == 0
        assert _read(factory, lambda uow: uow.audit.subtrees(org, [])) == []
        with pytest.raises(KeyError):
            _read(factory, lambda uow: uow.audit.subtrees(org, [(0, 0)]))

    def test_each_record_adds_its_leaf_and_the_subtrees_it_completes(
        self, factory: UnitOfWorkFactory
    ) -> None:
        org = samples.org_id()
        records = append_records(factory, org, 13)
        expected = expected_subtrees(records)
        positions = sorted(expected)
        stored = _read(factory, lambda uow: uow.audit.subtrees(org, positions))
        assert dict(zip(positions, stored, strict=True)) == expected
        assert _read(factory, lambda uow: uow.audit.tree_size(org)) == 13
        with pytest.raises(KeyError):  # level 2 holds 3 complete subtrees of 4, not 4
            _read(factory, lambda uow: uow.audit.subtrees(org, [(0, 1), (2, 3)]))

    def test_roots_and_proofs_read_from_the_store_verify(self, factory: UnitOfWorkFactory) -> None:
        org = samples.org_id()
        records = append_records(factory, org, 11)
        with factory() as uow:
            reader = tree_reader(uow, org)
            size = uow.audit.tree_size(org)
            root = merkle.root_from_subtrees(reader(merkle.root_subtrees(size)))
            for index, record in enumerate(records):
                positions = merkle.inclusion_subtrees(index, size)
                path = merkle.inclusion_path(index, size, merkle.prefetched(positions, reader))
                leaf = merkle.leaf_hash(leaf_data(record))
                merkle.verify_inclusion(leaf, index, size, path, root)
            for old in range(1, size + 1):
                old_root = merkle.root_from_subtrees(reader(merkle.root_subtrees(old)))
                positions = merkle.consistency_subtrees(old, size)
                path = merkle.consistency_path(old, size, merkle.prefetched(positions, reader))
                merkle.verify_consistency(old, size, path, old_root, root)

    def test_each_org_has_its_own_tree(self, factory: UnitOfWorkFactory) -> None:
        first, second = samples.org_id(), samples.org_id()
        ones = append_records(factory, first, 3)
        twos = append_records(factory, second, 2)
        for org, records in ((first, ones), (second, twos)):
            expected = expected_subtrees(records)
            with factory() as uow:
                assert uow.audit.subtrees(org, list(expected)) == list(expected.values())
                assert uow.audit.tree_size(org) == len(records)

    def test_a_record_rolled_back_leaves_no_leaf(self, factory: UnitOfWorkFactory) -> None:
        org = samples.org_id()
        first = append_records(factory, org, 1)[0]
        with factory() as uow:
            uow.audit.append(samples.audit_record(org, first))
            assert uow.audit.tree_size(org) == 2  # a unit reads its own writes
            uow.rollback()
        assert _read(factory, lambda uow: uow.audit.tree_size(org)) == 1
        with pytest.raises(KeyError):
            _read(factory, lambda uow: uow.audit.subtrees(org, [(0, 1)]))
