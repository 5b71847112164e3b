"""A PostgreSQL primary and its synchronous standby on this machine, in a temporary
directory: what the failover tests and the durability benchmark run on.

    problem = replication_problem()          # None, or why no pair can be made here
    with ReplicatedPostgres.create() as pair:
        pair.url                              # postgresql://…:P,…:S/postgres?target_session_attrs=read-write
        pair.keywords                         # the same as libpq keywords
        pair.stop(pair.standby)               # the standby gone: commits wait on it
        pair.stop(pair.primary, mode="immediate")
        pair.promote(pair.standby)            # the standby is the primary now

The servers are the machine's own PostgreSQL binaries (Debian's
`/usr/lib/postgresql/<version>/bin`, or `ARCHIVE_CORE_PG_BINDIR`), run with `initdb`,
`pg_ctl` and `pg_basebackup` — not `pg_createcluster`, so nothing is registered with the
system and nothing outlives `close()`. As root they run as the `postgres` user (initdb
refuses root); as anyone else, as that user. Ports are free ones picked at creation;
sockets live in the temporary directory. The standby is `pg_basebackup -R` of the
primary, and only then is it named in the primary's `synchronous_standby_names`: so the
standby's own configuration has no synchronous standby, and once promoted it commits
without one until a standby rejoins (what Patroni does outside strict synchronous mode).
`rewind(old, source=new)` turns a stopped former primary into a standby of the new one
with `pg_rewind` (`wal_log_hints` is on for that) — the only way it may come back.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Final, Self

import attrs
import psycopg

__all__ = ["Node", "ReplicatedPostgres", "replication_problem"]

BINDIR_ENV: Final = "ARCHIVE_CORE_PG_BINDIR"
_TOOLS: Final = ("initdb", "pg_ctl", "pg_basebackup", "pg_rewind")
_START_TIMEOUT: Final = 30


def _bindir() -> Path | None:
    """The directory of the PostgreSQL server binaries, or None."""
    chosen = os.environ.get(BINDIR_ENV)
    candidates = [Path(chosen)] if chosen else []
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += debian
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for candidate in candidates:
        if all((candidate / tool).is_file() for tool in _TOOLS):
            return candidate
    return None


def _run_as() -> pwd.struct_passwd | None:
    """The account the servers run as: `postgres` for root, None for oneself."""
    if os.geteuid() != 0:
        return None
    return pwd.getpwnam("postgres")


def replication_problem() -> str | None:
    """Why no primary/standby pair can be made on this machine, or None."""
    if _bindir() is None:
        return (
            f"the PostgreSQL server binaries ({', '.join(_TOOLS)}) are not installed "
            f"(set {BINDIR_ENV} to their directory)"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no postgres user to run PostgreSQL as"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@attrs.frozen
class Node:
    """One PostgreSQL server of the pair."""

    name: str
    data: Path
    port: int

    @property
    def dsn(self) -> str:
        """A libpq URL of this server alone."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self.data.parent / f"{self.name}.log"


class ReplicatedPostgres:
    """A primary and its synchronous standby (see the module's doc)."""

    def __init__(self, root: Path, bindir: Path, *, fsync: bool = False) -> None:
        self.root = root
        self.bindir = bindir
        self.fsync = fsync
        self.primary = Node("primary", root / "primary", _free_port())
        self.standby = Node("standby", root / "standby", _free_port())
        self._account = _run_as()

    @classmethod
    def create(cls, *, fsync: bool = False) -> ReplicatedPostgres:
        """A running pair: the standby streaming, synchronous, in sync. Without `fsync`
        the servers never flush to disk: a crashed server process loses nothing (the
        operating system keeps what was written), which is what the tests make; with it,
        commits cost what they cost in production (the benchmark)."""
        problem = replication_problem()
        bindir = _bindir()
        if problem is not None or bindir is None:
            raise RuntimeError(problem)
        pair = cls(Path(tempfile.mkdtemp(prefix="archive-core-pg-")), bindir, fsync=fsync)
        try:
            pair._build()
        except BaseException:
            pair.close()
            raise
        return pair

    # ----------------------------------------------------------------------- what tests use

    @property
    def url(self) -> str:
        """The multi-host URL over both nodes: whichever is the primary answers."""
        return (
            f"postgresql://postgres@127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}"
            "/postgres?target_session_attrs=read-write"
        )

    @property
    def keywords(self) -> str:
        """The same, in libpq's keyword form."""
        return (
            f"host=127.0.0.1,127.0.0.1 port={self.primary.port},{self.standby.port}"
            " user=postgres dbname=postgres target_session_attrs=read-write"
        )

    def stop(self, node: Node, *, mode: str = "fast") -> None:
        """`pg_ctl stop -m MODE` (`immediate`: a crash, no shutdown checkpoint)."""
        self._tool("pg_ctl", "stop", "-D", str(node.data), "-m", mode, "-w")

    def start(self, node: Node) -> None:
        """Start a stopped node and wait until it accepts connections."""
        self._tool(
            "pg_ctl", "start", "-D", str(node.data), "-l", str(node.log), "-w",
            "-t", str(_START_TIMEOUT),
        )  # fmt: skip

    def promote(self, node: Node) -> None:
        """`pg_ctl promote`, waiting until the node takes writes."""
        self._tool("pg_ctl", "promote", "-D", str(node.data), "-w", "-t", str(_START_TIMEOUT))

    def make_synchronous(self, primary: Node, standby: Node) -> None:
        """Name `standby` in `primary`'s `synchronous_standby_names`; wait until it is in sync."""
        with self.connect(primary) as conn:
            conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{standby.name}'")
            conn.execute("SELECT pg_reload_conf()")
        try:
            self.wait_for(lambda: self.sync_state(primary, standby) == "sync", "sync")
        except AssertionError:
            raise AssertionError(f"{standby.name} never got in sync:\n{self._logs()}") from None

    def make_asynchronous(self, primary: Node, standby: Node) -> None:
        """Empty `primary`'s `synchronous_standby_names`: `standby` still streams, and
        commits no longer wait for it."""
        with self.connect(primary) as conn:
            conn.execute("ALTER SYSTEM SET synchronous_standby_names = ''")
            conn.execute("SELECT pg_reload_conf()")
        self.wait_for(lambda: self.sync_state(primary, standby) == "async", "async")

    def sync_state(self, primary: Node, standby: Node) -> str | None:
        """`standby`'s `sync_state` as `primary`'s `pg_stat_replication` shows it."""
        with self.connect(primary) as conn:
            row = conn.execute(
                "SELECT sync_state FROM pg_stat_replication WHERE application_name = %s",
                (standby.name,),
            ).fetchone()
        return None if row is None else str(row[0])

    def rewind(self, old: Node, *, source: Node) -> None:
        """Bring the stopped former primary `old` back as a standby of `source`:
        `pg_rewind` discards what it wrote past the point the two diverged, then it
        starts streaming from `source` under its own name."""
        # pg_rewind reads the source's timeline from its control file, which a promotion
        # updates only at its next checkpoint (a spread one): without this, the source
        # still looks like the old timeline and nothing is rewound.
        with self.connect(source) as conn:
            conn.execute("CHECKPOINT")
        self._tool(
            "pg_rewind", f"--target-pgdata={old.data}", f"--source-server={self._conninfo(source)}",
            "--write-recovery-conf", "--no-sync",
        )  # fmt: skip
        self._configure(old, f"cluster_name = '{old.name}'")
        self.start(old)

    def connect(self, node: Node) -> psycopg.Connection[Any]:
        """An autocommit connection to one node."""
        return psycopg.connect(node.dsn, autocommit=True, connect_timeout=5)

    @staticmethod
    def wait_for(condition: Any, what: str, *, seconds: float = 30.0) -> None:
        """Poll `condition()` until true (AssertionError naming `what` after `seconds`)."""
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def close(self) -> None:
        """Stop both servers (if running) and remove everything (idempotent)."""
        for node in (self.primary, self.standby):
            if (node.data / "postmaster.pid").exists():
                self._tool("pg_ctl", "stop", "-D", str(node.data), "-m", "immediate", "-w",
                           check=False)  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------------- building

    def _build(self) -> None:
        if self._account is not None:
            os.chown(self.root, self._account.pw_uid, self._account.pw_gid)
        primary, standby = self.primary, self.standby
        self._tool(
            "initdb", "--no-sync", "--auth=trust", "--username=postgres", "--encoding=UTF8",
            "--locale=C", "-D", str(primary.data),
        )  # fmt: skip
        self._configure(
            primary,
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.root}'",
            "wal_level = replica",
            "max_wal_senders = 4",
            "wal_log_hints = on",
            "wal_keep_size = 256MB",
            f"fsync = {'on' if self.fsync else 'off'}",
            "max_connections = 60",
            "shared_buffers = 32MB",
            f"cluster_name = '{primary.name}'",
        )
        self.start(primary)
        self._tool(
            "pg_basebackup", "-d", self._conninfo(primary), "-D", str(standby.data),
            "--write-recovery-conf", "--wal-method=fetch", "--checkpoint=fast", "--no-sync",
        )  # fmt: skip
        self._configure(standby, f"cluster_name = '{standby.name}'")
        self.start(standby)
        self.make_synchronous(primary, standby)

    def _configure(self, node: Node, *lines: str) -> None:
        """Settings appended to the node's postgresql.conf (the last one read wins)."""
        settings = [*lines, f"port = {node.port}"]
        with (node.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n" + "\n".join(settings) + "\n")

    @staticmethod
    def _conninfo(node: Node) -> str:
        return f"host=127.0.0.1 port={node.port} user=postgres dbname=postgres"

    def _tool(self, tool: str, *args: str, check: bool = True) -> None:
        account = self._account
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        result = subprocess.run(  # noqa: S603 - the server's own binaries, our arguments
            [str(self.bindir / tool), *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            user=None if account is None else account.pw_uid,
            group=None if account is None else account.pw_gid,
            extra_groups=None if account is None else [],
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}{self._logs()}"
            )

    def _logs(self) -> str:
        tails = []
        for node in (self.primary, self.standby):
            if node.log.exists():
                lines = node.log.read_text(errors="replace").splitlines()[-20:]
                tails.append(f"--- {node.name}'s log:\n" + "\n".join(lines))
        return "\n".join(tails)
