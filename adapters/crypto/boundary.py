"""The one place where exceptions of the crypto libraries become domain errors (SPEC §6).

`cryptography`, PyJWT and fido2 (with its CBOR decoder) report bad input through
their own exception types, and the standard library adds `ValueError`,
`struct.error`, `LookupError` and friends while bytes are being taken apart.
Every call into those libraries that handles caller-controlled data runs inside
a `Boundary`, which re-raises what they throw as one `ArchiveCoreError` with a
machine-readable `reason` (the original is kept as `__cause__` for logs, never
shown to the caller). Domain errors pass through untouched; anything else is a
bug and keeps propagating, so that the transport answers 500 instead of hiding it.
"""

from __future__ import annotations

import struct
from types import TracebackType
from typing import Final, Literal

import jwt
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from archive_core.errors import ArchiveCoreError, ErrorKind

__all__ = ["LIBRARY_ERRORS", "Boundary"]

#: What the libraries raise on hostile or broken input. `ValueError` covers
#: `UnicodeError`, `binascii.Error`, `json.JSONDecodeError` and the core's
#: `MalformedInput`; `LookupError` and `struct.error` are how fido2's CBOR decoder
#: reports truncated or unknown items; `RecursionError` a deeply nested CBOR item.
LIBRARY_ERRORS: Final[tuple[type[BaseException], ...]] = (
    InvalidSignature,
    UnsupportedAlgorithm,
    jwt.PyJWTError,
    ValueError,
    TypeError,
    LookupError,
    OverflowError,
    RecursionError,
    struct.error,
)


class Boundary:
    """A reusable context manager: library exceptions inside become `ArchiveCoreError(kind)`.

    Instances hold no state between uses, so hot paths keep one per step as a
    module constant instead of building one per call.
    """

    __slots__ = ("kind", "reason")

    def __init__(self, kind: ErrorKind, reason: str) -> None:
        self.kind = kind
        self.reason = reason

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        if exc is None or isinstance(exc, ArchiveCoreError):
            return False
        if isinstance(exc, LIBRARY_ERRORS):
            raise ArchiveCoreError(self.kind, reason=self.reason) from exc
        return False

    def __repr__(self) -> str:
        return f"Boundary({self.kind.code!r}, {self.reason!r})"
