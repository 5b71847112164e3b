"""The SQLite store's cache of each org's upper subtrees: filled only by units of work
that only read (so never with what a rolled-back unit wrote), and what it serves is
what the file holds."""

from __future__ import annotations

from pathlib import Path

from adapters.storage.sql import SubtreeCache
from adapters.storage.sqlite import SqliteStore
from adapters.testing.contracts import samples
from adapters.testing.contracts.audit_tree import expected_subtrees, tree_reader
from archive_core import merkle
from archive_core.audit import AuditRecord
from archive_core.ids import OrgId

UPPER = 1 << SubtreeCache.LEVEL  # the records of one subtree at the lowest cached level


def _append(
    store: SqliteStore, org: OrgId, chain: list[AuditRecord], count: int, *, commit: bool = True
) -> None:
    """`count` records in one unit of work; without `commit`, the unit reads an upper
    subtree it wrote, then rolls back."""
    with store() as uow:
        for _ in range(count):
            chain.append(samples.audit_record(org, chain[-1] if chain else None))
            uow.audit.append(chain[-1])
        if commit:
            uow.commit()
        else:
            assert uow.audit.subtrees(org, [(SubtreeCache.LEVEL, 0)])  # its own write
            uow.rollback()


def test_only_reading_units_fill_it_and_it_serves_what_the_file_holds(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "store.db") as store:
        cache = store.memo.subtrees
        assert cache is not None
        org = samples.org_id()
        chain: list[AuditRecord] = []
        _append(store, org, chain, 2 * UPPER + 3)
        upper = [(SubtreeCache.LEVEL, 0), (SubtreeCache.LEVEL, 1), (SubtreeCache.LEVEL + 1, 0)]
        with store() as uow:  # a unit that may write reads, and keeps nothing
            tree_reader(uow, org)(upper)
        assert cache.known(org, upper) == {}
        with store.reading() as uow:
            size = uow.audit.tree_size(org)
            first = merkle.root_from_subtrees(tree_reader(uow, org)(merkle.root_subtrees(size)))
        expected = expected_subtrees(chain)
        assert cache.known(org, upper) == {
            (SubtreeCache.LEVEL + 1, 0): expected[SubtreeCache.LEVEL + 1, 0]
        }
        with store.reading() as uow:
            path = merkle.inclusion_path(
                5,
                size,
                merkle.prefetched(merkle.inclusion_subtrees(5, size), tree_reader(uow, org)),
            )
            again = merkle.root_from_subtrees(tree_reader(uow, org)(merkle.root_subtrees(size)))
        assert again == first
        merkle.verify_inclusion(expected[0, 5], 5, size, path, first)


def test_a_rolled_back_append_never_enters_it(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "store.db") as store:
        cache = store.memo.subtrees
        assert cache is not None
        org = samples.org_id()
        _append(store, org, [], UPPER, commit=False)
        assert cache.known(org, [(SubtreeCache.LEVEL, 0)]) == {}


def test_it_is_bounded() -> None:
    cache = SubtreeCache(size=2)
    org = "or-x"
    cache.keep(org, {(0, 0): b"low"})  # below the cached levels: not kept
    assert cache.known(org, [(0, 0)]) == {}
    cache.keep(org, {(10, 0): b"a", (10, 1): b"b"})
    cache.keep(org, {(11, 0): b"c"})  # full: emptied first
    assert cache.known(org, [(10, 0), (10, 1), (11, 0)]) == {(11, 0): b"c"}
