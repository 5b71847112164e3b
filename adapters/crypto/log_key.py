"""The log key in a key file outside the database: `archive_core.ports.CheckpointSigner`.

The key file is an Ed25519 private key in PEM (PKCS#8), as `openssl genpkey -algorithm
ed25519` or `archive-core audit new-log-key` writes it; it must be readable by its owner
and by no one else (`chmod 600`; group read is tolerated, for a secret mounted for a
group). Beside it, the directory `<key file>.heads/` keeps, per origin, the last tree
head the key signed and its note (`<orgId>.json`), each under an exclusive `flock` of
its own lock file (`<orgId>.lock`), so that every worker of one host agrees on what was
signed. A head is replaced atomically (written aside, fsynced, renamed), never edited.

Whoever holds the database cannot sign, and the signer refuses to sign a tree that does
not extend the last head it signed (`archive_core.log_signing.check_extension`): it logs
the refusal at ERROR and raises `SigningRefused` (the server answers 503).
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from archive_core.checkpoints import Checkpoint, VerifierKey, format_checkpoint
from archive_core.log_signing import (
    ConsistencySource,
    SignedHead,
    SigningRefused,
    check_extension,
    check_log_name,
    note_for,
)

__all__ = ["KeyFileSigner", "LogKeyInvalid", "checked_log_name", "new_log_key", "public_key_of"]

log: Final = logging.getLogger("archive_core.log_signer")
_MAX_KEY_FILE: Final = 16 * 1024
#: Permission bits a key file must not have: group write, anything for others.
_TOO_OPEN: Final = stat.S_IWGRP | stat.S_IRWXO


class LogKeyInvalid(ValueError):
    """A key file or log name the signer cannot use; the message is one line and never
    holds the key."""


def checked_log_name(name: str) -> str:
    """`name` if it can name the log (`check_log_name`); LogKeyInvalid otherwise."""
    try:
        return check_log_name(name)
    except ValueError as error:
        raise LogKeyInvalid(f"log name {name!r}: {error}") from None


def _load(path: Path) -> ed25519.Ed25519PrivateKey:
    try:
        info = path.stat()
    except OSError as error:
        raise LogKeyInvalid(f"log key file {path}: {error.strerror or 'cannot be read'}") from None
    if not stat.S_ISREG(info.st_mode):
        raise LogKeyInvalid(f"log key file {path}: not a regular file")
    if info.st_mode & _TOO_OPEN:
        raise LogKeyInvalid(f"log key file {path}: others may read or write it (chmod 600 {path})")
    if info.st_size > _MAX_KEY_FILE:
        raise LogKeyInvalid(f"log key file {path}: too large for a key")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise LogKeyInvalid(f"log key file {path}: {error.strerror or 'cannot be read'}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise LogKeyInvalid(f"log key file {path}: not an unencrypted PEM private key") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise LogKeyInvalid(f"log key file {path}: not an Ed25519 key")
    return key


def public_key_of(path: Path) -> bytes:
    """The Ed25519 public key of the log key in `path` (LogKeyInvalid when it is unusable)."""
    return (
        _load(path)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def new_log_key(path: Path) -> bytes:
    """Write a new Ed25519 log key to `path` (PEM, PKCS#8, mode 600; never over an
    existing file); its public key."""
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise LogKeyInvalid(f"log key file {path}: exists (a key is never overwritten)") from None
    except OSError as error:
        raise LogKeyInvalid(f"log key file {path}: {error.strerror or 'cannot be made'}") from None
    with os.fdopen(descriptor, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class KeyFileSigner:
    """The log key of a key file, and the heads it signed beside it (see the module)."""

    def __init__(self, key_file: str | os.PathLike[str], *, log_name: str) -> None:
        path = Path(key_file)
        self._log_name = checked_log_name(log_name)
        self._key = _load(path)
        self._public = public_key_of(path)
        self._heads = Path(f"{path}.heads")
        try:
            self._heads.mkdir(mode=0o700, exist_ok=True)
            # A probe of this process's own: workers starting together never remove
            # each other's.
            probe = self._heads / f".writable-{os.getpid()}"
            probe.touch()
            probe.unlink()
        except OSError as error:
            raise LogKeyInvalid(
                f"log heads directory {self._heads}: {error.strerror or 'cannot be written'}"
            ) from None

    @property
    def log_name(self) -> str:
        """The log's name (checkpoint origins are `<log name>/<orgId>`)."""
        return self._log_name

    @property
    def public_key(self) -> bytes:
        """The log key's Ed25519 public key."""
        return self._public

    def sign(self, checkpoint: Checkpoint, *, proof_from: ConsistencySource) -> str:
        """The signed note of `checkpoint`, unless it does not extend the last head signed
        for its origin (then SigningRefused, logged at ERROR)."""
        name = checkpoint.origin.rpartition("/")[2]
        with self._locked(name):
            try:
                last = self._read(name)
                if last is not None and (last.size, last.root) == (
                    checkpoint.size,
                    checkpoint.root,
                ):
                    return last.note
                check_extension(last, checkpoint, proof_from)
            except SigningRefused as refused:
                log.error(
                    "the log signer refused to sign %s: %s",
                    checkpoint.origin,
                    refused,
                    extra={"code": "log_signing_refused", "reason": refused.reason},
                )
                raise
            key = VerifierKey.for_key(checkpoint.origin, self._public)
            signature = self._key.sign(format_checkpoint(checkpoint).encode("utf-8"))
            note = note_for(checkpoint, key, signature)
            self._write(name, SignedHead(checkpoint.size, checkpoint.root, note))
        return note

    # ------------------------------------------------------------------ the heads
    @contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        descriptor = os.open(self._heads / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # closing releases the lock

    def _read(self, name: str) -> SignedHead | None:
        """The last head signed for `name`; None before the first; SigningRefused when it
        cannot be read (the signer then cannot know what it signed)."""
        place = self._heads / f"{name}.json"
        try:
            document = json.loads(place.read_text(encoding="utf-8"))
            return SignedHead(
                size=int(document["size"]),
                root=base64.b64decode(document["root"], validate=True),
                note=str(document["note"]),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise SigningRefused(
                "head_unreadable", f"the last head signed ({place}) cannot be read"
            ) from error

    def _write(self, name: str, head: SignedHead) -> None:
        target = self._heads / f"{name}.json"
        aside = self._heads / f"{name}.json.new"
        document = {
            "size": head.size,
            "root": base64.b64encode(head.root).decode("ascii"),
            "note": head.note,
        }
        descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump(document, out)
            out.flush()
            os.fsync(out.fileno())
        aside.replace(target)
        directory = os.open(self._heads, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
