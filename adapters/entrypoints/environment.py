"""Every `archive-core serve` flag also reads an environment variable; a flag given on the
command line wins over its variable.

`SERVE_VARIABLES` is the one table of flag ↔ variable: a new flag is one line here (a
test fails while a `serve` flag has no variable). The rest is generic: the value is
converted and checked like the flag's own (its `type`, its `choices`), a switch reads
`1/true/yes/on` or `0/false/no/off`, a repeatable flag reads a comma-separated list.
`serve --help` names each variable. A bad value is `BadVariable`: the CLI prints its
one-line message on stderr and exits with status 2. Messages never repeat the value (a
database URL may hold a password).

Numbers, on the command line and in variables, are ASCII digits only: `int()` would
also read `٣` (an Arabic-Indic three), `1_000` and ` 7 `. A variable's surrounding
whitespace is ignored, as an empty variable is; a flag's is not. `--workers` is bounded
by the CPUs this process may run on (`max_workers`), so a typo cannot spawn processes
until the machine stalls.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

__all__ = [
    "MAX_SECONDS",
    "SERVE_VARIABLES",
    "WORKERS_PER_CPU",
    "BadVariable",
    "EnvironmentDefaults",
    "max_workers",
    "port",
    "seconds",
    "workers",
]

SERVE_VARIABLES: Final[Mapping[str, str]] = {
    "--db": "ARCHIVE_CORE_DB",
    "--host": "ARCHIVE_CORE_HOST",
    "--port": "ARCHIVE_CORE_PORT",
    "--redis": "ARCHIVE_CORE_REDIS_URL",
    "--require-app-id": "ARCHIVE_CORE_REQUIRE_APP_ID",
    "--require-nonce": "ARCHIVE_CORE_REQUIRE_NONCE",
    "--origin": "ARCHIVE_CORE_ORIGINS",
    "--key-origin": "ARCHIVE_CORE_KEY_ORIGINS",
    "--cors-origin": "ARCHIVE_CORE_CORS_ORIGINS",
    "--matrix": "ARCHIVE_CORE_MATRIX",
    "--rp-id": "ARCHIVE_CORE_RP_ID",
    "--workers": "ARCHIVE_CORE_WORKERS",
    "--metrics-port": "ARCHIVE_CORE_METRICS_PORT",
    "--metrics-host": "ARCHIVE_CORE_METRICS_HOST",
    "--log-format": "ARCHIVE_CORE_LOG_FORMAT",
    "--log-level": "ARCHIVE_CORE_LOG_LEVEL",
    "--commit-timeout": "ARCHIVE_CORE_COMMIT_TIMEOUT",
    "--operation": "ARCHIVE_CORE_OPERATIONS",
}

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


class BadVariable(ValueError):
    """An environment variable holds a value its flag would refuse."""


#: `--workers` is at most this many processes per CPU.
WORKERS_PER_CPU: Final = 4

# ASCII digits, a few more than any bound below needs (never an int() of a long string).
_DIGITS: Final = re.compile(r"[0-9]{1,12}")


def _whole_number(text: str, low: int, high: int, refusal: str) -> int:
    """`text` as a whole number from `low` to `high`, written in ASCII digits."""
    if _DIGITS.fullmatch(text) is None or not low <= int(text) <= high:
        raise argparse.ArgumentTypeError(refusal)
    return int(text)


def port(text: str) -> int:
    """A TCP port number, 0 (any free port) to 65535."""
    return _whole_number(text, 0, 65535, "must be a port number (0 to 65535)")


# Seconds: ASCII digits, with at most three decimals (never a float() of `1e9`, `nan`).
_SECONDS: Final = re.compile(r"[0-9]{1,4}(\.[0-9]{1,3})?")
#: The longest a `seconds` flag may say: an hour.
MAX_SECONDS: Final = 3600


def seconds(text: str) -> float:
    """A number of seconds above 0 and at most `MAX_SECONDS`, in ASCII digits (`5`, `0.5`)."""
    if _SECONDS.fullmatch(text) is None or not 0 < float(text) <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds above 0 and at most {MAX_SECONDS}, as in 5 or 0.5"
        )
    return float(text)


def max_workers() -> int:
    """The most `--workers` accepted: `WORKERS_PER_CPU` per CPU this process may use."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return WORKERS_PER_CPU * max(1, cpus or 1)


def workers(text: str) -> int:
    """A number of worker processes, 1 to `max_workers()`."""
    most = max_workers()
    refusal = f"must be a whole number from 1 to {most} ({WORKERS_PER_CPU} per CPU)"
    return _whole_number(text, 1, most, refusal)


@attrs.frozen
class _Binding:
    action: argparse.Action
    variable: str
    default: Any


def _convert(action: argparse.Action, text: str) -> Any:
    convert: Callable[[str], Any] = action.type if callable(action.type) else str
    try:
        value = convert(text)
    except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
        reason = str(exc) if isinstance(exc, argparse.ArgumentTypeError) else "invalid value"
        raise BadVariable(reason) from None
    if action.choices is not None and value not in action.choices:
        raise BadVariable(f"must be one of {', '.join(map(str, action.choices))}")
    return value


class EnvironmentDefaults:
    """Binds a parser's flags to their variables (see the module's doc).

    Made while the parser is built (it rewrites each bound flag's help and default);
    `resolve(args, environ)` then fills every flag not given on the command line.
    """

    def __init__(self, parser: argparse.ArgumentParser, variables: Mapping[str, str]) -> None:
        self._bindings: list[_Binding] = []
        for action in parser._actions:  # argparse lists its actions only here
            names = [variables[o] for o in action.option_strings if o in variables]
            if not names:
                continue
            variable = names[0]
            self._bindings.append(_Binding(action, variable, action.default))
            # None marks "not given": a flag on the command line replaces it.
            action.default = None
            shown = f"env {variable}"
            if isinstance(action, argparse._AppendAction):
                shown += ", comma-separated"
            action.help = f"{action.help} [{shown}]" if action.help else f"[{shown}]"

    @property
    def variables(self) -> dict[str, str]:
        """Each bound flag's first option string and its variable."""
        return {b.action.option_strings[0]: b.variable for b in self._bindings}

    def resolve(self, args: argparse.Namespace, environ: Mapping[str, str]) -> None:
        """Give every flag not on the command line its variable's value, else its default."""
        for binding in self._bindings:
            dest = binding.action.dest
            if getattr(args, dest, None) is not None:
                continue
            text = environ.get(binding.variable, "")
            if not text.strip():
                setattr(args, dest, binding.default)
                continue
            try:
                setattr(args, dest, self._parse(binding.action, text.strip()))
            except BadVariable as exc:
                raise BadVariable(f"{binding.variable}: {exc}") from None

    @staticmethod
    def _parse(action: argparse.Action, text: str) -> Any:
        if isinstance(action, argparse._StoreTrueAction):
            lowered = text.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise BadVariable("must be one of 1, true, yes, on, 0, false, no, off")
        if isinstance(action, argparse._AppendAction):
            return [_convert(action, item.strip()) for item in text.split(",") if item.strip()]
        return _convert(action, text)
