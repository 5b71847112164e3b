"""Start-up failures of every CLI command, as an operator sees them: exit status 2 and one
line on stderr naming the store, its address (never the password) and the driver's own
cause — never a traceback, unless `--debug` asks for one. A missing optional driver
names the extra that brings it."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.services import require_postgres, require_redis

ROLE = "archive_core_no_such_role"
PASSWORD = "s3cret-never-shown"

# Hides installed modules, as if their extra had not been installed.
HIDE = """
import sys, importlib.abc
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {hidden!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Hide())
from adapters.entrypoints.cli import main
sys.exit(main(sys.argv[1:]))
"""

COMMANDS: list[list[str]] = [
    ["serve", "--port", "0"],
    ["bootstrap"],
    [
        "users",
        "create",
        "--org",
        "or-aaaaa-aaaaa-aaaaaaaaaaaaaaaa",
        "--username",
        "u",
        "--kind",
        "EndUser",
    ],
    ["audit", "--verify"],
    ["purge"],
]


def run(*args: str, hide: frozenset[str] = frozenset()) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "adapters.entrypoints.cli", *args]
    if hide:
        command = [sys.executable, "-c", HIDE.format(hidden=set(hide)), *args]
    return subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
        command, capture_output=True, text=True, timeout=120, check=False
    )


def assert_one_line(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr == f"archive-core: {expected}\n", result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert PASSWORD not in result.stdout + result.stderr


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def with_user(dsn: str, user: str, password: str = "") -> str:
    parts = urlsplit(dsn)
    secret = f":{password}" if password else ""
    netloc = f"{user}{secret}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_role_postgresql_refuses(command: list[str]) -> None:
    dsn = with_user(require_postgres(), ROLE, PASSWORD)
    parts = urlsplit(dsn)
    result = run(*command, "--db", dsn)
    assert_one_line(
        result,
        f"cannot reach PostgreSQL at {ROLE}@{parts.hostname}:{parts.port or 5432}{parts.path}: "
        f'role "{ROLE}" does not exist',
    )


def test_an_unreachable_postgresql() -> None:
    port = closed_port()
    dsn = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/app"
    result = run("audit", "--db", dsn)
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"archive-core: cannot reach PostgreSQL at postgres@127.0.0.1:{port}/app: Connection refused"
    )
    assert result.stderr.count("\n") == 1
    assert PASSWORD not in result.stderr


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["purge"]], ids=lambda c: c[0])
def test_an_unreachable_redis(tmp_path: Path, command: list[str]) -> None:
    require_redis()
    port = closed_port()
    url = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    result = run(*command, "--db", str(tmp_path / "a.db"), "--redis", url)
    assert result.returncode == 2
    assert result.stderr.startswith(f"archive-core: cannot reach Redis at 127.0.0.1:{port}/0: ")
    assert "Connection refused" in result.stderr
    assert result.stderr.count("\n") == 1
    assert PASSWORD not in result.stderr


def test_a_sqlite_file_that_cannot_be_created(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "a.db"
    result = run("bootstrap", "--db", str(path))
    assert_one_line(result, f"cannot open SQLite at {path}: No such file or directory")


def test_a_storage_url_of_no_known_scheme() -> None:
    assert_one_line(run("audit", "--db", "ftp://host/x"), "no storage for URLs of scheme 'ftp'")


@pytest.mark.parametrize(
    ("hidden", "arguments", "extra", "store"),
    [
        (
            {"psycopg", "psycopg_pool"},
            ["--db", "postgresql://u@127.0.0.1/x"],
            "postgres",
            "PostgreSQL",
        ),
        ({"redis"}, ["--redis", "redis://127.0.0.1:6379/0"], "redis", "Redis"),
    ],
    ids=["postgres", "redis"],
)
def test_a_missing_extra_names_what_to_install(
    tmp_path: Path, hidden: set[str], arguments: list[str], extra: str, store: str
) -> None:
    if "--db" not in arguments:
        arguments = [*arguments, "--db", str(tmp_path / "a.db")]
    result = run("purge", *arguments, hide=frozenset(hidden))
    assert_one_line(
        result, f"{store} support is not installed: pip install 'archive-core[{extra}]'"
    )


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run("--debug", "bootstrap", "--db", str(tmp_path / "missing" / "a.db"))
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "StorageStartError" in result.stderr
