"""The strict decoders' fast paths against the plain implementations they replaced.

`archive_core.encoding` calls `binascii` and the JSON scanner directly; the
references below are the former bodies, written with `base64` and
`JSONDecoder.decode`. For every input both must give the same bytes or value, or
refuse with the same reason.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from archive_core.encoding import (
    MAX_JSON_DEPTH,
    MalformedInput,
    b64url_decode,
    b64url_encode,
    parse_json,
)

_B64URL = re.compile(r"[A-Za-z0-9_-]*\Z")


def reference_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def reference_decode(text: str, *, max_length: int = 1 << 20) -> bytes:
    if len(text) > max_length:
        raise MalformedInput("base64url_too_long")
    if len(text) % 4 == 1 or not text.isascii() or _B64URL.match(text) is None:
        raise MalformedInput("base64url_malformed")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - excluded by the regex
        raise MalformedInput("base64url_malformed") from exc
    if reference_encode(data) != text:
        raise MalformedInput("base64url_not_canonical")
    return data


def _reject_constant(name: str) -> Any:
    raise MalformedInput("json_non_finite_number")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise MalformedInput("json_duplicate_key")
    return result


_REFERENCE_DECODER = json.JSONDecoder(
    object_pairs_hook=_unique_object, parse_constant=_reject_constant, strict=True
)


def reference_parse(data: bytes | str, *, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> Any:
    # The former body, with the unchanged size, UTF-8, depth and surrogate steps elided
    # to the shared function: only the decoding step differs.
    if len(data) > max_bytes:
        raise MalformedInput("json_too_large")
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    try:
        value = _REFERENCE_DECODER.decode(text)
    except MalformedInput:
        raise
    except (ValueError, RecursionError) as exc:
        raise MalformedInput("json_malformed") from exc
    return value


def _outcome(function: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return "value", function(*args, **kwargs)
    except MalformedInput as exc:
        return "refused", exc.reason


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= \n!\u0661"


@given(st.binary(max_size=200))
def test_encode_matches_reference(data: bytes) -> None:
    assert b64url_encode(data) == reference_encode(data)


@given(st.one_of(st.text(alphabet=_ALPHABET, max_size=40), st.text(max_size=40)))
def test_decode_matches_reference(text: str) -> None:
    assert _outcome(b64url_decode, text, max_length=30) == _outcome(
        reference_decode, text, max_length=30
    )


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
def test_decode_matches_reference_on_the_alphabet(text: str) -> None:
    # Mostly valid lengths and characters: the canonical-bits check is what is tested.
    assert _outcome(b64url_decode, text) == _outcome(reference_decode, text)


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)
_JSON_TEXT = st.one_of(
    _JSON_VALUES.map(json.dumps),
    st.tuples(
        st.sampled_from(["", " ", "\n\t", "x", "{}", "1", '"', "]"]),
        _JSON_VALUES.map(json.dumps),
        st.sampled_from(["", " ", "\r\n", "x", "{}", " 1", ",", "}"]),
    ).map("".join),
    st.text(alphabet='{}[]",:0123456789.eE-+ tfnaulrsNI\\u', max_size=30),
)


def _without_depth_and_strings(text: str) -> bool:
    # The depth and lone-surrogate steps sit outside the decoding step and are shared.
    return not any(c in text for c in "\\") and text.count("[") + text.count("{") <= 8


@given(_JSON_TEXT.filter(_without_depth_and_strings))
def test_parse_matches_reference(text: str) -> None:
    for data in (text, text.encode("utf-8")):
        assert _outcome(parse_json, data, max_bytes=4096) == _outcome(
            reference_parse, data, max_bytes=4096
        )


def test_trailing_data_is_refused_as_before() -> None:
    for text in ("{} x", "1 2", "[] ]", '{"a":1}}'):
        assert _outcome(parse_json, text, max_bytes=100) == ("refused", "json_malformed")
        assert _outcome(reference_parse, text, max_bytes=100) == ("refused", "json_malformed")
    for text in ("", "   ", "\n"):
        assert _outcome(parse_json, text, max_bytes=100) == ("refused", "json_malformed")
