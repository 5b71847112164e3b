"""The log key in a key file: what it accepts, what it refuses (one line, never the key),
and the heads it keeps beside it, shared by every signer of that file."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from adapters.crypto.ed25519 import CryptographyEd25519Verifier
from adapters.crypto.log_key import KeyFileSigner, LogKeyInvalid, new_log_key, public_key_of
from archive_core import merkle
from archive_core.checkpoints import Checkpoint, open_checkpoint
from archive_core.log_signing import SigningRefused, verifier_key

NAME = "log.example/audit"
ORG = "or-aaaaa-bbbbb"


def _tree(leaves: list[bytes]) -> bytes:
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]

    def mth(part: list[bytes]) -> bytes:
        if len(part) == 1:
            return part[0]
        k = 1 << ((len(part) - 1).bit_length() - 1)
        return merkle.node_hash(mth(part[:k]), mth(part[k:]))

    return mth(hashes)


def _checkpoint(leaves: list[bytes]) -> Checkpoint:
    return Checkpoint(f"{NAME}/{ORG}", len(leaves), _tree(leaves))


def _no_proof(old_size: int) -> tuple[bytes, ...]:
    raise AssertionError("no proof asked")


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "log.key"
    new_log_key(path)
    return path


def test_a_new_key_is_mode_600_never_overwritten_and_signs_notes(key_file: Path) -> None:
    assert key_file.stat().st_mode & 0o777 == 0o600
    with pytest.raises(LogKeyInvalid, match="exists"):
        new_log_key(key_file)
    signer = KeyFileSigner(key_file, log_name=NAME)
    assert signer.public_key == public_key_of(key_file)
    note = signer.sign(_checkpoint([b"a"]), proof_from=_no_proof)
    key = verifier_key(NAME, ORG, signer.public_key)
    checkpoint = open_checkpoint(note, key=key, verifier=CryptographyEd25519Verifier())
    assert (checkpoint.size, checkpoint.root) == (1, _tree([b"a"]))


def test_the_last_head_is_kept_beside_the_key_for_every_signer_of_it(key_file: Path) -> None:
    first = KeyFileSigner(key_file, log_name=NAME)
    note = first.sign(_checkpoint([b"a", b"b"]), proof_from=_no_proof)
    head = json.loads((Path(f"{key_file}.heads") / f"{ORG}.json").read_text())
    assert (head["size"], head["note"]) == (2, note)
    second = KeyFileSigner(key_file, log_name=NAME)  # another worker, or after a restart
    assert second.sign(_checkpoint([b"a", b"b"]), proof_from=_no_proof) == note
    with pytest.raises(SigningRefused) as smaller:
        second.sign(_checkpoint([b"a"]), proof_from=_no_proof)
    assert smaller.value.reason == "tree_shrank"
    with pytest.raises(SigningRefused) as rewritten:
        second.sign(_checkpoint([b"x", b"b"]), proof_from=_no_proof)
    assert rewritten.value.reason == "inconsistent"
    grown = second.sign(
        _checkpoint([b"a", b"b", b"c"]), proof_from=lambda old: (merkle.leaf_hash(b"c"),)
    )
    assert grown != note


def test_a_refusal_is_logged_as_an_error(key_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    signer = KeyFileSigner(key_file, log_name=NAME)
    signer.sign(_checkpoint([b"a", b"b"]), proof_from=_no_proof)
    with pytest.raises(SigningRefused):
        signer.sign(_checkpoint([b"a"]), proof_from=_no_proof)
    (record,) = [r for r in caplog.records if r.name == "archive_core.log_signer"]
    assert record.levelname == "ERROR"
    assert record.getMessage() == (
        f"the log signer refused to sign {NAME}/{ORG}: "
        f"{NAME}/{ORG}: size 1 is below the last signed, 2"
    )


def test_an_unreadable_head_refuses_to_sign(key_file: Path) -> None:
    signer = KeyFileSigner(key_file, log_name=NAME)
    (Path(f"{key_file}.heads") / f"{ORG}.json").write_text("{not json")
    with pytest.raises(SigningRefused) as refused:
        signer.sign(_checkpoint([b"a"]), proof_from=_no_proof)
    assert refused.value.reason == "head_unreadable"


def _sign_sizes(key_file: str, sizes: list[int]) -> None:
    signer = KeyFileSigner(key_file, log_name=NAME)
    leaves = [bytes([i]) for i in range(max(sizes))]
    for size in sizes:
        hashes = [merkle.leaf_hash(leaf) for leaf in leaves[:size]]

        def proof_from(
            old: int, size: int = size, hashes: list[bytes] = hashes
        ) -> tuple[bytes, ...]:
            return merkle.consistency_path(
                old, size, lambda level, index: _node(hashes, level, index)
            )

        try:
            signer.sign(_checkpoint(leaves[:size]), proof_from=proof_from)
        except SigningRefused:
            pass  # a smaller size than another process already signed: refused


def _node(hashes: list[bytes], level: int, index: int) -> bytes:
    part = hashes[index << level : (index + 1) << level]
    while len(part) > 1:
        part = [merkle.node_hash(part[i], part[i + 1]) for i in range(0, len(part), 2)]
    return part[0]


def test_processes_sharing_the_key_file_agree_on_the_last_head(key_file: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_sign_sizes, args=(str(key_file), list(range(1 + i, 17, 3))))
        for i in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    head = json.loads((Path(f"{key_file}.heads") / f"{ORG}.json").read_text())
    assert head["size"] == 16  # the largest, and never overwritten by a smaller one


def _write(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


def test_unusable_key_files_are_refused_in_one_line(tmp_path: Path, key_file: Path) -> None:
    p256 = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    locked = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    cases = [
        (tmp_path / "missing.key", "No such file"),
        (tmp_path, "not a regular file"),
        (_write(tmp_path / "open.key", key_file.read_bytes(), 0o644), "chmod 600"),
        (_write(tmp_path / "junk.key", b"junk"), "not an unencrypted PEM private key"),
        (_write(tmp_path / "locked.key", locked), "not an unencrypted PEM private key"),
        (_write(tmp_path / "p256.key", p256), "not an Ed25519 key"),
        (_write(tmp_path / "big.key", b"x" * 20000), "too large"),
    ]
    for path, why in cases:
        with pytest.raises(LogKeyInvalid, match=why) as refused:
            KeyFileSigner(path, log_name=NAME)
        assert "\n" not in str(refused.value)
        assert "PRIVATE KEY" not in str(refused.value)
    with pytest.raises(LogKeyInvalid, match="log name 'https://x'"):
        KeyFileSigner(key_file, log_name="https://x")
