"""The Merkle tree: RFC 6962 / transparency-dev vectors, and agreement with the RFC's own
recursive definitions (tests/vectors/rfc9162.py) for every small tree."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from archive_core import merkle
from archive_core.merkle import ProofInvalid
from tests.vectors import rfc9162

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "rfc6962_merkle.json").read_text()
)
LEAVES = [bytes.fromhex(x) for x in VECTORS["leaves"]]


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _hashes(values: list[str] | None) -> list[bytes]:
    return [_b64(v) for v in values or []]


class Tree:
    """A store of complete subtrees in a dict, grown with `appended_subtrees`."""

    def __init__(self, leaves: list[bytes] = []) -> None:  # noqa: B006 (never mutated)
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.size = 0
        self.reads: list[tuple[int, int]] = []
        for leaf in leaves:
            self.append(leaf)

    def read(self, level: int, index: int) -> bytes:
        self.reads.append((level, index))
        return self.nodes[level, index]

    def append(self, data: bytes) -> None:
        for subtree in merkle.appended_subtrees(self.size, merkle.leaf_hash(data), self.read):
            self.nodes[subtree.level, subtree.index] = subtree.hash
        self.size += 1


def test_the_hashes_of_rfc_9162_2_1() -> None:
    assert merkle.leaf_hash(b"") == bytes.fromhex(VECTORS["nodes"][0][0])
    assert merkle.node_hash(b"a", b"b") == rfc9162._h(b"\x01ab")
    assert bytes.fromhex(VECTORS["roots"][0]) == merkle.EMPTY_ROOT


def test_complete_subtrees_and_roots_match_the_rfc_6962_example_tree() -> None:
    tree = Tree(LEAVES)
    for level, hashes in enumerate(VECTORS["nodes"]):
        for index, expected in enumerate(hashes):
            assert tree.nodes[level, index].hex() == expected
    assert len(tree.nodes) == sum(len(level) for level in VECTORS["nodes"])
    for size, expected in enumerate(VECTORS["roots"]):
        assert merkle.root_hash(size, tree.read).hex() == expected


def _check_probe(
    probe: dict[str, Any],
    verify: Callable[..., None],
    args: tuple[Any, ...],
    size: int,
    make: Callable[[merkle.SubtreeReader], Sequence[bytes]],
) -> None:
    # A transparency-dev probe: refused when it wants an error; else it verifies, and
    # the tree of the first `size` RFC 6962 leaves gives the very same path.
    if probe["wantErr"]:
        with pytest.raises(ProofInvalid):
            verify(*args)
        return
    verify(*args)
    assert list(make(Tree(LEAVES[:size]).read)) == _hashes(probe["proof"])


@pytest.mark.parametrize("probe", VECTORS["inclusion"], ids=lambda p: p["file"])
def test_inclusion_probes(probe: dict[str, Any]) -> None:
    leaf, index, size = _b64(probe["leafHash"]), probe["leafIdx"], probe["treeSize"]
    args = (leaf, index, size, _hashes(probe["proof"]), _b64(probe["root"]))
    _check_probe(
        probe, merkle.verify_inclusion, args, size, partial(merkle.inclusion_path, index, size)
    )


@pytest.mark.parametrize("probe", VECTORS["consistency"], ids=lambda p: p["file"])
def test_consistency_probes(probe: dict[str, Any]) -> None:
    old, new = probe["size1"], probe["size2"]
    args = (old, new, _hashes(probe["proof"]), _b64(probe["root1"]), _b64(probe["root2"]))
    _check_probe(
        probe, merkle.verify_consistency, args, new, partial(merkle.consistency_path, old, new)
    )


@pytest.mark.parametrize("size", range(1, 34))
def test_every_proof_of_small_trees_is_the_rfcs_and_verifies(size: int) -> None:
    leaves = [bytes([i]) * (i % 5) for i in range(size)]
    tree = Tree(leaves)
    root = merkle.root_hash(size, tree.read)
    assert root == rfc9162.mth(leaves)
    for index in range(size):
        path = merkle.inclusion_path(index, size, tree.read)
        assert list(path) == rfc9162.path(index, leaves)
        merkle.verify_inclusion(merkle.leaf_hash(leaves[index]), index, size, path, root)
    for old in range(1, size + 1):
        old_root = merkle.root_hash(old, tree.read)
        path = merkle.consistency_path(old, size, tree.read)
        assert list(path) == rfc9162.proof(old, leaves)
        merkle.verify_consistency(old, size, path, old_root, root)


def test_a_proof_reads_only_the_subtrees_it_names_logarithmically_many() -> None:
    size = 1000
    tree = Tree([i.to_bytes(4, "big") for i in range(size)])
    for index in (0, 1, 511, 512, 998, 999):
        tree.reads.clear()
        merkle.inclusion_path(index, size, tree.read)
        assert tree.reads == list(merkle.inclusion_subtrees(index, size))
        assert len(tree.reads) <= 2 * size.bit_length()
    for old in (1, 2, 3, 500, 512, 999, 1000):
        tree.reads.clear()
        merkle.consistency_path(old, size, tree.read)
        assert tree.reads == list(merkle.consistency_subtrees(old, size))
        assert len(tree.reads) <= 2 * size.bit_length()


def test_appending_reads_the_left_siblings_it_closes() -> None:
    assert merkle.append_reads(0) == ()
    assert merkle.append_reads(6) == ()
    assert merkle.append_reads(7) == ((0, 6), (1, 2), (2, 0))
    tree = Tree(LEAVES[:7])
    tree.reads.clear()
    written = merkle.appended_subtrees(7, merkle.leaf_hash(LEAVES[7]), tree.read)
    assert tree.reads == [(0, 6), (1, 2), (2, 0)]
    assert [(s.level, s.index) for s in written] == [(0, 7), (1, 3), (2, 1), (3, 0)]


def test_roots_from_their_subtrees() -> None:
    tree = Tree(LEAVES)
    assert merkle.root_subtrees(7) == ((2, 0), (1, 2), (0, 6))
    assert merkle.root_from_subtrees([]) == merkle.EMPTY_ROOT
    hashes = [tree.nodes[part] for part in merkle.root_subtrees(7)]
    assert merkle.root_from_subtrees(hashes).hex() == VECTORS["roots"][7]
    assert merkle.range_subtrees(4, 7) == ((1, 2), (0, 6))


@pytest.mark.parametrize(("index", "size"), [(-1, 3), (3, 3), (0, 0)])
def test_no_inclusion_path_outside_the_tree(index: int, size: int) -> None:
    with pytest.raises(ValueError, match="outside a tree"):
        merkle.inclusion_path(index, size, Tree().read)


@pytest.mark.parametrize(("old", "new"), [(0, 3), (4, 3), (-1, 2)])
def test_no_consistency_path_between_sizes_out_of_order(old: int, new: int) -> None:
    with pytest.raises(ValueError, match="no consistency proof"):
        merkle.consistency_path(old, new, Tree().read)


def _reason(call: Any, *args: Any) -> str:
    with pytest.raises(ProofInvalid) as caught:
        call(*args)
    return caught.value.reason


def test_verifiers_name_why_a_proof_fails() -> None:
    tree = Tree(LEAVES)
    root = merkle.root_hash(8, tree.read)
    root6 = merkle.root_hash(6, tree.read)
    leaf = merkle.leaf_hash(LEAVES[2])
    path = list(merkle.inclusion_path(2, 8, tree.read))
    check = merkle.verify_inclusion
    assert _reason(check, leaf, 2, 8, [b"short", *path[1:]], root) == "hash_size"
    assert _reason(check, leaf, 8, 8, path, root) == "index_out_of_range"
    assert _reason(check, leaf, 2, 8, [*path, root], root) == "path_too_long"
    assert _reason(check, leaf, 2, 8, path[:-1], root) == "path_too_short"
    assert _reason(check, leaf, 2, 8, path, root6) == "root_mismatch"
    consistency = list(merkle.consistency_path(6, 8, tree.read))
    verify = merkle.verify_consistency
    assert _reason(verify, 8, 6, consistency, root, root6) == "size_order"
    assert _reason(verify, 8, 8, [root], root, root) == "path_too_long"
    assert _reason(verify, 8, 8, [], root, root6) == "root_mismatch"
    assert _reason(verify, 6, 8, [], root6, root) == "path_too_short"
    assert _reason(verify, 6, 8, [*consistency, root], root6, root) == "path_too_long"
    assert _reason(verify, 6, 8, consistency[:-1], root6, root) == "path_too_short"
    assert _reason(verify, 6, 8, consistency, root, root) == "old_root_mismatch"
    assert _reason(verify, 6, 8, consistency, root6, root6) == "new_root_mismatch"
    assert _reason(verify, 0, 8, [], merkle.EMPTY_ROOT, root) == "empty_old_tree"
    verify(8, 8, [], root, root)


def test_prefetched_reads_every_position_at_once() -> None:
    tree = Tree(LEAVES)
    batches: list[list[tuple[int, int]]] = []

    def read_many(positions: Sequence[tuple[int, int]]) -> list[bytes]:
        batches.append(list(positions))
        return [tree.nodes[position] for position in positions]

    positions = merkle.inclusion_subtrees(2, 7)
    path = merkle.inclusion_path(2, 7, merkle.prefetched(positions, read_many))
    assert batches == [list(positions)]
    assert list(path) == rfc9162.path(2, LEAVES[:7])


def test_provers_read_once_and_give_the_paths() -> None:
    tree = Tree(LEAVES)
    calls: list[int] = []

    def read_many(positions: Sequence[tuple[int, int]]) -> list[bytes]:
        calls.append(len(positions))
        return [tree.nodes[position] for position in positions]

    for size in range(1, 9):
        assert merkle.tree_root(size, read_many).hex() == VECTORS["roots"][size]
        for index in range(size):
            expected = merkle.inclusion_path(index, size, tree.read)
            assert merkle.prove_inclusion(index, size, read_many) == expected
        for old in range(1, size + 1):
            expected = merkle.consistency_path(old, size, tree.read)
            assert merkle.prove_consistency(old, size, read_many) == expected
    assert len(calls) == 8 + sum(range(1, 9)) * 2
