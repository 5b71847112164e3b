"""Bodies and queries declared once, parsed strictly (SPEC §6): every defect is a 400 that
names the field (or parameter), never an echo of what is not a plain name."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from archive_core.errors import ArchiveCoreError
from archive_core.fields import Body, Field, Query

FLAG = Field(name="isSSORequired", type="boolean", default=False)
KIND = Field(name="kind", choices=("CustomerEmployee", "EndUser"), required=True)
EMAIL = Field(name="email", required=True, max_length=254, description="the username")
LIMIT = Field(name="limit", type="integer", minimum=1, maximum=200, default=100)
KINDS = Field(name="kind", choices=("CustomerEmployee", "EndUser"), repeated=True)
TOKEN = Field(name="paginationToken", max_length=512)


def body_refusal(body: Body, sent: bytes) -> tuple[int, str, str]:
    with pytest.raises(ArchiveCoreError) as caught:
        body.parse(sent)
    return caught.value.status, caught.value.code, caught.value.message


def query_refusal(query: Query, sent: str) -> tuple[int, str, str]:
    with pytest.raises(ArchiveCoreError) as caught:
        query.parse(sent)
    return caught.value.status, caught.value.code, caught.value.message


def invalid_body(what: str) -> tuple[int, str, str]:
    return 400, "body_invalid", f"The request body is invalid: {what}."


def invalid_query(what: str) -> tuple[int, str, str]:
    return 400, "query_invalid", f"The query is invalid: {what}."


# --------------------------------------------------------------------------- bodies


def test_a_body_gives_its_values_with_defaults() -> None:
    body = Body((EMAIL, KIND, FLAG))
    values = body.parse(b'{"email": "a@b.co", "kind": "EndUser"}')
    assert dict(values) == {"email": "a@b.co", "kind": "EndUser", "isSSORequired": False}
    with pytest.raises(TypeError):
        values["email"] = "x"  # type: ignore[index]


def test_an_absent_body_is_the_empty_object_unless_required() -> None:
    assert dict(Body((FLAG,)).parse(b"")) == {"isSSORequired": False}
    assert body_refusal(Body((FLAG,), required=True), b"") == invalid_body(
        "a JSON object is required"
    )


@pytest.mark.parametrize(
    ("sent", "what"),
    [
        (b"{}", "email is required"),
        (b'{"email": "", "kind": "EndUser"}', "email must be a string of 1 to 254 characters"),
        (b'{"email": 1, "kind": "EndUser"}', "email must be a string of 1 to 254 characters"),
        (b'{"email": "a@b", "kind": "Robot"}', "kind must be one of CustomerEmployee, EndUser"),
        (
            b'{"email": "a@b", "kind": "EndUser", "isSSORequired": "false"}',
            "isSSORequired must be a boolean",
        ),
        (b'{"email": "a@b", "kind": "EndUser", "nickname": 1}', "unknown field nickname"),
        (
            b'{"email": "a@b", "kind": "EndUser", "\\u001b[31m": 1}',
            "unknown field an unknown field",
        ),
        (
            b'{"email": "a@b", "kind": "EndUser", "' + b"x" * 65 + b'": 1}',
            "unknown field an unknown field",
        ),
    ],
)
def test_each_defect_names_its_field(sent: bytes, what: str) -> None:
    assert body_refusal(Body((EMAIL, KIND, FLAG)), sent) == invalid_body(what)


def test_malformed_json_is_its_own_refusal() -> None:
    for sent in (b"[]", b"{", b'{"a": 1, "a": 2}', b'{"a": NaN}'):
        status, code, _message = body_refusal(Body((FLAG,)), sent)
        assert (status, code) == (400, "json_malformed")
    status, code, _message = body_refusal(Body((FLAG,), max_bytes=8), b'{"isSSORequired": true}')
    assert (status, code) == (400, "json_malformed")


def test_a_body_may_keep_one_message_for_an_unknown_field() -> None:
    body = Body((FLAG,), unknown_message="isSSORequired is the only field")
    assert body_refusal(body, b'{"other": 1}') == invalid_body("isSSORequired is the only field")


def test_integers_are_integers_within_their_bounds() -> None:
    body = Body((LIMIT, Field(name="count", type="integer")))
    assert dict(body.parse(b'{"limit": 200, "count": -3}')) == {"limit": 200, "count": -3}
    for sent in (b'{"limit": 0}', b'{"limit": 201}', b'{"limit": true}', b'{"limit": 1.5}'):
        assert body_refusal(body, sent) == invalid_body("limit must be an integer from 1 to 200")
    assert body_refusal(body, b'{"count": "1"}') == invalid_body("count must be an integer")


def test_strings_without_bounds_and_expectations_worded_by_the_operation() -> None:
    plain = Body((Field(name="note"),))
    assert dict(plain.parse(b'{"note": ""}')) == {"note": ""}
    assert body_refusal(plain, b'{"note": 1}') == invalid_body("note must be a string")
    bounded = Body((Field(name="note", max_length=3),))
    assert body_refusal(bounded, b'{"note": "abcd"}') == invalid_body(
        "note must be a string of 0 to 3 characters"
    )
    worded = Body(
        (Field(name="kind", choices=("Api", "Staff"), expectation="must be Api or Staff"),)
    )
    assert body_refusal(worded, b'{"kind": "x"}') == invalid_body("kind must be Api or Staff")


def test_a_field_is_declared_once() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        Body((FLAG, FLAG))
    with pytest.raises(ValueError, match="declared twice"):
        Query((LIMIT, LIMIT))


def test_a_body_describes_itself_as_a_json_schema() -> None:
    assert Body((EMAIL, KIND, FLAG, LIMIT)).schema() == {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "email": {
                "type": "string",
                "maxLength": 254,
                "minLength": 1,
                "description": "the username",
            },
            "kind": {"enum": ["CustomerEmployee", "EndUser"]},
            "isSSORequired": {"type": "boolean", "default": False},
            "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 100},
        },
        "required": ["email", "kind"],
    }
    assert "required" not in Body((FLAG,)).schema()


# --------------------------------------------------------------------------- queries

LIST = Query((LIMIT, TOKEN, KINDS))


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("", {"limit": 100, "paginationToken": None, "kind": ()}),
        ("limit=5", {"limit": 5, "paginationToken": None, "kind": ()}),
        ("kind=EndUser&kind=CustomerEmployee", {"kind": ("EndUser", "CustomerEmployee")}),
        ("kind=EndUser%2CCustomerEmployee", {"kind": ("EndUser", "CustomerEmployee")}),
        (
            "kind=EndUser,CustomerEmployee&&limit=7",
            {"kind": ("EndUser", "CustomerEmployee"), "limit": 7},
        ),
        ("paginationToken=a%2Bb+c", {"paginationToken": "a+b c"}),
        ("paginationToken=%C3%A9", {"paginationToken": "é"}),
    ],
)
def test_a_query_gives_its_values(sent: str, expected: dict[str, Any]) -> None:
    values = LIST.parse(sent)
    assert {name: values[name] for name in expected} == expected


@pytest.mark.parametrize(
    ("sent", "what"),
    [
        ("pagination_token=x", "unknown parameter pagination_token"),
        ("%1b%5b31m=x", "unknown parameter an unknown field"),
        ("limit", "limit must be an integer from 1 to 200"),
        ("limit=0", "limit must be an integer from 1 to 200"),
        ("limit=%D9%A3", "limit must be an integer from 1 to 200"),
        ("limit=1_0", "limit must be an integer from 1 to 200"),
        ("limit=+5", "limit must be an integer from 1 to 200"),
        ("limit=5&limit=6", "limit must be given once"),
        ("kind=Robot", "kind must be one of CustomerEmployee, EndUser"),
        ("kind=EndUser,", "kind must be one of CustomerEmployee, EndUser"),
        ("paginationToken=" + "x" * 513, "paginationToken must be a string of 0 to 512 characters"),
        ("limit=%zz", "it is not percent-encoded"),
        ("limit=%4", "it is not percent-encoded"),
        ("limit=é", "it is not percent-encoded"),
        ("é=1", "it is not percent-encoded"),
        ("paginationToken=%C3", "it is not UTF-8"),
        ("x" * 8193, "it is too long"),
        ("&".join(["kind=EndUser"] * 65), "it has too many parameters"),
    ],
)
def test_each_query_defect_names_its_parameter(sent: str, what: str) -> None:
    assert query_refusal(LIST, sent) == invalid_query(what)


def test_required_parameters_and_booleans() -> None:
    query = Query(
        (Field(name="from", type="integer", required=True), Field(name="all", type="boolean"))
    )
    assert query_refusal(query, "") == invalid_query("from is required")
    assert dict(query.parse("from=3&all=true")) == {"from": 3, "all": True}
    assert dict(query.parse("from=3&all=false")) == {"from": 3, "all": False}
    assert query_refusal(query, "from=3&all=yes") == invalid_query("all must be a boolean")


def test_a_query_describes_its_parameters() -> None:
    described = Query(
        (LIMIT, Field(name="kind", choices=("A",), repeated=True, description="kinds"))
    ).parameters()
    assert described == [
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 100},
        },
        {
            "name": "kind",
            "in": "query",
            "required": False,
            "schema": {"type": "array", "items": {"enum": ["A"]}, "description": "kinds"},
            "style": "form",
            "explode": True,
            "description": "kinds",
        },
    ]


START = Field(name="startTime", type="instant", required=True)


def test_an_instant_is_a_strict_utc_iso_8601_time() -> None:
    query = Query((START,))
    assert query.parse("startTime=2026-01-31T23%3A59%3A59Z")["startTime"] == datetime(
        2026, 1, 31, 23, 59, 59, tzinfo=UTC
    )
    assert query.parse("startTime=2026-01-31T23:59:59.5%2B00:00")["startTime"] == datetime(
        2026, 1, 31, 23, 59, 59, 500000, tzinfo=UTC
    )
    wrong = invalid_query("startTime must be a UTC ISO-8601 instant (2026-01-31T23:59:59Z)")
    for sent in (
        "2026-01-31T23:59:59+00:00",  # a raw + is a space
        "2026-01-31T23:59:59%2B01:00",  # not UTC
        "2026-02-30T00:00:00Z",  # no such day
        "2026-01-31T24:00:00Z",
        "2026-01-31",
        "1738367999",
        "2026-01-31T23:59:59.1234567Z",
    ):
        assert query_refusal(query, f"startTime={sent}") == wrong, sent
    assert query_refusal(query, "") == invalid_query("startTime is required")


def test_an_instant_field_accepts_utc_datetimes_and_is_a_date_time_string() -> None:
    assert START.accepts(datetime(2026, 1, 1, tzinfo=UTC))
    assert not START.accepts("2026-01-01T00:00:00Z")
    assert not START.accepts(datetime(2026, 1, 1))
    assert START.schema() == {"type": "string", "format": "date-time"}
