"""The CLI's help, walked through argparse: every command describes itself, every option
has a help text that states its default, and `docs/operations.md`'s table of `serve`'s
flags is the parser's list — no flag missing, none that does not exist, the same
variables and defaults; `--origin`'s default reads the same in `--help`, `http.md` and
`operations.md`."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest

from adapters.entrypoints.cli import _parser, _parsers
from adapters.entrypoints.environment import SERVE_VARIABLES
from archive_core.config import Policy

ROOT = Path(__file__).resolve().parents[2]
PARSERS = list(_parsers(_parser()))


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        action
        for action in parser._actions
        if action.option_strings and not isinstance(action, argparse._HelpAction)
    ]


def _serve() -> argparse.ArgumentParser:
    return next(parser for parser in PARSERS if parser.prog == "archive-core serve")


def _serve_defaults() -> dict[str, Any]:
    """Each `serve` flag's value when neither the flag nor its variable is given."""
    args = _parser().parse_args(["serve"])
    args.environment.resolve(args, {})
    return {action.option_strings[0]: getattr(args, action.dest) for action in _options(_serve())}


def _shown(value: Any) -> bool:
    return value not in (None, False, [])


def _table() -> dict[str, list[str]]:
    """operations.md's table of `serve` flags: flag → its cells (variable, default, notes)."""
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text.split("## Configuration: flags and environment variables", 1)[1]
    table = section[section.index("\n|") :].split("\n\n", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in table.strip().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        match = re.fullmatch(r"`(--[a-z-]+)`", cells[0])
        if match:
            rows[match.group(1)] = cells[1:]
    return rows


def test_the_walk_reaches_every_command() -> None:
    progs = {parser.prog for parser in PARSERS}
    assert {
        "archive-core",
        "archive-core serve",
        "archive-core users create",
        "archive-core users list",
        "archive-core credentials add",
        "archive-core demo",
    } <= progs
    assert {
        f"archive-core audit {action}"
        for action in ("new-log-key", "log-key", "verify-proof", "verify-consistency")
    } <= progs
    assert len(progs) == 15


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.prog)
def test_every_command_has_a_description(parser: argparse.ArgumentParser) -> None:
    assert parser.description and len(parser.description) > 10
    assert parser.description.split("\n")[0] in parser.format_help()


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.prog)
def test_every_option_has_help_that_states_its_default(parser: argparse.ArgumentParser) -> None:
    for action in _options(parser):
        name = action.option_strings[0]
        assert action.help, f"{parser.prog} {name} has no help"
        takes_a_value = action.nargs != 0
        if takes_a_value and not action.required:
            assert "default" in action.help, f"{parser.prog} {name}: say what it is when absent"
        if parser.prog != "archive-core serve" and _shown(action.default):
            assert f"(default {action.default})" in action.help


def test_serve_help_shows_each_default_it_runs_with() -> None:
    text = " ".join(_serve().format_help().split())
    for flag, value in _serve_defaults().items():
        if _shown(value):
            assert f"(default {value})" in text, flag
    for named in ("(default ./archive-core.db)", "(default 127.0.0.1)", "(default 8000)"):
        assert named in text


def test_operations_md_lists_every_serve_flag_and_no_other() -> None:
    table = _table()
    flags = [action.option_strings[0] for action in _options(_serve())]
    assert set(table) == set(flags), (set(flags) - set(table), set(table) - set(flags))
    defaults = _serve_defaults()
    for flag, (variable, default, _notes) in table.items():
        assert variable == f"`{SERVE_VARIABLES[flag]}`", flag
        if _shown(defaults[flag]) and not isinstance(defaults[flag], bool):
            assert default == f"`{defaults[flag]}`", flag


def test_the_origin_default_reads_the_same_everywhere() -> None:
    (origin,) = Policy().webauthn_origins
    help_line = " ".join(_serve().format_help().split()).split(" --origin ORIGIN ", 1)[1]
    assert help_line.startswith(f"allowed passkey (WebAuthn) origin (repeatable; default {origin})")
    assert _table()["--origin"][1] == f"`{origin}`"
    http = (ROOT / "docs" / "http.md").read_text(encoding="utf-8")
    (row,) = [line for line in http.splitlines() if line.startswith("| `--origin O`")]
    assert f"default `{origin}`" in row
