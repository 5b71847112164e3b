"""Identifiers of SPEC §1.3: validation of the canonical form, generation from a randomness port.

An id is a short lowercase prefix (`us`, `or`, `cr`, `ap`, `pm`, `as`, ...) followed by
dash-separated groups of ASCII lowercase letters and digits, for example
`us-2mhcm-9r90a-92ran47bjpl60hmv`. Only the canonical form is accepted: nothing is
case-folded, percent-decoded or normalised into a valid id.
"""

from __future__ import annotations

import re
from typing import Final, NewType, Protocol

__all__ = [
    "MAX_ID_LENGTH",
    "AppId",
    "AssignmentId",
    "CredentialUuid",
    "OrgId",
    "PermissionId",
    "UserId",
    "is_canonical_id",
    "new_id",
]


class _Randomness(Protocol):
    """What `new_id` needs of the `archive_core.ports.Randomness` port, named here so
    that `ids` imports nothing of the core (the ports refer to the ids)."""

    def token_bytes(self, n: int) -> bytes:
        """`n` bytes from a cryptographically secure source."""
        ...


UserId = NewType("UserId", str)
OrgId = NewType("OrgId", str)
CredentialUuid = NewType("CredentialUuid", str)
AppId = NewType("AppId", str)
PermissionId = NewType("PermissionId", str)
AssignmentId = NewType("AssignmentId", str)

MAX_ID_LENGTH: Final = 64
_ALPHABET: Final = "0123456789abcdefghijklmnopqrstuvwxyz"
# `\Z` rather than `$`: `$` also matches before a trailing newline.
_CANONICAL: Final = re.compile(r"[a-z]{2,4}(?:-[a-z0-9]{1,32}){2,6}\Z")
_ID_CHARS: Final = 26
_BYTE_TO_CHAR: Final = bytes(ord(_ALPHABET[b % 36]) for b in range(256))
_REJECTED: Final = bytes(range(252, 256))


def is_canonical_id(value: str, prefix: str) -> bool:
    """True when `value` is an id of the given prefix in its canonical form."""
    return (
        len(value) <= MAX_ID_LENGTH
        and value.startswith(prefix + "-")
        and value.isascii()
        and _CANONICAL.match(value) is not None
    )


def new_id(prefix: str, randomness: _Randomness) -> str:
    """A fresh random id shaped `<prefix>-xxxxx-xxxxx-xxxxxxxxxxxxxxxx` (134 bits).

    Bytes of 252 and above are rejected so that every character is uniform over 36.
    """
    chars = ""
    while len(chars) < _ID_CHARS:
        chars += randomness.token_bytes(32).translate(_BYTE_TO_CHAR, _REJECTED).decode("ascii")
    return f"{prefix}-{chars[:5]}-{chars[5:10]}-{chars[10:_ID_CHARS]}"
