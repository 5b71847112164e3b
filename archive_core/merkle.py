"""A Merkle tree over a log's records, hashed as RFC 9162 §2.1, kept as complete subtrees.

The tree of `size` leaves is never rebuilt from its leaves: a store keeps the hash of
every *complete* subtree, named by its (level, index) — the subtree at level `l` and
index `i` covers the leaves `[i·2^l, (i+1)·2^l)` — and the functions here read only the
O(log n) of them that a root or a proof needs, through a `SubtreeReader`.

- Appending the leaf at index `i` closes one subtree per trailing one bit of `i`
  (`appended_subtrees`): O(log n) reads and writes.
- A root (`root_hash`) and every node of an inclusion (`inclusion_path`, RFC 9162
  §2.1.3.1) or consistency proof (`consistency_path`, §2.1.4.1) covers a range of leaves
  that splits into at most log n complete subtrees; `*_subtrees` name them all in
  advance, so that a store can read them in one query — `tree_root`, `prove_inclusion`
  and `prove_consistency` do it, with a reader of many subtrees at once.
- The verifiers (`verify_inclusion`, §2.1.3.2; `verify_consistency`, §2.1.4.2) follow
  the RFC's numbered steps and raise `ProofInvalid` with a stable `reason`.

Pure: hashlib, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Final

import attrs

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "ProofInvalid",
    "Subtree",
    "SubtreeReader",
    "SubtreesReader",
    "append_reads",
    "appended_subtrees",
    "consistency_path",
    "consistency_subtrees",
    "inclusion_path",
    "inclusion_subtrees",
    "leaf_hash",
    "node_hash",
    "prefetched",
    "prove_consistency",
    "prove_inclusion",
    "range_subtrees",
    "root_from_subtrees",
    "root_hash",
    "root_subtrees",
    "tree_root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE: Final = 32
#: The root of the empty tree: SHA-256 of nothing (RFC 9162 §2.1.1).
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()

#: The hash of the complete subtree at (level, index), as a store keeps it.
SubtreeReader = Callable[[int, int], bytes]
#: The hashes of the complete subtrees at these (level, index) positions, in order (one
#: query of a store).
SubtreesReader = Callable[[Sequence[tuple[int, int]]], Sequence[bytes]]

_sha256: Final = hashlib.sha256


@attrs.frozen
class Subtree:
    """A complete subtree: it covers leaves `[index·2^level, (index+1)·2^level)`."""

    level: int
    index: int
    hash: bytes


class ProofInvalid(ValueError):
    """A proof that does not verify; `reason` is stable, the message says what was found."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 ‖ data): the hash of a leaf (RFC 9162 §2.1.1)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right): the hash of an interior node (RFC 9162 §2.1.1)."""
    return _sha256(b"\x01" + left + right).digest()


def prefetched(positions: Sequence[tuple[int, int]], read: SubtreesReader) -> SubtreeReader:
    """A reader of the subtrees at `positions`, all read at once by `read` (a store's one
    query for the `*_subtrees` or `append_reads` of what is to be computed)."""
    hashes = dict(zip(positions, read(positions), strict=True))
    return lambda level, index: hashes[level, index]


# --------------------------------------------------------------------------- appending


def append_reads(index: int) -> tuple[tuple[int, int], ...]:
    """The stored subtrees appending the leaf at `index` reads: the left sibling of
    every subtree the leaf closes (one per trailing one bit of `index`)."""
    reads = []
    level, position = 0, index
    while position & 1:
        reads.append((level, position - 1))
        level, position = level + 1, position >> 1
    return tuple(reads)


def appended_subtrees(index: int, leaf: bytes, read: SubtreeReader) -> tuple[Subtree, ...]:
    """The subtrees to store when the leaf hashing to `leaf` is appended at `index`: the
    leaf itself, then every subtree it completes, bottom up (`append_reads` names what
    `read` is asked for)."""
    written = [Subtree(0, index, leaf)]
    current = leaf
    for level, left_index in append_reads(index):
        current = node_hash(read(level, left_index), current)
        written.append(Subtree(level + 1, left_index >> 1, current))
    return tuple(written)


# --------------------------------------------------------------------------- ranges


def range_subtrees(begin: int, end: int) -> tuple[tuple[int, int], ...]:
    """The complete subtrees, left to right, that the leaves `[begin, end)` split into:
    the largest aligned one first. For a node of an RFC 9162 tree (or the whole tree)
    they are at most log n, and its hash is their fold from the right."""
    width = end - begin
    if width > 0 and width & (width - 1) == 0 and begin & (width - 1) == 0:
        level = width.bit_length() - 1  # a complete subtree itself: most proof nodes
        return ((level, begin >> level),)
    parts = []
    while begin < end:
        # The largest power of two that `begin` is aligned to and that fits.
        level = (end - begin).bit_length() - 1
        if begin:
            level = min(level, (begin & -begin).bit_length() - 1)
        parts.append((level, begin >> level))
        begin += 1 << level
    return tuple(parts)


def _fold(parts: Sequence[bytes]) -> bytes:
    # MTH of a range from its complete subtrees, largest first: the right ones join first.
    current = parts[-1]
    for i in range(len(parts) - 2, -1, -1):
        current = node_hash(parts[i], current)
    return current


def _range_hash(begin: int, end: int, read: SubtreeReader) -> bytes:
    return _fold([read(level, index) for level, index in range_subtrees(begin, end)])


def root_subtrees(size: int) -> tuple[tuple[int, int], ...]:
    """The complete subtrees a tree of `size` leaves is made of (one per one bit of
    `size`), largest first."""
    return range_subtrees(0, size)


def root_from_subtrees(hashes: Sequence[bytes]) -> bytes:
    """The root from the hashes of `root_subtrees(size)`, in that order (EMPTY_ROOT when
    there are none)."""
    return _fold(hashes) if hashes else EMPTY_ROOT


def root_hash(size: int, read: SubtreeReader) -> bytes:
    """MTH of the first `size` leaves (RFC 9162 §2.1.1), from at most log n stored
    subtrees."""
    return root_from_subtrees([read(level, index) for level, index in root_subtrees(size)])


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    # PATH(m, D[n]) (RFC 9162 §2.1.3.1) as the ranges of its nodes, leaf side first.
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    begin, end, m = 0, size, index
    while end - begin > 1:
        k = 1 << ((end - begin - 1).bit_length() - 1)  # the largest power of 2 below
        if m < k:
            ranges.append((begin + k, end))
            end = begin + k
        else:
            ranges.append((begin, begin + k))
            begin, m = begin + k, m - k
    ranges.reverse()
    return ranges


def _consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    # PROOF(m, D[n]) = SUBPROOF(m, D[n], true) (RFC 9162 §2.1.4.1) as node ranges.
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    ranges: list[tuple[int, int]] = []
    begin, end, m, whole = 0, new_size, old_size, True
    while m != end - begin:
        k = 1 << ((end - begin - 1).bit_length() - 1)  # the largest power of 2 below
        if m <= k:
            ranges.append((begin + k, end))
            end = begin + k
        else:
            ranges.append((begin, begin + k))
            begin, m, whole = begin + k, m - k, False
    if not whole:
        ranges.append((begin, end))  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
    ranges.reverse()
    return ranges


def _subtrees_of(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple(part for begin, end in ranges for part in range_subtrees(begin, end))


def inclusion_subtrees(index: int, size: int) -> tuple[tuple[int, int], ...]:
    """Every stored subtree `inclusion_path(index, size, …)` reads (O(log n))."""
    return _subtrees_of(_inclusion_ranges(index, size))


def consistency_subtrees(old_size: int, new_size: int) -> tuple[tuple[int, int], ...]:
    """Every stored subtree `consistency_path(old_size, new_size, …)` reads (O(log n))."""
    return _subtrees_of(_consistency_ranges(old_size, new_size))


def inclusion_path(index: int, size: int, read: SubtreeReader) -> tuple[bytes, ...]:
    """The audit path of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1),
    leaf side first; ValueError unless `0 ≤ index < size`."""
    return tuple(_range_hash(b, e, read) for b, e in _inclusion_ranges(index, size))


def consistency_path(old_size: int, new_size: int, read: SubtreeReader) -> tuple[bytes, ...]:
    """The consistency proof from `old_size` to `new_size` (RFC 9162 §2.1.4.1); empty when
    the sizes are equal; ValueError unless `0 < old_size ≤ new_size`."""
    return tuple(_range_hash(b, e, read) for b, e in _consistency_ranges(old_size, new_size))


def _proved(ranges: Sequence[tuple[int, int]], read: SubtreesReader) -> tuple[bytes, ...]:
    # Each proof node's hash from its subtrees, all read in one call; most nodes are one
    # complete subtree, read as it is.
    positions: list[tuple[int, int]] = []
    counts = []
    for begin, end in ranges:
        width = end - begin
        if width & (width - 1) == 0 and begin & (width - 1) == 0:
            level = width.bit_length() - 1  # `range_subtrees`' first case, inline
            positions.append((level, begin >> level))
            counts.append(1)
        else:
            node = range_subtrees(begin, end)
            positions.extend(node)
            counts.append(len(node))
    hashes = read(positions)
    proved = []
    at = 0
    for count in counts:
        proved.append(hashes[at] if count == 1 else _fold(hashes[at : at + count]))
        at += count
    return tuple(proved)


def tree_root(size: int, read: SubtreesReader) -> bytes:
    """MTH of the first `size` leaves, its subtrees read in one call of `read`."""
    return root_from_subtrees(read(root_subtrees(size)))


def prove_inclusion(index: int, size: int, read: SubtreesReader) -> tuple[bytes, ...]:
    """`inclusion_path`, its subtrees read in one call of `read` (what a store serves)."""
    return _proved(_inclusion_ranges(index, size), read)


def prove_consistency(old_size: int, new_size: int, read: SubtreesReader) -> tuple[bytes, ...]:
    """`consistency_path`, its subtrees read in one call of `read` (what a store serves)."""
    return _proved(_consistency_ranges(old_size, new_size), read)


# --------------------------------------------------------------------------- verification


def _same(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def _check_hashes(path: Sequence[bytes]) -> None:
    for value in path:
        if len(value) != HASH_SIZE:
            raise ProofInvalid("hash_size", f"a hash of {len(value)} bytes, not {HASH_SIZE}")


def _climb(fn: int, sn: int, path: Sequence[bytes], kind: str) -> Iterator[tuple[bytes, bool]]:
    # The loop RFC 9162 §2.1.3.2 step 4 and §2.1.4.2 step 6 share: each node of the path
    # with whether it sits to the left of the hash built so far; then sn must be 0.
    for node in path:
        if sn == 0:
            raise ProofInvalid("path_too_long", f"the {kind} path is longer than the tree")
        on_the_left = bool(fn & 1) or fn == sn
        yield node, on_the_left
        if on_the_left:
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofInvalid("path_too_short", f"the {kind} path is shorter than the tree")


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> None:
    """Return if `path` proves the leaf hashing to `leaf_hash` is at `index` in the tree of
    `size` leaves whose root is `root` (RFC 9162 §2.1.3.2); else raise ProofInvalid."""
    _check_hashes([leaf_hash, *path])
    # 1. The index must be inside the tree.
    if not 0 <= index < size:
        raise ProofInvalid("index_out_of_range", f"leaf index {index} is not below size {size}")
    # 2.-4. From the leaf up: a node on the left joins as (p, r), on the right as (r, p).
    r = leaf_hash
    for p, on_the_left in _climb(index, size - 1, path, "inclusion"):
        r = node_hash(p, r) if on_the_left else node_hash(r, p)
    # 5. Every level used (`_climb`), and the root reached.
    if not _same(r, root):
        raise ProofInvalid("root_mismatch", "the inclusion path does not lead to the root")


def verify_consistency(
    old_size: int, new_size: int, path: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """Return if `path` proves the tree of `new_size` leaves with root `new_root` extends
    the tree of `old_size` leaves with root `old_root` (RFC 9162 §2.1.4.2); else raise
    ProofInvalid. Equal sizes need an empty path and equal roots; a proof from the empty
    tree proves nothing, and is refused."""
    _check_hashes(path)
    if old_size > new_size:
        raise ProofInvalid("size_order", f"size {old_size} is above size {new_size}")
    if old_size <= 0:
        raise ProofInvalid("empty_old_tree", "no tree proves it extends the empty tree")
    if old_size == new_size:
        if path:
            raise ProofInvalid("path_too_long", "a proof between equal sizes is empty")
        if not _same(old_root, new_root):
            raise ProofInvalid("root_mismatch", "two trees of the same size differ")
        return
    # 1. A proof between different sizes is never empty.
    if not path:
        raise ProofInvalid("path_too_short", "the consistency path is empty")
    # 2. When the old tree is complete, its root is the proof's first node.
    hashes = list(path)
    if old_size & (old_size - 1) == 0:
        hashes.insert(0, old_root)
    # 3.-4. fn and sn, past the old tree's right border.
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    # 5.-6. fr and sr from the first node; a node on the left joins both, one on the
    # right only the new tree's.
    fr = sr = hashes[0]
    for c, on_the_left in _climb(fn, sn, hashes[1:], "consistency"):
        if on_the_left:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
        else:
            sr = node_hash(sr, c)
    # 7. Every level used (`_climb`), and both roots reached.
    if not _same(fr, old_root):
        raise ProofInvalid("old_root_mismatch", "the path does not lead to the old root")
    if not _same(sr, new_root):
        raise ProofInvalid("new_root_mismatch", "the path does not lead to the new root")
