"""An org's stored Merkle tree checked against its records: agreement, and each way a
stored tree can depart from them."""

from __future__ import annotations

from collections.abc import Sequence

from adapters.storage.memory import MemoryStore
from adapters.testing.contracts import samples
from adapters.testing.contracts.audit_tree import append_records
from archive_core import merkle
from archive_core.audit_tree import TREE_BATCH, TreeBreak, first_tree_break
from archive_core.ids import OrgId


def _stored(count: int) -> tuple[MemoryStore, OrgId]:
    store = MemoryStore()
    org = samples.org_id()
    append_records(store, org, count)
    return store, org


def _check(
    store: MemoryStore, org: OrgId, *, size: int | None = None, progress: bool = True
) -> TreeBreak | None:
    seen: list[int] = []
    with store() as uow:
        records = uow.audit.records(org)

        def read(positions: Sequence[tuple[int, int]]) -> list[bytes]:
            return uow.audit.subtrees(org, positions)

        stored_size = uow.audit.tree_size(org) if size is None else size
        on_records = seen.append if progress else None
        broken = first_tree_break(org, records, size=stored_size, read=read, on_records=on_records)
    assert seen == sorted(seen)
    return broken


def test_a_tree_built_with_its_records_agrees() -> None:
    store, org = _stored(TREE_BATCH)  # more subtrees than a batch: several reads
    assert _check(store, org) is None
    assert _check(store, org, progress=False) is None


def test_a_rewritten_subtree_is_found() -> None:
    store, org = _stored(70)
    store.tree[org, 3, 2] = merkle.leaf_hash(b"forged")
    assert _check(store, org) == TreeBreak(org, "subtree_mismatch", 3, 2)


def test_a_missing_subtree_is_found() -> None:
    store, org = _stored(9)
    del store.tree[org, 1, 3]
    assert _check(store, org) == TreeBreak(org, "subtree_missing", 1, 3)


def test_a_size_that_is_not_the_records_count_is_found() -> None:
    store, org = _stored(5)
    assert _check(store, org, size=6) == TreeBreak(org, "size_mismatch", 0, 6)
