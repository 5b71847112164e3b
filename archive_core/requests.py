"""The transport-neutral request an operation receives, and the answer it gives."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs

__all__ = ["Answer", "Headers", "Request"]

_NO_PARAMS: Final[Mapping[str, str]] = MappingProxyType({})


class Headers:
    """Case-insensitive, immutable request headers that remember repeated names.

    A security header sent twice is ambiguous and refused by the step that owns it.
    """

    __slots__ = ("_values", "by_name")

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        # Linear in the number of pairs, whatever the repetitions: a name's values are
        # gathered in one list, frozen once at the end.
        gathered: dict[str, list[str]] = {}
        for name, value in pairs:
            key = name.lower()
            same = gathered.get(key)
            if same is None:
                gathered[key] = [value]
            else:
                same.append(value)
        self._values = {key: tuple(values) for key, values in gathered.items()}
        #: Every value, by lowercase name (read-only): what `values` reads, for callers
        #: that already hold the lowercase name (the core's own steps, per request).
        self.by_name: Mapping[str, tuple[str, ...]] = MappingProxyType(self._values)

    @classmethod
    def of(cls, mapping: Mapping[str, str]) -> Headers:
        """Headers from a plain mapping (one value per name)."""
        return cls(mapping.items())

    def values(self, name: str) -> tuple[str, ...]:
        """Every value sent under `name` (any case), in order."""
        return self._values.get(name.lower(), ())

    def __repr__(self) -> str:
        # Header values may be secrets: only names are shown.
        return f"Headers({sorted(self._values)})"


@attrs.frozen
class Request:
    """What the core needs of an HTTP request: method, raw path, headers, exact body bytes,
    and what the router found: the path's parameters by name (raw, never percent-decoded:
    their syntax is the operation's to judge) and the raw query string (without `?`)."""

    method: str
    path: str
    headers: Headers = attrs.field(factory=Headers)
    body: bytes = b""
    params: Mapping[str, str] = _NO_PARAMS
    query: str = ""


@attrs.frozen
class Answer:
    """What an operation answers with status 200: one JSON document, a text, or a body
    streamed in chunks (a CSV export), with the headers known before its first byte.

    `outcome` is the decision's code for logs and metrics (e.g. `unchanged` when a
    deactivation found the user inactive already); empty, the operation's success outcome.
    """

    document: Mapping[str, Any] | None = None
    text: str | None = None
    chunks: Iterable[bytes] | None = None
    media_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    outcome: str = ""

    @classmethod
    def json(cls, document: Mapping[str, Any], *, outcome: str = "") -> Answer:
        """A JSON document."""
        return cls(document, None, None, "application/json", (), outcome)

    @classmethod
    def plain(cls, text: str, *, media_type: str = "text/plain; charset=utf-8") -> Answer:
        """A text (`text/plain` unless said otherwise)."""
        return cls(None, text, None, media_type)

    @classmethod
    def stream(
        cls,
        chunks: Iterable[bytes],
        *,
        media_type: str,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Answer:
        """A body sent chunk by chunk as `chunks` yields them (never held whole)."""
        return cls(None, None, chunks, media_type, headers)
