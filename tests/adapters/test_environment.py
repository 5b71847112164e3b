"""`serve` reads every flag from an ARCHIVE_CORE_* variable too; the flag wins; a bad
value is one line on stderr and status 2; numbers are ASCII digits; `--workers` is
bounded by the CPUs; `serve --help` names each variable and the bound."""

from __future__ import annotations

import argparse
import io
import os
from collections.abc import Mapping
from typing import Any

import pytest

from adapters.entrypoints.cli import _parser, main
from adapters.entrypoints.environment import SERVE_VARIABLES, WORKERS_PER_CPU, max_workers


def _serve_parser() -> argparse.ArgumentParser:
    parser = _parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            serve: argparse.ArgumentParser = action.choices["serve"]
            return serve
    raise AssertionError("no serve command")


def _serve_args(argv: list[str], environ: Mapping[str, str]) -> Any:
    args = _parser().parse_args(["serve", *argv])
    args.environment.resolve(args, environ)
    return args


def test_every_serve_flag_has_a_variable() -> None:
    flags = {
        action.option_strings[0]
        for action in _serve_parser()._actions
        if action.option_strings and action.option_strings[0] != "-h"
    }
    assert flags == set(SERVE_VARIABLES), "add the new flag's variable to SERVE_VARIABLES"
    assert all(v.startswith("ARCHIVE_CORE_") for v in SERVE_VARIABLES.values())
    assert len(set(SERVE_VARIABLES.values())) == len(SERVE_VARIABLES)


def test_help_names_each_variable() -> None:
    text = _serve_parser().format_help()
    for variable in SERVE_VARIABLES.values():
        assert variable in text


def test_defaults_without_variables() -> None:
    args = _serve_args([], {})
    assert (args.db, args.host, args.port, args.workers) == (
        "./archive-core.db",
        "127.0.0.1",
        8000,
        1,
    )
    assert (args.redis, args.metrics_port, args.log_format, args.log_level) == (
        None,
        None,
        "text",
        "warning",
    )
    assert (args.origin, args.require_nonce) == ([], False)


def test_variables_fill_every_kind_of_flag() -> None:
    args = _serve_args(
        [],
        {
            "ARCHIVE_CORE_DB": "postgresql://app@db/archive",
            "ARCHIVE_CORE_REDIS_URL": "redis://cache:6379/0",
            "ARCHIVE_CORE_HOST": "127.0.0.2",
            "ARCHIVE_CORE_PORT": "9000",
            "ARCHIVE_CORE_WORKERS": "4",
            "ARCHIVE_CORE_ORIGINS": "https://a.example, https://b.example,",
            "ARCHIVE_CORE_REQUIRE_NONCE": "yes",
            "ARCHIVE_CORE_REQUIRE_APP_ID": "0",
            "ARCHIVE_CORE_LOG_FORMAT": "json",
            "ARCHIVE_CORE_METRICS_PORT": "9100",
        },
    )
    assert (args.db, args.redis, args.host, args.port, args.workers) == (
        "postgresql://app@db/archive",
        "redis://cache:6379/0",
        "127.0.0.2",
        9000,
        4,
    )
    assert args.origin == ["https://a.example", "https://b.example"]
    assert (args.require_nonce, args.require_app_id) == (True, False)
    assert (args.log_format, args.metrics_port) == ("json", 9100)


def test_a_flag_wins_over_its_variable() -> None:
    environ = {
        "ARCHIVE_CORE_PORT": "9000",
        "ARCHIVE_CORE_ORIGINS": "https://env.example",
        "ARCHIVE_CORE_WORKERS": "3",
    }
    args = _serve_args(["--port", "7000", "--origin", "https://flag.example"], environ)
    assert (args.port, args.origin, args.workers) == (7000, ["https://flag.example"], 3)


def test_an_empty_variable_is_unset() -> None:
    assert _serve_args([], {"ARCHIVE_CORE_PORT": "  "}).port == 8000


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "ARCHIVE_CORE_PORT",
            "eighty",
            "error: ARCHIVE_CORE_PORT: must be a port number (0 to 65535)",
        ),
        (
            "ARCHIVE_CORE_PORT",
            "70000",
            "error: ARCHIVE_CORE_PORT: must be a port number (0 to 65535)",
        ),
        (
            "ARCHIVE_CORE_WORKERS",
            "0",
            "error: ARCHIVE_CORE_WORKERS: must be a whole number from 1 to "
            f"{max_workers()} ({WORKERS_PER_CPU} per CPU)",
        ),
        (
            "ARCHIVE_CORE_LOG_FORMAT",
            "xml",
            "error: ARCHIVE_CORE_LOG_FORMAT: must be one of text, json",
        ),
        (
            "ARCHIVE_CORE_REQUIRE_NONCE",
            "maybe",
            "error: ARCHIVE_CORE_REQUIRE_NONCE: must be one of 1, true, yes, on, 0, false, no, off",
        ),
    ],
)
def test_a_bad_variable_is_one_line_and_status_2(variable: str, value: str, message: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["serve"], out=out, err=err, environ={variable: value}) == 2
    assert err.getvalue() == message.replace("error: ", "archive-core: ", 1) + "\n"
    assert out.getvalue() == ""


def test_a_bad_flag_is_refused_by_argparse_with_status_2() -> None:
    with pytest.raises(SystemExit) as stopped:
        _parser().parse_args(["serve", "--workers", "0"])
    assert stopped.value.code == 2


# int() reads most of these as a number; none is ASCII digits only. "\u0663" is an
# Arabic-Indic three, "\uff13" a fullwidth three.
NOT_ASCII_DIGITS = [
    "\u0663",
    "\uff13",
    "1_000",
    "+7",
    "-0",
    "0x10",
    "7.0",
    "1e3",
    "7\n",
    "",
    "9" * 5000,
]


@pytest.mark.parametrize("text", NOT_ASCII_DIGITS, ids=repr)
@pytest.mark.parametrize("flag", ["--port", "--metrics-port", "--workers"])
def test_numeric_flags_take_ascii_digits_only(
    flag: str, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        _parser().parse_args(["serve", flag, text])
    assert stopped.value.code == 2
    refused = capsys.readouterr().err
    assert refused.startswith(f"archive-core serve: argument {flag}: must be ")
    assert refused.count("\n") == 1  # one line, no usage


# A variable's surrounding whitespace is ignored: "7\n" is 7 there.
@pytest.mark.parametrize("text", [t for t in NOT_ASCII_DIGITS if t.strip() == t != ""], ids=repr)
@pytest.mark.parametrize(
    "variable", ["ARCHIVE_CORE_PORT", "ARCHIVE_CORE_METRICS_PORT", "ARCHIVE_CORE_WORKERS"]
)
def test_numeric_variables_take_ascii_digits_only(variable: str, text: str) -> None:
    err = io.StringIO()
    assert main(["serve"], out=io.StringIO(), err=err, environ={variable: text}) == 2
    assert err.getvalue().startswith(f"archive-core: {variable}: must be ")
    assert err.getvalue().count("\n") == 1


def test_numbers_in_ascii_digits_are_read_and_a_variable_may_be_padded() -> None:
    args = _serve_args(["--port", "08000", "--metrics-port", "0"], {"ARCHIVE_CORE_WORKERS": " 2 "})
    assert (args.port, args.metrics_port, args.workers) == (8000, 0, 2)


def test_workers_are_bounded_by_the_cpus(capsys: pytest.CaptureFixture[str]) -> None:
    most = max_workers()
    assert most == WORKERS_PER_CPU * len(os.sched_getaffinity(0))
    assert _serve_args(["--workers", str(most)], {}).workers == most
    err = io.StringIO()
    environ = {"ARCHIVE_CORE_WORKERS": str(most + 1)}
    assert main(["serve"], out=io.StringIO(), err=err, environ=environ) == 2
    bound = f"must be a whole number from 1 to {most} ({WORKERS_PER_CPU} per CPU)"
    assert err.getvalue() == f"archive-core: ARCHIVE_CORE_WORKERS: {bound}\n"
    with pytest.raises(SystemExit):
        _parser().parse_args(["serve", "--workers", "9" * 20])
    assert capsys.readouterr().err == (
        f"archive-core serve: argument --workers: {bound} (see archive-core serve --help)\n"
    )
    assert f"1 to {most} ({WORKERS_PER_CPU} per CPU)" in " ".join(
        _serve_parser().format_help().split()
    )
