"""What an operation reads from its body and its query string, declared once (SPEC §6).

An operation declares its fields (`Field`): name, type, whether it is required, its
default and its bounds. `Body` and `Query` parse a request strictly against them and
hand the operation a `Values` mapping; the same declarations describe the operation in
the OpenAPI document. A field that is unknown, missing, of another type or out of its
bounds is a 400 whose message names it:

    The request body is invalid: isSSORequired must be a boolean.
    The query is invalid: limit must be an integer from 1 to 200.

Names are caller input: an unknown name is quoted only when it is short printable
ASCII, else the message says "an unknown field" without it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final, Literal

import attrs

from archive_core.encoding import MalformedInput, parse_json_object
from archive_core.errors import ArchiveCoreError, Catalogue

__all__ = ["NO_VALUES", "Body", "Field", "Query", "Values"]

FieldType = Literal["string", "boolean", "integer", "instant"]
#: Parsed values by field name (absent optional fields hold their default).
Values = Mapping[str, Any]
NO_VALUES: Final[Values] = MappingProxyType({})

_SHOWN_NAME: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_DIGITS: Final = re.compile(r"[0-9]{1,18}")
#: A UTC instant as a query gives it: `2026-01-31T23:59:59Z`, an optional fraction of
#: 1 to 6 digits, `Z` or `+00:00` (sent as `%2B00:00`: a raw `+` is a space).
_INSTANT: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|\+00:00)"
)
_ESCAPE: Final = re.compile(r"%([0-9A-Fa-f]{2})")
_MAX_QUERY: Final = 8192
_MAX_PARAMETERS: Final = 64


@attrs.frozen(kw_only=True)
class Field:
    """One field of a body or one parameter of a query.

    `repeated` (queries only): the parameter may be given several times, or once with
    comma-separated values (`kind=A&kind=B` or `kind=A,B`); its value is a tuple.
    `expectation` replaces the words of the message after the name when a value is
    wrong (e.g. `must be Api or Staff`).
    """

    name: str
    type: FieldType = "string"
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    min_length: int = 0
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    repeated: bool = False
    description: str = ""
    expectation: str = ""

    def wrong(self) -> str:
        """What the message says after the name when a value is wrong."""
        if self.expectation:
            return self.expectation
        if self.choices:
            return "must be one of " + ", ".join(self.choices)
        if self.type == "boolean":
            return "must be a boolean"
        if self.type == "instant":
            return "must be a UTC ISO-8601 instant (2026-01-31T23:59:59Z)"
        if self.type == "integer":
            if self.minimum is not None and self.maximum is not None:
                return f"must be an integer from {self.minimum} to {self.maximum}"
            return "must be an integer"
        if self.max_length is not None:
            least = max(self.min_length, 1) if self.required else self.min_length
            return f"must be a string of {least} to {self.max_length} characters"
        return "must be a string"

    def accepts(self, value: Any) -> bool:
        """Whether `value` (already of a JSON type) is of this field's type and bounds."""
        if self.type == "boolean":
            return isinstance(value, bool)
        if self.type == "instant":
            return isinstance(value, datetime) and value.tzinfo is UTC
        if self.type == "integer":
            return (
                isinstance(value, int)
                and not isinstance(value, bool)
                and (self.minimum is None or value >= self.minimum)
                and (self.maximum is None or value <= self.maximum)
            )
        if not isinstance(value, str):
            return False
        if self.choices:
            return value in self.choices
        least = max(self.min_length, 1) if self.required else self.min_length
        return len(value) >= least and (self.max_length is None or len(value) <= self.max_length)

    def schema(self) -> dict[str, Any]:
        """This field's JSON schema (for the OpenAPI document)."""
        schema: dict[str, Any]
        if self.choices:
            schema = {"enum": list(self.choices)}
        elif self.type == "instant":
            schema = {"type": "string", "format": "date-time"}
        else:
            schema = {"type": self.type}
            if self.type == "string" and self.max_length is not None:
                schema["maxLength"] = self.max_length
            if self.type == "string" and (self.min_length or self.required):
                schema["minLength"] = max(self.min_length, 1 if self.required else 0)
            if self.minimum is not None:
                schema["minimum"] = self.minimum
            if self.maximum is not None:
                schema["maximum"] = self.maximum
        if self.default is not None:
            schema["default"] = self.default
        if self.repeated:
            schema = {"type": "array", "items": schema}
        if self.description:
            schema["description"] = self.description
        return schema


def _shown(name: str) -> str:
    return name if _SHOWN_NAME.fullmatch(name) else "an unknown field"


def _index(fields: Iterable[Field]) -> dict[str, Field]:
    indexed: dict[str, Field] = {}
    for field in fields:
        if field.name in indexed:
            raise ValueError(f"field {field.name!r} is declared twice")
        indexed[field.name] = field
    return indexed


@attrs.frozen
class Body:
    """A JSON object body: its fields, and whether it must be sent at all.

    An absent body is the empty object unless `required`. `unknown_message`, when set,
    is the message's text for an unknown field (an operation whose message was chosen
    before field names were reported keeps it: deactivate's).
    """

    fields: tuple[Field, ...]
    required: bool = False
    max_bytes: int = 64 * 1024
    unknown_message: str = ""
    _by_name: dict[str, Field] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_by_name", _index(self.fields))

    def parse(self, body: bytes) -> Values:
        """The values of `body`, strictly parsed (400 naming the first defect)."""
        if not body:
            if self.required:
                raise _body_invalid("a JSON object is required")
            document: dict[str, Any] = {}
        else:
            try:
                document = parse_json_object(body, max_bytes=self.max_bytes)
            except MalformedInput as exc:
                raise ArchiveCoreError(Catalogue.JSON_MALFORMED, reason=exc.reason) from exc
        for name in document:
            if name not in self._by_name:
                raise _body_invalid(self.unknown_message or f"unknown field {_shown(name)}")
        values: dict[str, Any] = {}
        for field in self.fields:
            if field.name not in document:
                if field.required:
                    raise _body_invalid(f"{field.name} is required")
                values[field.name] = field.default
                continue
            value = document[field.name]
            if not field.accepts(value):
                raise _body_invalid(f"{field.name} {field.wrong()}")
            values[field.name] = value
        return MappingProxyType(values)

    def schema(self) -> dict[str, Any]:
        """The body's JSON schema (for the OpenAPI document)."""
        schema: dict[str, Any] = {
            "type": "object",
            "additionalProperties": False,
            "properties": {field.name: field.schema() for field in self.fields},
        }
        required = [field.name for field in self.fields if field.required]
        if required:
            schema["required"] = required
        return schema


@attrs.frozen
class Query:
    """The parameters of a query string (`?a=1&b=x`), each declared once."""

    fields: tuple[Field, ...]
    _by_name: dict[str, Field] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_by_name", _index(self.fields))

    def parse(self, query: str) -> Values:
        """The values of a raw query string, strictly parsed (400 naming the first defect)."""
        if len(query) > _MAX_QUERY:
            raise _query_invalid("it is too long")
        given: dict[str, list[str]] = {}
        for pair in query.split("&") if query else ():
            if not pair:
                continue
            raw_name, equals, raw_value = pair.partition("=")
            name = _decoded(raw_name)
            field = self._by_name.get(name)
            if field is None:
                raise _query_invalid(f"unknown parameter {_shown(name)}")
            if not equals:
                raise _query_invalid(f"{field.name} {field.wrong()}")
            given.setdefault(name, []).append(_decoded(raw_value))
            if sum(map(len, given.values())) > _MAX_PARAMETERS:
                raise _query_invalid("it has too many parameters")
        values: dict[str, Any] = {}
        for field in self.fields:
            texts = given.get(field.name)
            if texts is None:
                if field.required:
                    raise _query_invalid(f"{field.name} is required")
                values[field.name] = () if field.repeated else field.default
                continue
            if field.repeated:
                items = [item for text in texts for item in text.split(",")]
                values[field.name] = tuple(_converted(field, item) for item in items)
            elif len(texts) > 1:
                raise _query_invalid(f"{field.name} must be given once")
            else:
                values[field.name] = _converted(field, texts[0])
        return MappingProxyType(values)

    def parameters(self) -> list[dict[str, Any]]:
        """The query's OpenAPI parameter objects."""
        parameters: list[dict[str, Any]] = []
        for field in self.fields:
            parameter: dict[str, Any] = {
                "name": field.name,
                "in": "query",
                "required": field.required,
                "schema": field.schema(),
            }
            if field.repeated:
                parameter.update(style="form", explode=True)
            if field.description:
                parameter["description"] = field.description
            parameters.append(parameter)
        return parameters


def _decoded(text: str) -> str:
    """A query name or value, `+` and percent-escapes decoded strictly: a `%` not followed
    by two hex digits, a character outside ASCII or bytes that are not UTF-8 refuse it."""
    if "%" not in text and "+" not in text:
        if not text.isascii():
            raise _query_invalid("it is not percent-encoded")
        return text
    raw = text.replace("+", " ")
    if raw.count("%") != len(_ESCAPE.findall(raw)) or not raw.isascii():
        raise _query_invalid("it is not percent-encoded")
    data = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), raw).encode("latin-1")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _query_invalid("it is not UTF-8") from None


def _converted(field: Field, text: str) -> Any:
    """A query value as the field's type (ASCII digits for integers, true/false, a UTC
    instant)."""
    value: Any = text
    if field.type == "instant":
        value = _instant(text)
    elif field.type == "integer":
        value = int(text) if _DIGITS.fullmatch(text) else None
    elif field.type == "boolean":
        value = {"true": True, "false": False}.get(text)
    if value is None or not field.accepts(value):
        raise _query_invalid(f"{field.name} {field.wrong()}")
    return value


def _instant(text: str) -> datetime | None:
    """A UTC instant of the strict form `_INSTANT` (a date that does not exist: None)."""
    if not _INSTANT.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=UTC)
    except ValueError:
        return None


def _body_invalid(what: str) -> ArchiveCoreError:
    return ArchiveCoreError(
        Catalogue.BODY_INVALID,
        message=f"The request body is invalid: {what}.",
        reason="body_field",
    )


def _query_invalid(what: str) -> ArchiveCoreError:
    return ArchiveCoreError(
        Catalogue.QUERY_INVALID,
        message=f"The query is invalid: {what}.",
        reason="query_parameter",
    )
