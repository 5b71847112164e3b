"""Checkpoints, signed notes, verifier keys and proof bundles: Go `sumdb/note` and C2SP
examples (tests/vectors/signed_note.json), then round trips and every refusal."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from adapters.crypto.ed25519 import CryptographyEd25519Verifier
from archive_core import checkpoints, merkle
from archive_core.checkpoints import (
    Checkpoint,
    ConsistencyBundle,
    InclusionBundle,
    NoteSignature,
    SignedNote,
    VerifierKey,
)
from archive_core.merkle import ProofInvalid

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "signed_note.json").read_text("utf-8")
)
VERIFIER = CryptographyEd25519Verifier()
KEYS = {key["name"]: key for key in VECTORS["keys"]}
SEED = bytes(range(32))
LOG = "log.example/audit"


def _reason(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ProofInvalid) as caught:
        call(*args, **kwargs)
    return caught.value.reason


def _private_from_skey(skey: str) -> ed25519.Ed25519PrivateKey:
    # Go's `PRIVATE+KEY+<name>+<hex id>+base64(0x01 ‖ seed)`.
    raw = base64.b64decode(skey.split("+", 4)[4])
    assert raw[0] == checkpoints.ED25519
    return ed25519.Ed25519PrivateKey.from_private_bytes(raw[1:])


def _public(private: ed25519.Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes_raw()


# --------------------------------------------------------------------------- vectors


@pytest.mark.parametrize("key", VECTORS["keys"], ids=lambda k: k["name"])
def test_go_and_c2sp_verifier_keys_parse_and_print_back(key: dict[str, str]) -> None:
    parsed = VerifierKey.parse(key["vkey"])
    assert parsed.name == key["name"]
    assert str(parsed) == key["vkey"]
    assert checkpoints.key_id(parsed.name, parsed.public_key) == parsed.key_id


def test_go_private_keys_give_the_verifier_keys() -> None:
    peter = _private_from_skey(KEYS["PeterNeumann"]["skey"])
    enoch = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(KEYS["EnochRoot"]["seed"]))
    assert str(VerifierKey.for_key("PeterNeumann", _public(peter))) == KEYS["PeterNeumann"]["vkey"]
    assert str(VerifierKey.for_key("EnochRoot", _public(enoch))) == KEYS["EnochRoot"]["vkey"]


def test_signing_the_go_example_text_gives_the_go_note() -> None:
    note = VECTORS["notes"][0]
    peter = _private_from_skey(KEYS["PeterNeumann"]["skey"])
    key = VerifierKey.parse(KEYS["PeterNeumann"]["vkey"])
    signed = SignedNote(note["text"], (key.sign_line(peter.sign(note["text"].encode())),))
    assert checkpoints.format_note(signed) == note["text"] + "\n" + note["signatures"][0]


@pytest.mark.parametrize("note", VECTORS["notes"], ids=lambda n: n["verifiedBy"][0])
def test_example_notes_verify_under_each_of_their_keys(note: dict[str, Any]) -> None:
    message = note["text"] + "\n" + "".join(note["signatures"])
    parsed = checkpoints.parse_note(message)
    assert parsed.text == note["text"]
    assert checkpoints.format_note(parsed) == message
    for name in note["verifiedBy"]:
        key = VerifierKey.parse(KEYS[name]["vkey"])
        assert checkpoints.verify_note(message, key=key, verifier=VERIFIER) == parsed
        assert checkpoints.verify_note(message.encode(), key=key, verifier=VERIFIER) == parsed


def test_a_note_another_key_signed_is_refused() -> None:
    message = VECTORS["notes"][1]["text"] + "\n" + VECTORS["notes"][1]["signatures"][0]
    key = VerifierKey.parse(KEYS["PeterNeumann"]["vkey"])
    assert _reason(checkpoints.verify_note, message, key=key, verifier=VERIFIER) == "unknown_key"


def test_a_corrupted_signature_is_refused() -> None:
    key = VerifierKey.parse(KEYS["PeterNeumann"]["vkey"])
    bad = VECTORS["invalidSignature"]
    assert _reason(checkpoints.verify_note, bad, key=key, verifier=VERIFIER) == "bad_signature"
    note = VECTORS["notes"][0]
    flipped = note["text"].replace("If", "if") + "\n" + note["signatures"][0]
    assert _reason(checkpoints.verify_note, flipped, key=key, verifier=VERIFIER) == "bad_signature"


@pytest.mark.parametrize("encoded", VECTORS["malformedNotes"])
def test_go_malformed_notes_are_refused(encoded: str) -> None:
    assert _reason(checkpoints.parse_note, base64.b64decode(encoded)) == "malformed_note"


def test_the_c2sp_checkpoint_example_parses_and_prints_back() -> None:
    example = VECTORS["checkpoint"]
    note = checkpoints.parse_note(example["note"])
    checkpoint = checkpoints.parse_checkpoint(note.text)
    assert checkpoint == Checkpoint(
        example["origin"], example["size"], base64.b64decode(example["root"])
    )
    assert checkpoints.format_checkpoint(checkpoint) == note.text
    assert note.signatures[0].name == example["origin"]


# --------------------------------------------------------------------------- our own


def _tree(size: int, *, forged: int = -1) -> dict[tuple[int, int], bytes]:
    nodes: dict[tuple[int, int], bytes] = {}
    for index in range(size):
        leaf = merkle.leaf_hash(b"forged" if index == forged else f"record {index}".encode())
        for subtree in merkle.appended_subtrees(index, leaf, lambda lv, ix: nodes[lv, ix]):
            nodes[subtree.level, subtree.index] = subtree.hash
    return nodes


class Log:
    """An org's log signed with a test key: checkpoints and proof bundles."""

    def __init__(self, size: int, *, name: str = "org-1", forged: int = -1) -> None:
        self.private = ed25519.Ed25519PrivateKey.from_private_bytes(SEED)
        self.key = VerifierKey.for_key(checkpoints.origin(LOG, name), _public(self.private))
        self.nodes = _tree(size, forged=forged)

    def read(self, level: int, index: int) -> bytes:
        return self.nodes[level, index]

    def checkpoint(self, size: int, *, origin: str | None = None) -> str:
        root = merkle.root_hash(size, self.read)
        text = checkpoints.format_checkpoint(Checkpoint(origin or self.key.name, size, root))
        signature = self.key.sign_line(self.private.sign(text.encode()))
        return checkpoints.format_note(SignedNote(text, (signature,)))

    def inclusion(self, index: int, size: int) -> str:
        return checkpoints.format_inclusion_bundle(
            InclusionBundle(
                extra=f"record {index}".encode(),
                index=index,
                path=merkle.inclusion_path(index, size, self.read),
                checkpoint=self.checkpoint(size),
            )
        )

    def consistency(self, old: int, new: int) -> str:
        path = merkle.consistency_path(old, new, self.read)
        return checkpoints.format_consistency_bundle(ConsistencyBundle(path, self.checkpoint(new)))


def test_origin_and_key_of_an_org() -> None:
    log = Log(1)
    assert log.key.name == "log.example/audit/org-1"
    assert VerifierKey.parse(str(log.key)) == log.key


def test_an_inclusion_bundle_round_trips_and_verifies() -> None:
    log = Log(13)
    text = log.inclusion(5, 13)
    lines = text.split("\n")
    assert lines[:3] == [checkpoints.TLOG_PROOF_HEADER, "extra cmVjb3JkIDU=", "index 5"]
    bundle = checkpoints.parse_inclusion_bundle(text)
    assert checkpoints.format_inclusion_bundle(bundle) == text
    verified = checkpoints.verify_inclusion_bundle(text, key=log.key, verifier=VERIFIER)
    assert (verified.index, verified.leaf_data, verified.checkpoint.size) == (5, b"record 5", 13)


def test_a_witness_cosignature_is_ignored() -> None:
    log = Log(4)
    text = log.inclusion(0, 4) + NoteSignature("witness.example", 7, b"x" * 72).line()
    assert checkpoints.verify_inclusion_bundle(text, key=log.key, verifier=VERIFIER).index == 0


def test_consistency_bundles_round_trip_and_verify() -> None:
    log = Log(21)
    for old, new in ((1, 21), (8, 21), (13, 20), (21, 21)):
        text = log.consistency(old, new)
        assert checkpoints.format_consistency_bundle(
            checkpoints.parse_consistency_bundle(text)
        ) == (text)
        verified = checkpoints.verify_consistency_bundle(
            log.checkpoint(old), text, key=log.key, verifier=VERIFIER
        )
        assert (verified.old.size, verified.new.size) == (old, new)
    assert log.consistency(21, 21).startswith("\nlog.example/audit/org-1\n21\n")


def test_verification_names_the_first_failure() -> None:
    log = Log(13)
    other = Log(13, name="org-2")
    good = log.inclusion(5, 13)
    verify = checkpoints.verify_inclusion_bundle
    assert _reason(verify, good, key=other.key, verifier=VERIFIER) == "unknown_key"
    tampered = good.replace("extra cmVjb3JkIDU=", "extra cmVjb3JkIDY=")
    assert _reason(verify, tampered, key=log.key, verifier=VERIFIER) == "root_mismatch"
    foreign = good.split("\n\n", 1)[0] + "\n\n" + log.checkpoint(13, origin="elsewhere")
    assert _reason(verify, foreign, key=log.key, verifier=VERIFIER) == "origin_mismatch"
    consistency = checkpoints.verify_consistency_bundle
    forged = Log(14, forged=3).consistency(13, 14)  # record 3 rewritten, one appended
    old = log.checkpoint(13)
    assert _reason(consistency, old, forged, key=log.key, verifier=VERIFIER) == "old_root_mismatch"
    shrunk = log.consistency(5, 5)
    assert _reason(consistency, old, shrunk, key=log.key, verifier=VERIFIER) == "size_order"


_ROOT = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
_KEY = "name+01234567+"
_PROOF = checkpoints.TLOG_PROOF_HEADER
#: Each parser, the reason it refuses with, and texts it refuses.
MALFORMED: list[tuple[Callable[[str], object], str, list[str]]] = [
    (
        checkpoints.parse_checkpoint,
        "malformed_checkpoint",
        [
            "no newline",
            "a\n1\n",
            f"a\n01\n{_ROOT}\n",
            "a\n1\nAAAA\n",
            f"a\n1\n{_ROOT[:-2]}B=\n",
            f"a\n1\n{_ROOT}\n\n",
            f"a\n1\n!{_ROOT[1:]}\n",
        ],
    ),
    (
        checkpoints.parse_note,
        "malformed_note",
        [
            "a\n\n— name\n",
            "a\n\n— na+me AAAAAAA=\n",
            "a\n\n— name AAAA\n",
            "a\n\n- name AAAAAAA=\n",
            "a\n\n— name ÀAAAAAA=\n",
        ],
    ),
    (
        VerifierKey.parse,
        "malformed_key",
        [
            "name",
            "na me+01234567+AQ==",
            "name+0123456+AQ==",
            _KEY + base64.b64encode(b"\x02" + bytes(32)).decode(),
            _KEY + base64.b64encode(b"\x01" + bytes(31)).decode(),
            _KEY + base64.b64encode(b"\x01" + bytes(32)).decode(),
        ],
    ),
    (
        checkpoints.parse_inclusion_bundle,
        "malformed_proof",
        [
            f"{_PROOF}\nextra AA==\nindex 0\n",
            "c2sp.org/tlog-proof@v2\nextra AA==\nindex 0\n\nc",
            f"{_PROOF}\nindex 0\n\nc",
            f"{_PROOF}\nextra AA==\nindex -1\n\nc",
            f"{_PROOF}\nextra AA==\nindex 0\nAAAA\n\nc",
        ],
    ),
    (checkpoints.parse_consistency_bundle, "malformed_proof", ["AAAA\n\nc", "no blank line"]),
]


@pytest.mark.parametrize(
    ("parse", "reason", "text"),
    [(parse, reason, text) for parse, reason, texts in MALFORMED for text in texts],
)
def test_malformed_texts_are_refused(
    parse: Callable[[str], object], reason: str, text: str
) -> None:
    assert _reason(parse, text) == reason


def test_no_key_of_a_bad_name_or_size() -> None:
    with pytest.raises(ValueError, match="key name"):
        VerifierKey.for_key("a b", bytes(32))
    with pytest.raises(ValueError, match="32 bytes"):
        VerifierKey.for_key("ab", bytes(31))


def test_the_ed25519_adapter_refuses_malformed_keys_and_signatures() -> None:
    private = ed25519.Ed25519PrivateKey.from_private_bytes(SEED)
    signature = private.sign(b"m")
    assert VERIFIER.verify(_public(private), message=b"m", signature=signature)
    assert not VERIFIER.verify(_public(private), message=b"n", signature=signature)
    assert not VERIFIER.verify(b"short", message=b"m", signature=signature)
