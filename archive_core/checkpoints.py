"""Signed checkpoints of an org's Merkle tree, the proofs that travel with them, and
their offline verification.

The texts follow C2SP:

- `tlog-checkpoint`: the note text `<origin>\\n<size>\\n<base64 root>\\n[extension lines]`;
  an org's origin is `<log name>/<orgId>` (`origin`).
- `signed-note`: the text, a blank line, then `— <key name> base64(key id ‖ signature)`
  lines. An Ed25519 key's id is the first four bytes of
  SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key) (`key_id`), and its verifier key string is
  `<name>+<hex key id>+base64(0x01 ‖ public key)` (`VerifierKey`), the form of Go's
  `golang.org/x/mod/sumdb/note`.
- `tlog-proof@v1`: `c2sp.org/tlog-proof@v1`, `extra <base64 leaf data>`, `index <n>`,
  the inclusion path one base64 hash a line, a blank line, the signed checkpoint
  (`InclusionBundle`).
- A consistency proof (`ConsistencyBundle`): the RFC 9162 §2.1.4 path one base64 hash a
  line, a blank line, the signed checkpoint it leads to.

Parsing is strict (canonical base64, decimal without leading zeros, no control
characters) and raises `ProofInvalid` with a stable reason; `verify_inclusion_bundle`
and `verify_consistency_bundle` check a signature through the `Ed25519Verifier` port and
the Merkle proof, in that order, and return what they proved.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from typing import Final, Protocol

import attrs

from archive_core import merkle
from archive_core.merkle import ProofInvalid

__all__ = [
    "ED25519",
    "MAX_SIGNATURES",
    "TLOG_PROOF_HEADER",
    "Checkpoint",
    "ConsistencyBundle",
    "InclusionBundle",
    "NoteSignature",
    "SignedNote",
    "VerifiedConsistency",
    "VerifiedInclusion",
    "VerifierKey",
    "format_checkpoint",
    "format_consistency_bundle",
    "format_inclusion_bundle",
    "format_note",
    "key_id",
    "open_checkpoint",
    "origin",
    "parse_checkpoint",
    "parse_consistency_bundle",
    "parse_inclusion_bundle",
    "parse_note",
    "verify_consistency_bundle",
    "verify_inclusion_bundle",
    "verify_note",
]

#: The signature type byte of Ed25519 in signed notes and verifier keys.
ED25519: Final = 0x01
#: The most signature lines a note may carry (the spec asks for at least 16).
MAX_SIGNATURES: Final = 100
TLOG_PROOF_HEADER: Final = "c2sp.org/tlog-proof@v1"

_DASH: Final = "\u2014 "
_DECIMAL: Final = re.compile(r"0|[1-9][0-9]*")
_HEX_KEY_ID: Final = re.compile(r"[0-9a-f]{8}")
_CONTROL: Final = re.compile(r"[\x00-\x09\x0b-\x1f]")
_ED25519_KEY_SIZE: Final = 32
_ED25519_SIGNATURE_SIZE: Final = 64


class _Ed25519Check(Protocol):
    """What the verifiers here ask of `archive_core.ports.Ed25519Verifier` (that port,
    which `adapters/crypto/ed25519.py` fills, is not imported: the ports refer to this
    module, and the core has no import cycle)."""

    def verify(self, public_key: bytes, *, message: bytes, signature: bytes) -> bool:
        """Whether `signature` is `public_key`'s over `message` (False for malformed input)."""
        ...


def origin(log_name: str, org_id: str) -> str:
    """The origin line (and note key name) of an org's checkpoints: `<log name>/<orgId>`."""
    return f"{log_name}/{org_id}"


def key_id(name: str, public_key: bytes) -> int:
    """The key id of an Ed25519 key named `name`: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key)[:4]."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


# --------------------------------------------------------------------------- encodings


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, *, what: str, reason: str) -> bytes:
    # Standard base64 (RFC 4648 §4), canonical only: what decodes re-encodes the same.
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as error:
        raise ProofInvalid(reason, f"{what} is not base64") from error
    if _b64(data) != text:
        raise ProofInvalid(reason, f"{what} is not canonical base64")
    return data


def _hash(text: str, *, what: str, reason: str) -> bytes:
    value = _unb64(text, what=what, reason=reason)
    if len(value) != merkle.HASH_SIZE:
        raise ProofInvalid(reason, f"{what} is {len(value)} bytes, not {merkle.HASH_SIZE}")
    return value


def _decimal(text: str, *, what: str, reason: str) -> int:
    if not _DECIMAL.fullmatch(text):
        raise ProofInvalid(reason, f"{what} is not a decimal number without leading zeros")
    return int(text)


def _valid_key_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


# --------------------------------------------------------------------------- checkpoints


@attrs.frozen
class Checkpoint:
    """A tree head: the log's origin, the tree size, its root, and extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


def format_checkpoint(checkpoint: Checkpoint) -> str:
    """The C2SP `tlog-checkpoint` note text (each line ends with a newline)."""
    lines = [checkpoint.origin, str(checkpoint.size), _b64(checkpoint.root)]
    return "".join(f"{line}\n" for line in (*lines, *checkpoint.extensions))


def parse_checkpoint(text: str) -> Checkpoint:
    """The checkpoint a note text holds; ProofInvalid("malformed_checkpoint") otherwise."""
    reason = "malformed_checkpoint"
    if not text.endswith("\n"):
        raise ProofInvalid(reason, "a checkpoint ends with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or not all(lines):
        raise ProofInvalid(reason, "a checkpoint is at least three non-empty lines")
    name, size, root, *extensions = lines
    return Checkpoint(
        origin=name,
        size=_decimal(size, what="the tree size", reason=reason),
        root=_hash(root, what="the root hash", reason=reason),
        extensions=tuple(extensions),
    )


# --------------------------------------------------------------------------- signed notes


@attrs.frozen
class NoteSignature:
    """One signature line of a note: the key's name and id, and the signature bytes."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        """`— <name> base64(key id ‖ signature)` and its newline."""
        return f"{_DASH}{self.name} {_b64(self.key_id.to_bytes(4, 'big') + self.signature)}\n"


@attrs.frozen
class SignedNote:
    """A note's text (ending in a newline) and its signatures, as written."""

    text: str
    signatures: tuple[NoteSignature, ...]


def format_note(note: SignedNote) -> str:
    """The C2SP `signed-note`: the text, a blank line, one line per signature."""
    return note.text + "\n" + "".join(signature.line() for signature in note.signatures)


def _signature(line: str) -> NoteSignature:
    reason = "malformed_note"
    if not line.startswith(_DASH):
        raise ProofInvalid(reason, "a signature line starts with an em dash and a space")
    name, space, encoded = line[len(_DASH) :].partition(" ")
    if not space or not _valid_key_name(name):
        raise ProofInvalid(reason, "a signature line names its key without spaces or '+'")
    raw = _unb64(encoded, what="a signature", reason=reason)
    if len(raw) < 5:
        raise ProofInvalid(reason, "a signature is a key id and at least one byte")
    return NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:])


def parse_note(message: str | bytes) -> SignedNote:
    """The text and signatures of a C2SP signed note (nothing verified);
    ProofInvalid("malformed_note") unless it is one."""
    reason = "malformed_note"
    if isinstance(message, bytes):
        try:
            message = message.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ProofInvalid(reason, "a note is UTF-8") from error
    if _CONTROL.search(message):
        raise ProofInvalid(reason, "a note holds no control character but newlines")
    # The text ends at the last blank line; the signature lines follow it.
    split = message.rfind("\n\n")
    if split < 0 or not message.endswith("\n"):
        raise ProofInvalid(reason, "a note is text, a blank line, then signature lines")
    lines = message[split + 2 : -1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise ProofInvalid(reason, f"a note carries at most {MAX_SIGNATURES} signatures")
    return SignedNote(message[: split + 1], tuple(_signature(line) for line in lines))


# --------------------------------------------------------------------------- verifier keys


@attrs.frozen
class VerifierKey:
    """An Ed25519 note verifier key: the key's name, id and 32-byte public key."""

    name: str
    key_id: int
    public_key: bytes

    @classmethod
    def for_key(cls, name: str, public_key: bytes) -> VerifierKey:
        """The verifier key of `public_key` under `name` (its id computed)."""
        if not _valid_key_name(name):
            raise ValueError(f"a key name is non-empty, without spaces or '+': {name!r}")
        if len(public_key) != _ED25519_KEY_SIZE:
            raise ValueError(f"an Ed25519 public key is {_ED25519_KEY_SIZE} bytes")
        return cls(name, key_id(name, public_key), public_key)

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """The key a `name+hex(keyid)+base64(0x01‖pubkey)` string names;
        ProofInvalid("malformed_key") unless it is one, with the id its key gives."""
        reason = "malformed_key"
        name, _, rest = text.partition("+")
        hex_id, _, encoded = rest.partition("+")
        if not _valid_key_name(name) or not _HEX_KEY_ID.fullmatch(hex_id):
            raise ProofInvalid(reason, "a verifier key is name+hex(key id)+base64(key)")
        raw = _unb64(encoded, what="the verifier key", reason=reason)
        if raw[:1] != bytes([ED25519]):
            raise ProofInvalid(reason, "the verifier key is not an Ed25519 key")
        if len(raw) != 1 + _ED25519_KEY_SIZE:
            raise ProofInvalid(reason, f"an Ed25519 public key is {_ED25519_KEY_SIZE} bytes")
        key = cls.for_key(name, raw[1:])
        if key.key_id != int(hex_id, 16):
            raise ProofInvalid(reason, "the key id is not the one the key and name give")
        return key

    def __str__(self) -> str:
        """The `name+hex(keyid)+base64(0x01‖pubkey)` string."""
        return f"{self.name}+{self.key_id:08x}+{_b64(bytes([ED25519]) + self.public_key)}"

    def sign_line(self, signature: bytes) -> NoteSignature:
        """This key's signature line for `signature` (made over the note text)."""
        return NoteSignature(self.name, self.key_id, signature)


def verify_note(message: str | bytes, *, key: VerifierKey, verifier: _Ed25519Check) -> SignedNote:
    """The note, once `key` has verified it; ProofInvalid otherwise. Signatures of other
    keys are ignored (witness cosignatures, say); the note must carry one of `key`, and
    every one of `key` must verify."""
    note = parse_note(message)
    ours = [s for s in note.signatures if s.name == key.name and s.key_id == key.key_id]
    if not ours:
        raise ProofInvalid("unknown_key", f"the note is not signed by {key.name}")
    text = note.text.encode("utf-8")
    for signature in ours:
        if len(signature.signature) != _ED25519_SIGNATURE_SIZE or not verifier.verify(
            key.public_key, message=text, signature=signature.signature
        ):
            raise ProofInvalid("bad_signature", f"the signature of {key.name} does not verify")
    return note


def open_checkpoint(
    message: str | bytes, *, key: VerifierKey, verifier: _Ed25519Check
) -> Checkpoint:
    """The checkpoint in a signed note, once `key` has verified it (`verify_note`) and
    its origin is the key's name; ProofInvalid otherwise."""
    checkpoint = parse_checkpoint(verify_note(message, key=key, verifier=verifier).text)
    if checkpoint.origin != key.name:
        raise ProofInvalid("origin_mismatch", f"the checkpoint is {checkpoint.origin}'s")
    return checkpoint


# --------------------------------------------------------------------------- proofs


def _hash_lines(lines: Sequence[str], *, reason: str) -> tuple[bytes, ...]:
    return tuple(_hash(line, what="a proof hash", reason=reason) for line in lines)


@attrs.frozen
class InclusionBundle:
    """A C2SP `tlog-proof@v1`: leaf data (`extra`), its index, the inclusion path and the
    signed checkpoint (verbatim) it proves against."""

    extra: bytes
    index: int
    path: tuple[bytes, ...]
    checkpoint: str


def format_inclusion_bundle(bundle: InclusionBundle) -> str:
    """The `tlog-proof@v1` text."""
    hashes = "".join(f"{_b64(h)}\n" for h in bundle.path)
    return (
        f"{TLOG_PROOF_HEADER}\nextra {_b64(bundle.extra)}\nindex {bundle.index}\n"
        f"{hashes}\n{bundle.checkpoint}"
    )


def parse_inclusion_bundle(text: str) -> InclusionBundle:
    """The parts of a `tlog-proof@v1` text (nothing verified; the `extra` line is required:
    it is the leaf data); ProofInvalid("malformed_proof") otherwise."""
    reason = "malformed_proof"
    head, blank, checkpoint = text.partition("\n\n")
    lines = head.split("\n")
    if not blank or lines[0] != TLOG_PROOF_HEADER:
        raise ProofInvalid(reason, f"a proof starts with {TLOG_PROOF_HEADER}")
    if len(lines) < 3 or not lines[1].startswith("extra ") or not lines[2].startswith("index "):
        raise ProofInvalid(reason, "a proof's `extra` and `index` lines follow its header")
    return InclusionBundle(
        extra=_unb64(lines[1][len("extra ") :], what="the extra data", reason=reason),
        index=_decimal(lines[2][len("index ") :], what="the index", reason=reason),
        path=_hash_lines(lines[3:], reason=reason),
        checkpoint=checkpoint,
    )


@attrs.frozen
class ConsistencyBundle:
    """An RFC 9162 §2.1.4 consistency path and the signed checkpoint (verbatim) it leads to."""

    path: tuple[bytes, ...]
    checkpoint: str


def format_consistency_bundle(bundle: ConsistencyBundle) -> str:
    """The hashes one base64 a line, a blank line, the checkpoint."""
    return "".join(f"{_b64(h)}\n" for h in bundle.path) + "\n" + bundle.checkpoint


def parse_consistency_bundle(text: str) -> ConsistencyBundle:
    """The parts of a consistency proof text; ProofInvalid("malformed_proof") otherwise."""
    reason = "malformed_proof"
    if text.startswith("\n"):
        return ConsistencyBundle((), text[1:])
    head, blank, checkpoint = text.partition("\n\n")
    if not blank:
        raise ProofInvalid(reason, "a consistency proof is hashes, a blank line, a checkpoint")
    return ConsistencyBundle(_hash_lines(head.split("\n"), reason=reason), checkpoint)


@attrs.frozen
class VerifiedInclusion:
    """What an inclusion bundle proved: leaf `index`, of data `leaf_data`, is in the tree
    of `checkpoint`."""

    checkpoint: Checkpoint
    index: int
    leaf_data: bytes


@attrs.frozen
class VerifiedConsistency:
    """What a consistency bundle proved: the tree of `new` extends the tree of `old`."""

    old: Checkpoint
    new: Checkpoint


def verify_inclusion_bundle(
    text: str, *, key: VerifierKey, verifier: _Ed25519Check
) -> VerifiedInclusion:
    """Verify a `tlog-proof@v1` whose `extra` is the leaf data (C2SP tlog-proof
    "Verifying"); ProofInvalid with the reason of the first step that fails."""
    bundle = parse_inclusion_bundle(text)
    # 1. The leaf hash: RFC 9162 over the leaf data the proof carries.
    leaf = merkle.leaf_hash(bundle.extra)
    # 2. The checkpoint is signed by the log's key for its origin.
    checkpoint = open_checkpoint(bundle.checkpoint, key=key, verifier=verifier)
    # 4. The inclusion path binds the leaf to the checkpoint's root.
    merkle.verify_inclusion(leaf, bundle.index, checkpoint.size, bundle.path, checkpoint.root)
    return VerifiedInclusion(checkpoint, bundle.index, bundle.extra)


def verify_consistency_bundle(
    old_checkpoint: str, text: str, *, key: VerifierKey, verifier: _Ed25519Check
) -> VerifiedConsistency:
    """Verify that the checkpoint a consistency proof ends with extends `old_checkpoint`
    (both signed by `key`); ProofInvalid with the reason of the first check that fails."""
    old = open_checkpoint(old_checkpoint, key=key, verifier=verifier)
    bundle = parse_consistency_bundle(text)
    new = open_checkpoint(bundle.checkpoint, key=key, verifier=verifier)
    merkle.verify_consistency(old.size, new.size, bundle.path, old.root, new.root)
    return VerifiedConsistency(old, new)
