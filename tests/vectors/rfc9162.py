"""RFC 9162 §2.1, written from the RFC's recursive definitions, for the tests only.

An independent check of the server's Merkle code (`archive_core.merkle`, which works
on stored subtrees and iterates): MTH, PATH and PROOF exactly as §2.1.1, §2.1.3.1 and
§2.1.4.1 define them, over the full list of leaves, and nothing shared with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    # "the largest power of two smaller than n (i.e., k < n <= 2k)"
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]) (§2.1.1)."""
    n = len(d)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + d[0])
    k = _k(n)
    return _h(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (§2.1.3.1)."""
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) (§2.1.4.1)."""
    return _subproof(m, d, True)


def _subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = _k(n)
    if m <= k:
        return [*_subproof(m, d[:k], b), mth(d[k:])]
    return [*_subproof(m - k, d[k:], False), mth(d[:k])]


def root_from_path(leaf: bytes, m: int, n: int, audit_path: Sequence[bytes]) -> bytes | None:
    """The root that `audit_path` leads to from `leaf` (its data) at `m` in a tree of `n`
    leaves, unwinding §2.1.3.1 (the path's last node is the top split's); None when
    the path's length does not fit the tree."""
    if n == 1:
        return None if audit_path else _h(b"\x00" + leaf)
    if not audit_path:
        return None
    k = _k(n)
    *rest, top = audit_path
    if m < k:
        left = root_from_path(leaf, m, k, rest)
        return None if left is None else _h(b"\x01" + left + top)
    right = root_from_path(leaf, m - k, n - k, rest)
    return None if right is None else _h(b"\x01" + top + right)
