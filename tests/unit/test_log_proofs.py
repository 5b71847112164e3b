"""The audit log proves it only grows (SPEC §1.6): the signed checkpoint, a record's
inclusion proof and the consistency proof, each verified here with the library's
offline verifiers; the signer's rules (never a smaller or an inconsistent tree)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest

from adapters.crypto.ed25519 import CryptographyEd25519Verifier
from adapters.crypto.log_key import KeyFileSigner, new_log_key
from adapters.testing.assertions import refused
from adapters.testing.world import Actor, Scene, World
from archive_core import merkle
from archive_core.audit import AuditRecord, leaf_data
from archive_core.checkpoints import (
    Checkpoint,
    VerifierKey,
    open_checkpoint,
    verify_consistency_bundle,
    verify_inclusion_bundle,
)
from archive_core.errors import Catalogue
from archive_core.log_signing import (
    DEFAULT_LOG_NAME,
    SignedHead,
    SigningRefused,
    check_extension,
    check_log_name,
    verifier_key,
)
from archive_core.requests import Request
from archive_core.use_cases import GET_CHECKPOINT, GET_CONSISTENCY_PROOF, GET_INCLUSION_PROOF

READ = "Auth:Logs:Read"
VERIFIER = CryptographyEd25519Verifier()


@pytest.fixture
def signer(tmp_path: Path) -> KeyFileSigner:
    new_log_key(tmp_path / "log.key")
    return KeyFileSigner(tmp_path / "log.key", log_name="log.example/audit")


@pytest.fixture
def signed(signer: KeyFileSigner) -> World:
    return World(log_signer=signer)


def _text(world: World, actor: Actor | None, path: str, query: str = "") -> str:
    declaration = (
        GET_CHECKPOINT
        if path.endswith("checkpoint")
        else GET_CONSISTENCY_PROOF
        if path.endswith("consistency")
        else GET_INCLUSION_PROOF
    )
    answer = world.answer(declaration, Request("GET", path, world.headers(actor), query=query))
    assert answer.media_type == "text/plain; charset=utf-8"
    assert answer.text is not None
    return answer.text


def _archived(scene: Scene, count: int) -> list[AuditRecord]:
    world = scene.world
    for _ in range(count):
        world.clock.advance(timedelta(minutes=1))
        world.archive_user(scene.admin, world.actor(scene.org).id)
    return world.audit_records(scene.org)


def _key(world: World, scene: Scene, signer: KeyFileSigner) -> VerifierKey:
    return verifier_key(signer.log_name, scene.org, signer.public_key)


def test_the_checkpoint_is_the_orgs_tree_signed_by_the_log_key(
    signed: World, signer: KeyFileSigner
) -> None:
    scene = signed.scene()
    records = _archived(scene, 3)
    reader = signed.actor(scene.org, operations=[READ])
    note = _text(signed, reader, "/auth/action/logs/checkpoint")
    key = _key(signed, scene, signer)
    assert key.name == f"log.example/audit/{scene.org}"
    checkpoint = open_checkpoint(note, key=key, verifier=VERIFIER)
    assert checkpoint.size == 3
    leaves = [merkle.leaf_hash(leaf_data(r)) for r in records]
    assert checkpoint.root == merkle.node_hash(merkle.node_hash(*leaves[:2]), leaves[2])
    # The same tree again: the same note (signed once).
    assert _text(signed, reader, "/auth/action/logs/checkpoint") == note


def test_a_records_proof_verifies_offline(signed: World, signer: KeyFileSigner) -> None:
    scene = signed.scene()
    records = _archived(scene, 5)
    reader = signed.actor(scene.org, operations=[READ])
    key = _key(signed, scene, signer)
    for record in records:
        text = _text(signed, reader, f"/auth/action/logs/{record.id}/proof")
        assert text.startswith("c2sp.org/tlog-proof@v1\nextra ")
        proved = verify_inclusion_bundle(text, key=key, verifier=VERIFIER)
        assert proved.index == record.sequence - 1
        assert proved.checkpoint.size == 5
        assert json.loads(proved.leaf_data)["id"] == record.id
        assert base64.b64encode(leaf_data(record)).decode() in text


def test_the_consistency_proof_shows_the_log_only_grew(
    signed: World, signer: KeyFileSigner
) -> None:
    scene = signed.scene()
    _archived(scene, 2)
    reader = signed.actor(scene.org, operations=[READ])
    old = _text(signed, reader, "/auth/action/logs/checkpoint")
    _archived(scene, 5)
    key = _key(signed, scene, signer)
    grown = _text(signed, reader, "/auth/action/logs/consistency", "from=2")
    proved = verify_consistency_bundle(old, grown, key=key, verifier=VERIFIER)
    assert (proved.old.size, proved.new.size) == (2, 7)
    same = _text(signed, reader, "/auth/action/logs/consistency", "from=7")
    assert same.startswith("\n")  # no hashes: a blank line, then the checkpoint
    assert same[1:] == _text(signed, reader, "/auth/action/logs/checkpoint")


def test_the_consistency_proof_refuses_a_size_it_cannot_prove(signed: World) -> None:
    scene = signed.scene()
    _archived(scene, 2)
    reader = signed.actor(scene.org, operations=[READ])

    def ask(query: str) -> str:
        return _text(signed, reader, "/auth/action/logs/consistency", query)

    size = "The query is invalid: from must be a tree size of at least 1."
    refused(Catalogue.QUERY_INVALID, lambda: ask("from=0"), message=size)
    refused(Catalogue.QUERY_INVALID, lambda: ask("from=two"), message=size)
    refused(
        Catalogue.QUERY_INVALID, lambda: ask(""), message="The query is invalid: from is required."
    )
    refused(
        Catalogue.LOG_SIZE_INVALID,
        lambda: ask("from=3"),
        message="The query is invalid: from must not be above the tree size (2).",
    )


def test_every_log_read_needs_logs_read_and_the_callers_org(signed: World) -> None:
    scene = signed.scene()
    (record,) = _archived(scene, 1)
    denied = f"CustomerEmployee {scene.admin.id} is not authorized to perform operation ({READ})"
    for path in ("/auth/action/logs/checkpoint", f"/auth/action/logs/{record.id}/proof"):
        refused(
            Catalogue.PERMISSION_DENIED,
            partial(_text, signed, scene.admin, path),
            message=denied,
        )
        refused(Catalogue.NOT_AUTHORIZED, partial(_text, signed, None, path))
    stranger = signed.actor(signed.new_org(), operations=[READ])
    proof = f"/auth/action/logs/{record.id}/proof"
    refused(Catalogue.AUDIT_NOT_FOUND, lambda: _text(signed, stranger, proof))
    refused(
        Catalogue.AUDIT_ID_MALFORMED, lambda: _text(signed, stranger, "/auth/action/logs/x/proof")
    )


def test_an_empty_log_has_a_signed_checkpoint_of_size_zero(
    signed: World, signer: KeyFileSigner
) -> None:
    org = signed.new_org()
    reader = signed.actor(org, operations=[READ])
    note = _text(signed, reader, "/auth/action/logs/checkpoint")
    key = verifier_key(signer.log_name, org, signer.public_key)
    checkpoint = open_checkpoint(note, key=key, verifier=VERIFIER)
    assert (checkpoint.size, checkpoint.root) == (0, merkle.EMPTY_ROOT)


def test_without_a_log_key_checkpoints_are_not_served(scene: Scene) -> None:
    reader = scene.world.actor(scene.org, operations=[READ])
    refused(
        Catalogue.LOG_UNSIGNED, lambda: _text(scene.world, reader, "/auth/action/logs/checkpoint")
    )


def test_the_signer_refuses_a_cut_log_and_a_rewritten_one(signed: World) -> None:
    scene = signed.scene()
    _archived(scene, 4)
    reader = signed.actor(scene.org, operations=[READ])
    _text(signed, reader, "/auth/action/logs/checkpoint")  # size 4, signed
    store, org = signed.store, scene.org

    def checkpoint() -> str:
        return _text(signed, reader, "/auth/action/logs/checkpoint")

    # Rewritten: the first leaf replaced and every node above it recomputed, a tree of the
    # same size with another root.
    kept = dict(store.tree)
    store.tree[org, 0, 0] = merkle.leaf_hash(b"rewritten")
    store.tree[org, 1, 0] = merkle.node_hash(store.tree[org, 0, 0], store.tree[org, 0, 1])
    store.tree[org, 2, 0] = merkle.node_hash(store.tree[org, 1, 0], store.tree[org, 1, 1])
    refused(Catalogue.LOG_SIGNING_REFUSED, checkpoint)
    store.tree.update(kept)
    # Cut: the last record and its leaf gone, the tree one leaf smaller.
    store.audit[org].pop()
    store.tree_sizes[org] = 3
    refused(Catalogue.LOG_SIGNING_REFUSED, checkpoint)
    # A subtree of the root missing: the tree does not match the records.
    del store.tree[org, 1, 0]
    refused(Catalogue.LOG_TREE_DAMAGED, checkpoint)


def test_a_record_past_the_tree_is_a_damaged_tree(signed: World) -> None:
    scene = signed.scene()
    records = _archived(scene, 2)
    reader = signed.actor(scene.org, operations=[READ])
    signed.store.tree_sizes[scene.org] = 1  # the second record's leaf is not counted
    proof = f"/auth/action/logs/{records[1].id}/proof"
    refused(Catalogue.LOG_TREE_DAMAGED, lambda: _text(signed, reader, proof))


def test_a_missing_subtree_on_a_path_is_a_damaged_tree(signed: World) -> None:
    scene = signed.scene()
    records = _archived(scene, 3)
    reader = signed.actor(scene.org, operations=[READ])
    _text(signed, reader, "/auth/action/logs/checkpoint")
    # The second leaf: on the first leaf's path and on the proof from 1, not on the root's
    # (the root of 3 is read from the subtrees (1, 0) and (0, 2)).
    del signed.store.tree[scene.org, 0, 1]
    for path, query in (
        (f"/auth/action/logs/{records[0].id}/proof", ""),
        ("/auth/action/logs/consistency", "from=1"),
    ):
        refused(
            Catalogue.LOG_TREE_DAMAGED,
            partial(_text, signed, reader, path, query),
        )


# --------------------------------------------------------------------------- the rules


def _head(leaves: Sequence[bytes]) -> SignedHead:
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    return SignedHead(len(leaves), _root(hashes), "note")


def _root(hashes: list[bytes]) -> bytes:
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return merkle.node_hash(_root(hashes[:k]), _root(hashes[k:]))


def _checkpoint(leaves: Sequence[bytes]) -> Checkpoint:
    head = _head(leaves)
    return Checkpoint("log.example/audit/or-a", head.size, head.root)


def _never(old_size: int) -> tuple[bytes, ...]:
    raise AssertionError("no proof needed")


def test_the_signer_signs_the_first_tree_the_same_tree_and_a_grown_one() -> None:
    leaves = [b"a", b"b", b"c"]
    check_extension(None, _checkpoint(leaves), _never)
    check_extension(SignedHead(0, merkle.EMPTY_ROOT, "note"), _checkpoint(leaves), _never)
    check_extension(_head(leaves), _checkpoint(leaves), _never)
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    # PROOF(2, D[3]) = [the third leaf]; the old tree of 2 is complete.
    check_extension(_head(leaves[:2]), _checkpoint(leaves), lambda old: (hashes[2],))


def test_the_signer_refuses_a_smaller_or_an_inconsistent_tree() -> None:
    leaves = [b"a", b"b", b"c"]
    with pytest.raises(SigningRefused) as smaller:
        check_extension(_head(leaves), _checkpoint(leaves[:2]), _never)
    assert smaller.value.reason == "tree_shrank"
    assert "size 2 is below the last signed, 3" in str(smaller.value)
    with pytest.raises(SigningRefused) as rewritten:
        check_extension(_head([b"x", b"b", b"c"]), _checkpoint(leaves), _never)
    assert rewritten.value.reason == "inconsistent"
    with pytest.raises(SigningRefused) as unproved:
        check_extension(_head(leaves[:2]), _checkpoint(leaves), lambda old: (b"\0" * 32,))
    assert unproved.value.reason == "inconsistent"

    def missing(old_size: int) -> tuple[bytes, ...]:
        raise KeyError((0, 2))

    with pytest.raises(SigningRefused):
        check_extension(_head(leaves[:2]), _checkpoint(leaves), missing)


def test_a_log_name_is_schemeless_and_url_like() -> None:
    for name in (DEFAULT_LOG_NAME, "example.com", "example.com:8443/logs/audit", "a-b.c/x_y~z"):
        assert check_log_name(name) == name
    for name, why in (
        ("https://example.com/audit", "no scheme"),
        ("Example.com/audit", "lowercase host"),
        ("example.com/a b", "lowercase host"),
        ("example.com/a+b", "lowercase host"),
        ("", "lowercase host"),
        ("example.com/" + "a" * 200, "at most 200"),
    ):
        with pytest.raises(ValueError, match=why):
            check_log_name(name)
