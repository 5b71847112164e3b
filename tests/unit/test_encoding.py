"""Strict base64url and JSON (SPEC §6 "Parsing")."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive_core.encoding import (
    MalformedInput,
    b64url_decode,
    b64url_encode,
    parse_json,
    parse_json_object,
)


@given(st.binary(max_size=200))
def test_base64url_round_trips(data: bytes) -> None:
    assert b64url_decode(b64url_encode(data)) == data


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("YWJj=", "base64url_malformed"),  # padding
        ("YW Jj", "base64url_malformed"),  # whitespace
        ("YWJj\n", "base64url_malformed"),
        ("YW+j", "base64url_malformed"),  # standard alphabet
        ("YW/j", "base64url_malformed"),
        ("Y", "base64url_malformed"),  # length mod 4 == 1
        ("YWJjZ", "base64url_malformed"),
        ("YWJ\u0661", "base64url_malformed"),  # unicode digit
        ("YR", "base64url_not_canonical"),  # non-zero unused bits ("a" is "YQ")
        ("YWK", "base64url_not_canonical"),
    ],
)
def test_base64url_is_strict(text: str, reason: str) -> None:
    with pytest.raises(MalformedInput) as caught:
        b64url_decode(text)
    assert caught.value.reason == reason


def test_stdlib_would_have_accepted_the_junk() -> None:
    # The reason for the strict gate: the standard decoder silently drops junk.
    assert base64.urlsafe_b64decode("YW!Jj") == b"abc"
    with pytest.raises(MalformedInput):
        b64url_decode("YW!Jj")


def test_base64url_length_is_bounded_before_decoding() -> None:
    with pytest.raises(MalformedInput) as caught:
        b64url_decode("A" * 101, max_length=100)
    assert caught.value.reason == "base64url_too_long"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b'{"a": 1, "a": 2}', "json_duplicate_key"),
        (b'{"a": NaN}', "json_non_finite_number"),
        (b'{"a": Infinity}', "json_non_finite_number"),
        (b'{"a": -Infinity}', "json_non_finite_number"),
        (b'{"a": "\xff"}', "json_not_utf8"),
        (b'\xef\xbb\xbf{"a": 1}', "json_malformed"),  # BOM
        (b'{"a": "\\ud800"}', "json_lone_surrogate"),
        (b'{"a": 1', "json_malformed"),
        (b'{"a": 1} x', "json_malformed"),
        (b"[" * 100 + b"]" * 100, "json_too_deep"),
        (b'{"a": "' + b"x" * 2000 + b'"}', "json_too_large"),
        (b'{"a": "\x01"}', "json_malformed"),  # control character
    ],
)
def test_json_is_strict(document: bytes, reason: str) -> None:
    with pytest.raises(MalformedInput) as caught:
        parse_json(document, max_bytes=1024)
    assert caught.value.reason == reason


def test_depth_counts_only_structure_not_brackets_in_strings() -> None:
    text = '{"a": "' + "[" * 200 + '"}'
    assert parse_json(text, max_bytes=4096) == {"a": "[" * 200}


def test_depth_limit_is_exact() -> None:
    ok = "[" * 32 + "]" * 32
    assert parse_json(ok, max_bytes=1024) is not None
    with pytest.raises(MalformedInput):
        parse_json("[" * 33 + "]" * 33, max_bytes=1024)


def test_very_deep_documents_do_not_reach_recursion() -> None:
    with pytest.raises(MalformedInput) as caught:
        parse_json(b"[" * 100_000, max_bytes=1 << 20)
    assert caught.value.reason == "json_too_deep"


def test_object_required_where_an_object_is_expected() -> None:
    with pytest.raises(MalformedInput) as caught:
        parse_json_object(b"[1]", max_bytes=100)
    assert caught.value.reason == "json_not_object"


def test_booleans_stay_booleans() -> None:
    assert parse_json_object(b'{"crossOrigin": "false"}', max_bytes=100) == {"crossOrigin": "false"}


@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_malformed_input(data: bytes) -> None:
    try:
        parse_json(data, max_bytes=256)
    except MalformedInput:
        pass


@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_malformed_input(text: str) -> None:
    try:
        b64url_decode(text)
    except MalformedInput:
        pass
    try:
        parse_json(text, max_bytes=1024)
    except MalformedInput:
        pass


def test_micros_counts_from_the_unix_epoch_and_reads_a_naive_time_as_utc() -> None:
    from datetime import UTC, datetime, timedelta

    from archive_core.encoding import EPOCH, micros

    assert micros(EPOCH) == 0
    assert micros(EPOCH + timedelta(seconds=1, microseconds=2)) == 1_000_002
    assert micros(datetime(1970, 1, 1, 0, 0, 1)) == 1_000_000
    assert micros(datetime(2026, 12, 1, tzinfo=UTC)) == int(
        datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1_000_000
    )


def test_canonical_json_is_one_text_per_document() -> None:
    from archive_core.encoding import CANONICAL_JSON

    assert CANONICAL_JSON.encode({"b": [1, "é"], "a": None}) == '{"a":null,"b":[1,"\\u00e9"]}'
