"""Strict decoders for everything a client sends (SPEC §6 "Parsing").

The standard library is lenient where an attacker would like it to be: its
base64 decoder drops junk characters, its JSON parser keeps the last of two
duplicate keys, accepts `NaN`, and recurses until `RecursionError`. These
wrappers refuse all of that and raise `MalformedInput`, which callers turn into
the domain error their step owes.

Every signed flow runs five strict JSON decodes and a dozen base64url codings
(`flow_time_ratio`, docs/benchmarks.md §1), so both call `binascii` and the JSON
scanner directly instead of going through `base64`'s and `json`'s Python wrappers;
tests/unit/test_encoding_equivalence.py checks them against those wrappers, input for input.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

__all__ = [
    "CANONICAL_JSON",
    "EPOCH",
    "MAX_JSON_DEPTH",
    "MalformedInput",
    "b64url_decode",
    "b64url_encode",
    "micros",
    "parse_json",
    "parse_json_object",
]

MAX_JSON_DEPTH: Final = 32
#: One text per document: sorted keys, no spaces, ASCII (audit hashes, stored records).
CANONICAL_JSON: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)
#: The Unix epoch, from which stored expiries and token times count microseconds.
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch (a naive time is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // _MICROSECOND


_TO_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")
#: base64url to base64 for `a2b_base64`, which (in strict mode) refuses any byte outside
#: the standard alphabet: `+`, `/` and `=` are mapped out of it, so only `-` and `_`
#: can stand for 62 and 63 and a text carries no padding of its own.
_FROM_URLSAFE: Final = bytes.maketrans(b"-_+/=", b"+/!!!")
_PADDING: Final = (b"", b"", b"==", b"=")
#: For a text of 2 or 3 characters past its last quantum: the bits of its last
#: character that encode nothing, and must be zero in the canonical spelling.
_UNUSED_BITS: Final = (0, 0, 0b1111, 0b11)
_B64URL_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64URL_VALUE: Final = {c: i for i, c in enumerate(_B64URL_ALPHABET)}


class MalformedInput(ValueError):
    """Input that is not in the strict form required; `reason` is machine-readable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def b64url_encode(data: bytes) -> str:
    """base64url without padding."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode()


def b64url_decode(text: str, *, max_length: int = 1 << 20) -> bytes:
    """Decode canonical, unpadded base64url; anything else raises MalformedInput."""
    if len(text) > max_length:
        raise MalformedInput("base64url_too_long")
    remainder = len(text) % 4
    if remainder == 1 or not text.isascii():
        raise MalformedInput("base64url_malformed")
    try:
        data = binascii.a2b_base64(
            text.encode("ascii").translate(_FROM_URLSAFE) + _PADDING[remainder], strict_mode=True
        )
    except binascii.Error as exc:
        raise MalformedInput("base64url_malformed") from exc
    # Non-zero unused bits in the last character make a second spelling of the
    # same bytes; only the canonical one is accepted (a text of whole quanta has none).
    if remainder and _B64URL_VALUE[text[-1]] & _UNUSED_BITS[remainder]:
        raise MalformedInput("base64url_not_canonical")
    return data


def _reject_constant(name: str) -> Any:
    raise MalformedInput("json_non_finite_number")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise MalformedInput("json_duplicate_key")
    return result


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_unique_object, parse_constant=_reject_constant, strict=True
)
# `JSONDecoder.decode` without its two Python frames: skip whitespace, scan one value,
# skip whitespace, require the end of the text.
_SCAN: Final[Callable[[str, int], tuple[Any, int]]] = vars(_DECODER)["scan_once"]
# json.decoder.WHITESPACE; a pattern that matches the empty string always matches.
_WHITESPACE: Final = " \t\n\r"
_SKIP_WHITESPACE: Final = cast(
    "Callable[[str, int], re.Match[str]]", re.compile(r"[ \t\n\r]*").match
)


def _depth_exceeds(text: str, limit: int) -> bool:
    depth = 0
    in_string = False
    escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _check_strings(value: Any) -> None:
    # `\ud800` escapes decode to lone surrogates that cannot be encoded again.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError as exc:
                    raise MalformedInput("json_lone_surrogate") from exc
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def parse_json(data: bytes | str, *, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse UTF-8 JSON strictly: bounded size and depth, unique keys, finite numbers."""
    if len(data) > max_bytes:
        raise MalformedInput("json_too_large")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedInput("json_not_utf8") from exc
    else:
        text = data
    # A document with few brackets cannot be deep (counted in C, before any walk).
    if text.count("[") + text.count("{") > max_depth and _depth_exceeds(text, max_depth):
        raise MalformedInput("json_too_deep")
    # (whitespace around the value is skipped by pattern only where there is some)
    start = _SKIP_WHITESPACE(text, 0).end() if text[:1] in _WHITESPACE else 0
    try:
        value, end = _SCAN(text, start)
    except MalformedInput:
        raise
    except (StopIteration, ValueError, RecursionError) as exc:
        raise MalformedInput("json_malformed") from exc
    if end != len(text) and _SKIP_WHITESPACE(text, end).end() != len(text):
        raise MalformedInput("json_malformed")
    # Lone surrogates arrive only through `\u` escapes (or a str argument).
    if "\\u" in text or (isinstance(data, str) and not text.isascii()):
        _check_strings(value)
    return value


def parse_json_object(
    data: bytes | str, *, max_bytes: int, max_depth: int = MAX_JSON_DEPTH
) -> dict[str, Any]:
    """`parse_json` that also requires the document to be an object."""
    value = parse_json(data, max_bytes=max_bytes, max_depth=max_depth)
    if not isinstance(value, dict):
        raise MalformedInput("json_not_object")
    return value
