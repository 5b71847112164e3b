"""The one boundary: each library exception becomes the domain error, nothing else leaks."""

from __future__ import annotations

import struct

import jwt
import pytest
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from adapters.crypto.boundary import LIBRARY_ERRORS, Boundary
from archive_core.encoding import MalformedInput
from archive_core.errors import ArchiveCoreError, Catalogue

RAISED: list[BaseException] = [
    InvalidSignature(),
    UnsupportedAlgorithm("x"),
    jwt.InvalidTokenError("x"),
    jwt.PyJWKError("x"),
    ValueError("x"),
    UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"),
    MalformedInput("json_malformed"),
    TypeError("x"),
    KeyError(6),
    IndexError("x"),
    OverflowError("x"),
    RecursionError("x"),
    struct.error("x"),
]


@pytest.mark.parametrize("exc", RAISED, ids=lambda e: type(e).__name__)
def test_library_exceptions_become_the_domain_error(exc: BaseException) -> None:
    boundary = Boundary(Catalogue.ASSERTION_INVALID, "signature_invalid")
    with pytest.raises(ArchiveCoreError) as caught, boundary:
        raise exc
    assert caught.value.code == "assertion_invalid"
    assert caught.value.reason == "signature_invalid"
    assert caught.value.__cause__ is exc
    # The caller sees the catalogue's message, never the library's text.
    assert caught.value.message == Catalogue.ASSERTION_INVALID.message


def test_domain_errors_pass_through_untouched() -> None:
    original = ArchiveCoreError(Catalogue.NOT_AUTHORIZED, reason="kid_unknown")
    with (
        pytest.raises(ArchiveCoreError) as caught,
        Boundary(Catalogue.ASSERTION_INVALID, "signature_invalid"),
    ):
        raise original
    assert caught.value is original


def test_bugs_are_not_disguised_as_refusals() -> None:
    with pytest.raises(AttributeError), Boundary(Catalogue.ASSERTION_INVALID, "x"):
        raise AttributeError("a bug")


def test_a_boundary_is_reusable_and_silent_without_an_exception() -> None:
    boundary = Boundary(Catalogue.USER_ACTION_INVALID, "payload_malformed")
    for _ in range(3):
        with boundary:
            pass
    assert "user_action_invalid" in repr(boundary)
    assert all(issubclass(t, BaseException) for t in LIBRARY_ERRORS)
