"""Each org's Merkle tree over its audit records: what a store writes with a record,
and checking a stored tree against the records, offline.

The store keeps each org's tree as complete subtrees (`archive_core.merkle`), written
with each record: `record_subtrees` names them (what an adapter author's
`AuditLog.append` calls). `first_tree_break` rebuilds the tree from the records' leaves
(`audit.leaf_data`), in sequence order, and compares every subtree the store should hold
with what it holds, a batch at a time: linear in the records, with O(log n) of the tree
in memory. A tree whose size, or any subtree, differs from the records' is a break: the
proofs it would serve do not match the log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Final

import attrs

from archive_core import merkle
from archive_core.audit import AuditRecord, leaf_data

__all__ = ["TREE_BATCH", "TreeBreak", "first_tree_break", "record_subtrees"]

#: Subtrees compared per read of the store.
TREE_BATCH: Final = 100


def record_subtrees(record: AuditRecord, read: merkle.SubtreesReader) -> tuple[merkle.Subtree, ...]:
    """The subtrees a store writes with `record`, in its unit of work: its leaf
    (`audit.leaf_data`, at index sequence - 1) and every subtree it completes. `read`
    reads the org's stored subtrees (one call, for the left siblings: none at an even
    index)."""
    index = record.sequence - 1
    reader = merkle.prefetched(merkle.append_reads(index), read)
    return merkle.appended_subtrees(index, merkle.leaf_hash(leaf_data(record)), reader)


@attrs.frozen
class TreeBreak:
    """Where and how an org's stored tree departs from its records."""

    org_id: str
    reason: str
    level: int = 0
    index: int = 0


def first_tree_break(
    org_id: str,
    records: Iterable[AuditRecord],
    *,
    size: int,
    read: merkle.SubtreesReader,
    on_records: Callable[[int], None] | None = None,
) -> TreeBreak | None:
    """The first difference between the org's stored tree (`size` leaves, subtrees read
    by `read`, which raises KeyError for one it lacks) and the tree of `records` (the
    org's, in sequence order); None when they agree. `on_records(count)` is called with
    how many records are checked so far, after each batch (progress reports)."""
    newest: dict[int, bytes] = {}
    expected: list[merkle.Subtree] = []
    count = 0
    for count, record in enumerate(records, start=1):
        leaf = merkle.leaf_hash(leaf_data(record))
        for node in merkle.appended_subtrees(count - 1, leaf, lambda lv, _: newest[lv]):
            newest[node.level] = node.hash
            expected.append(node)
        if len(expected) >= TREE_BATCH:
            broken = _compare(org_id, expected, read)
            if broken is not None:
                return broken
            expected.clear()
            if on_records is not None:
                on_records(count)
    broken = _compare(org_id, expected, read)
    if on_records is not None:
        on_records(count)
    if broken is None and size != count:
        broken = TreeBreak(org_id, "size_mismatch", 0, size)
    return broken


def _compare(
    org_id: str, expected: list[merkle.Subtree], read: merkle.SubtreesReader
) -> TreeBreak | None:
    positions = [(node.level, node.index) for node in expected]
    stored: Sequence[bytes | None]
    try:
        stored = read(positions)
    except KeyError:
        stored = [_read_one(read, position) for position in positions]
    for node, held in zip(expected, stored, strict=True):
        if held is None:
            return TreeBreak(org_id, "subtree_missing", node.level, node.index)
        if held != node.hash:
            return TreeBreak(org_id, "subtree_mismatch", node.level, node.index)
    return None


def _read_one(read: merkle.SubtreesReader, position: tuple[int, int]) -> bytes | None:
    # After a batch missed a subtree: which one (one read each, for a broken tree only).
    try:
        return read([position])[0]
    except KeyError:
        return None
