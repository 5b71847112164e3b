"""The transport-neutral request the use cases receive."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

import attrs

__all__ = ["Headers", "Request"]


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
    """What the core needs of an HTTP request: method, raw path, headers, exact body bytes."""

    method: str
    path: str
    headers: Headers = attrs.field(factory=Headers)
    body: bytes = b""
