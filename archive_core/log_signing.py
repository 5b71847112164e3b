"""The rules of the log signer: what it signs, and what it refuses to sign.

The log key is a port, `CheckpointSigner` (an adapter holds the key: `adapters.crypto.
log_key.KeyFileSigner`); it signs each org's checkpoints (`archive_core.checkpoints`): C2SP
`tlog-checkpoint` bodies in `signed-note`s whose key name is the checkpoint's origin,
`<log name>/<orgId>`. The key is held outside the database (a `CheckpointSigner`
adapter), and so is the last tree head it signed for each origin: whoever holds the
database can cut or rewrite the tables, but cannot make the signer sign a tree that
does not extend the last one it signed (`check_extension`), so a client that kept an
older checkpoint can prove the rewrite.

A log name is what C2SP asks of an origin's prefix: a schemeless URL-like name
(`example.com/audit`), no spaces, no `+` (`check_log_name`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Final, Protocol

import attrs

from archive_core import merkle
from archive_core.checkpoints import (
    Checkpoint,
    SignedNote,
    VerifierKey,
    format_checkpoint,
    format_note,
    origin,
)

__all__ = [
    "DEFAULT_LOG_NAME",
    "CheckpointSigner",
    "ConsistencySource",
    "SignedHead",
    "SigningRefused",
    "check_extension",
    "check_log_name",
    "note_for",
    "verifier_key",
]

#: The log name when none is configured (`serve --log-name`).
DEFAULT_LOG_NAME: Final = "archive-core.localhost/audit"
_MAX_LOG_NAME: Final = 200
_LOG_NAME: Final = re.compile(
    r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::[0-9]{1,5})?"
    r"(?:/[A-Za-z0-9._~-]+)*"
)
#: The consistency path from an older size to the tree being signed (a store's read).
ConsistencySource = Callable[[int], Sequence[bytes]]


class SigningRefused(Exception):
    """The signer will not sign a checkpoint: `reason` is stable, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@attrs.frozen
class SignedHead:
    """The last tree head the log key signed for an origin, and the note it made."""

    size: int
    root: bytes
    note: str


class CheckpointSigner(Protocol):
    """The log key, held outside the database, with the last tree head it signed for each
    origin kept beside it (shared by every process); it never signs a tree that does not
    extend the last one it signed (`check_extension`)."""

    @property
    def log_name(self) -> str:
        """The log's name: an org's checkpoints have the origin `<log name>/<orgId>`."""
        ...

    @property
    def public_key(self) -> bytes:
        """The log key's Ed25519 public key (32 bytes)."""
        ...

    def sign(self, checkpoint: Checkpoint, *, proof_from: ConsistencySource) -> str:
        """The C2SP signed note of `checkpoint`, its key name the checkpoint's origin;
        SigningRefused (and an error logged) when it does not extend the last head signed
        for that origin, whose consistency path `proof_from(old size)` reads."""
        ...


def check_log_name(name: str) -> str:
    """`name` if it is a schemeless URL-like log name (lowercase host, optional port,
    path segments of unreserved characters; no scheme, space or `+`); ValueError with a
    one-line reason otherwise."""
    if "://" in name:
        raise ValueError("a log name has no scheme (example.com/audit, not https://…)")
    if len(name) > _MAX_LOG_NAME or not _LOG_NAME.fullmatch(name):
        raise ValueError(
            "a log name is a lowercase host name and optional /path segments "
            f"(example.com/audit), at most {_MAX_LOG_NAME} characters"
        )
    return name


def verifier_key(log_name: str, org_id: str, public_key: bytes) -> VerifierKey:
    """The verifier key of an org's checkpoints: the log key under the org's origin."""
    return VerifierKey.for_key(origin(log_name, org_id), public_key)


def note_for(checkpoint: Checkpoint, key: VerifierKey, signature: bytes) -> str:
    """The signed note of `checkpoint` with `key`'s signature over its text."""
    return format_note(SignedNote(format_checkpoint(checkpoint), (key.sign_line(signature),)))


def check_extension(
    last: SignedHead | None, checkpoint: Checkpoint, proof_from: ConsistencySource
) -> None:
    """Return if `checkpoint` may be signed after `last` (None: nothing signed yet for its
    origin): the same tree again, a tree grown from an empty one, or a larger tree whose
    consistency path from `last` (`proof_from(last.size)`) verifies; else SigningRefused."""
    if last is None or last.size == 0:
        return
    # 1. Never a smaller tree: the log only grows.
    if checkpoint.size < last.size:
        raise SigningRefused(
            "tree_shrank",
            f"{checkpoint.origin}: size {checkpoint.size} is below the last signed, {last.size}",
        )
    # 2. The same size: the same root, or the tree was rewritten.
    # 3. A larger tree: it extends the last one signed, proved from the store's own path.
    try:
        path = () if checkpoint.size == last.size else proof_from(last.size)
        merkle.verify_consistency(last.size, checkpoint.size, path, last.root, checkpoint.root)
    except (merkle.ProofInvalid, KeyError) as refused:
        raise SigningRefused(
            "inconsistent",
            f"{checkpoint.origin}: size {checkpoint.size} does not extend the last signed, "
            f"{last.size} ({refused})",
        ) from refused
