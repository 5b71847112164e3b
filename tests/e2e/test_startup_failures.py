"""Start-up failures of every CLI command, as an operator sees them: exit status 2 and one
line on stderr naming the store, its address (never the password) and the driver's own
cause — never a traceback, unless `--debug` asks for one. A missing optional driver
names the extra that brings it. The same for a URL that cannot be used, a bad variable,
and a port (or metrics port) that is already in use, whoever holds it."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.e2e.conftest import start_serve
from tests.services import cli_environment, require_postgres, require_redis

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


def run(
    *args: str, hide: frozenset[str] = frozenset(), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "adapters.entrypoints.cli", *args]
    if hide:
        command = [sys.executable, "-c", HIDE.format(hidden=set(hide)), *args]
    return subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
        command,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=cli_environment(env),
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


def test_an_unreachable_multi_host_postgresql_names_every_host() -> None:
    first, second = closed_port(), closed_port()
    dsn = (
        f"postgresql://postgres:{PASSWORD}@127.0.0.1:{first},127.0.0.1:{second}/app"
        "?target_session_attrs=read-write&connect_timeout=2"
    )
    result = run("audit", "--db", dsn)
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"archive-core: cannot reach PostgreSQL at postgres@127.0.0.1:{first},127.0.0.1:{second}"
        "/app: "
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


PERCENT = (
    "the PostgreSQL URL has a malformed percent-encoding in its password "
    "(a % must be followed by two hexadecimal digits)"
)
BAD_DATABASES = [
    (f"postgresql://postgres:{PASSWORD}%zz@127.0.0.1:5432/test", PERCENT),
    (f"postgresql://postgres:{PASSWORD}@127.0.0.1/test?colour=red", "unknown PostgreSQL URL parameter 'colour'"),
    (f"postgresql://postgres:{PASSWORD}@127.0.0.1/test?pool_size=٣", "the URL option pool_size must be a whole number of at least 1"),
    (f"host=127.0.0.1 password='{PASSWORD}", "the PostgreSQL connection string cannot be parsed: a quoted value is not closed"),
    (f"host=127.0.0.1 password={PASSWORD} colour=red", "unknown PostgreSQL connection keyword 'colour'"),
]  # fmt: skip


# Every command that takes --db: the URL is refused before anything else is looked at.
EVERY_DB_COMMAND = [
    *COMMANDS,
    ["credentials", "add", "--user", "us-x", "--kind", "Key", "--public-key-file", "k.pem",
     "--cred-id", "c"],
    ["demo"],
]  # fmt: skip


@pytest.mark.parametrize(("url", "message"), BAD_DATABASES, ids=lambda v: v[:12])
@pytest.mark.parametrize("command", EVERY_DB_COMMAND, ids=lambda c: c[0])
def test_a_database_url_that_cannot_be_used(
    tmp_path: Path, command: list[str], url: str, message: str
) -> None:
    result = subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-m", "adapters.entrypoints.cli", *command, "--db", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert_one_line(result, message)
    assert list(tmp_path.iterdir()) == []  # no SQLite file named after the string


def test_a_database_url_from_the_variable_is_checked_alike() -> None:
    bad, message = BAD_DATABASES[0]
    assert_one_line(run("serve", "--port", "0", env={"ARCHIVE_CORE_DB": bad}), message)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_keyword_string_is_postgresql(command: list[str]) -> None:
    parts = urlsplit(require_postgres())
    keywords = (
        f"host={parts.hostname} port={parts.port or 5432} user={ROLE} password={PASSWORD} "
        f"dbname={parts.path.lstrip('/')}"
    )
    assert_one_line(
        run(*command, "--db", keywords),
        f"cannot reach PostgreSQL at {ROLE}@{parts.hostname}:{parts.port or 5432}"
        f'{parts.path}: role "{ROLE}" does not exist',
    )


REDIS_DB = "the Redis database must be a number from 0 to 2147483647 (redis://host:6379/0)"


@pytest.mark.parametrize("database", ["x", "-1", "99999999999"])
@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["purge"]], ids=lambda c: c[0])
def test_a_redis_database_that_is_not_a_number(
    tmp_path: Path, command: list[str], database: str
) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:6379/{database}"
    result = run(*command, "--db", str(tmp_path / "a.db"), "--redis", url)
    assert_one_line(result, REDIS_DB)


def test_a_bad_variable_is_one_line_on_stderr() -> None:
    result = run("serve", env={"ARCHIVE_CORE_PORT": "eighty"})
    assert_one_line(result, "ARCHIVE_CORE_PORT: must be a port number (0 to 65535)")
    assert result.stdout == ""


def test_a_bad_flag_is_one_line_on_stderr() -> None:
    result = run("serve", "--workers", "٣")
    assert result.returncode == 2
    assert result.stderr.startswith("archive-core serve: argument --workers: must be ")
    assert result.stderr.count("\n") == 1


UNEXPECTED = """
import sys
import adapters.entrypoints.cli as cli
def build(**settings):
    raise RuntimeError("the text of an unexpected error: " + settings["db_url"])
cli.build = build
sys.exit(cli.main(sys.argv[1:]))
"""


def test_an_unexpected_failure_is_one_line_naming_its_type_only() -> None:
    db = f"postgresql://postgres:{PASSWORD}@127.0.0.1/test"
    result = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", UNEXPECTED, "audit", "--db", db],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert_one_line(result, "unexpected RuntimeError (archive-core --debug shows the traceback)")


_SERVING = re.compile(r"archive-core serving on http://127\.0\.0\.1:(\d+)")


@contextmanager
def _holder(*, reuse_port: bool) -> Iterator[int]:
    """Another program listening on a loopback port (with SO_REUSEPORT, if asked)."""
    with socket.socket() as held:
        if reuse_port:
            held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield int(held.getsockname()[1])


@pytest.mark.parametrize("second", [1, 2])
@pytest.mark.parametrize("first", [1, 2])
def test_a_port_served_by_another_serve_is_refused(tmp_path: Path, first: int, second: int) -> None:
    served = start_serve("--db", str(tmp_path / "first.db"), "--workers", str(first))
    try:
        port = int(served.url.rpartition(":")[2])
        result = run(
            "serve", "--db", str(tmp_path / "second.db"), "--port", str(port),
            "--workers", str(second),
        )  # fmt: skip
        assert_one_line(result, f"port {port} on 127.0.0.1 is already in use")
        assert not (tmp_path / "second.db").exists()  # refused before the store is opened
    finally:
        served.stop()


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain", "reuseport"])
def test_a_port_held_by_another_program_is_refused(
    tmp_path: Path, workers: int, reuse_port: bool
) -> None:
    with _holder(reuse_port=reuse_port) as port:
        result = run(
            "serve", "--db", str(tmp_path / "a.db"), "--port", str(port),
            "--workers", str(workers),
        )  # fmt: skip
    assert_one_line(result, f"port {port} on 127.0.0.1 is already in use")


def test_two_serves_starting_together_on_one_port_one_is_refused(tmp_path: Path) -> None:
    port = closed_port()
    command = [sys.executable, "-u", "-m", "adapters.entrypoints.cli", "serve"]
    started = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [*command, "--db", str(tmp_path / f"{n}.db"), "--port", str(port), "--workers", "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_environment(),
        )
        for n in range(2)
    ]
    try:
        for _ in range(600):  # waiting for a state, bounded: until one has stopped
            stopped = [p for p in started if p.poll() is not None]
            if stopped:
                break
            time.sleep(0.1)
        assert len(stopped) == 1
        [loser] = stopped
        [winner] = [p for p in started if p is not loser]
        assert winner.stdout is not None
        assert _SERVING.search(winner.stdout.readline()) is not None
        assert winner.poll() is None
    finally:
        for process in started:
            process.terminate()
        outputs = [p.communicate(timeout=60) for p in started]
    assert loser.returncode == 2
    assert outputs[started.index(loser)][1] == (
        f"archive-core: port {port} on 127.0.0.1 is already in use\n"
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_a_metrics_port_in_use_is_refused(tmp_path: Path, workers: int) -> None:
    pytest.importorskip("prometheus_client")
    with _holder(reuse_port=False) as port:
        result = run(
            "serve", "--db", str(tmp_path / "a.db"), "--port", "0",
            "--workers", str(workers), "--metrics-port", str(port),
        )  # fmt: skip
    assert_one_line(result, f"metrics port {port} on 127.0.0.1 is already in use")


@pytest.mark.parametrize(("flag", "what"), [("--host", "port"), ("--metrics-host", "metrics port")])
def test_a_host_that_cannot_be_listened_on(tmp_path: Path, flag: str, what: str) -> None:
    pytest.importorskip("prometheus_client")
    base = ["serve", "--db", str(tmp_path / "a.db"), "--port", "0", "--metrics-port", "0"]
    unassigned = run(*base, flag, "192.0.2.1")  # TEST-NET-1: never this machine's
    assert_one_line(
        unassigned, f"cannot listen on 192.0.2.1 ({what} 0): Cannot assign requested address"
    )
    unknown = run(*base, flag, "no such host")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith(f"archive-core: cannot listen on 'no such host' ({what} 0): ")
    assert unknown.stderr.count("\n") == 1
    assert "Traceback" not in unknown.stderr


def test_a_log_key_file_or_log_name_that_cannot_be_used(tmp_path: Path) -> None:
    db = str(tmp_path / "a.db")
    missing = tmp_path / "missing.key"
    result = run("serve", "--db", db, "--log-key-file", str(missing))
    assert_one_line(result, f"log key file {missing}: No such file or directory")
    junk = tmp_path / "junk.key"
    junk.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    junk.chmod(0o600)
    result = run("serve", "--db", db, env={"ARCHIVE_CORE_LOG_KEY_FILE": str(junk)})
    assert_one_line(result, f"log key file {junk}: not an unencrypted PEM private key")
    assert "not a key" not in result.stderr
    result = run("serve", "--db", db, "--log-name", "https://log.example")
    assert_one_line(
        result,
        "log name 'https://log.example': a log name has no scheme "
        "(example.com/audit, not https://…)",
    )
