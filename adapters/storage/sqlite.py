"""SQLite storage: every storage port of the core on the standard library's `sqlite3`.

The embedded default: a file path is all a deployment gives.

- **Serialised units of work.** A unit of work borrows a connection from the
  store's small pool and opens `BEGIN IMMEDIATE` on entry, so it holds the file's
  write lock until it ends — exactly like the in-memory store's lock, and across
  processes. Leaving the `with` block without `commit()` rolls back. Connections
  use `isolation_level=None` (the driver never begins or commits on its own),
  `foreign_keys=ON` and a busy timeout; the file is in WAL mode.
- **Reading units** (`store.reading()`, the optional `ReadingUnitOfWorkFactory` port):
  `BEGIN DEFERRED` on a `query_only` connection, so a read takes no lock of ours nor
  the file's write lock: readers in several threads and processes run side by side,
  each on its snapshot, and a reading unit never waits (docs/http.md, "Threads").
- **Durability.** `synchronous=FULL` by default: with WAL, every commit is on disk
  (fsync of the WAL) before `commit()` returns, so an acknowledged archive, a
  consumed token and its audit record survive a crash of the process *and* of the
  machine. `synchronous=NORMAL` is accepted for deployments that prefer speed: it
  still survives a crash of the process, but the last commits may be lost on a
  power cut. `OFF` is refused.
- **Replay store in its own file.** Challenges and nonces are burnt from inside a
  unit of work that already holds the main file's write lock, and a burn must
  survive that unit's rollback, so `SqliteReplayStore` keeps them in a second file
  (by default `<path>-replay`) with its own short transactions.
- **Errors.** Driver errors become the core's: a busy timeout, an I/O error, a full
  disk, a read-only, corrupt or unopenable file → `StorageUnavailable`; a taken id →
  `AlreadyExists`; a version or sequence that moved → `ConcurrencyConflict`.
  Programming errors (bad SQL, misuse of the driver) surface unchanged. A busy
  timeout is "unavailable", not a conflict: retrying would wait as long again.
- **Retention.** `purge` on each store forgets expired grants, challenges and nonces;
  each store also purges by itself every `purge_every` writes.
- **Shared SQL.** The repositories and the signing key store are those of `sql.py`,
  rendered once in this module's `DIALECT`; they build entities through the store's
  memo of values already built from the same stored content (`sql.Memos`).

Nothing touches the file at import time; `SqliteStore(path)` creates the file (mode 0600, it
holds signing keys and signed evidence), switches it to WAL and applies the
migrations of `adapters/storage/migrations/sqlite/`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from threading import get_ident
from types import TracebackType
from typing import Any, ClassVar, Final, NoReturn, Self

from adapters.storage import sql
from adapters.storage.codec import challenge_to_json, iso, micros
from adapters.storage.migrations import Migration, check_applied, load, split_sqlite
from archive_core.entities import Challenge
from archive_core.errors import StorageUnavailable
from archive_core.ids import UserId

__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "DEFAULT_PURGE_EVERY",
    "SYNCHRONOUS_MODES",
    "SqliteChallengeStore",
    "SqliteDatabase",
    "SqliteReplayGuard",
    "SqliteReplayStore",
    "SqliteSigningKeyStore",
    "SqliteStore",
    "SqliteUnitOfWork",
    "translate_error",
]

#: Accepted `synchronous` settings; FULL is the default (see the module docstring).
SYNCHRONOUS_MODES: Final = ("FULL", "EXTRA", "NORMAL")
#: Seconds a connection waits for another one's write lock before giving up.
DEFAULT_BUSY_TIMEOUT: Final = 5.0
#: Each store purges expired entries by itself after this many writes.
DEFAULT_PURGE_EVERY: Final = 1000
_MAX_IDLE: Final = 16


# --------------------------------------------------------------------------- errors


#: Primary result codes that mean the file cannot serve now.
_UNAVAILABLE: Final = frozenset(
    {
        sqlite3.SQLITE_BUSY,  # another connection held the write lock past the busy timeout
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_INTERRUPT,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOTADB,
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_NOLFS,
        sqlite3.SQLITE_AUTH,
    }
)


def translate_error(exc: sqlite3.Error) -> Exception:
    """The core's error for a driver error, or `exc` itself for a programming error.

    A result code saying the file cannot serve now (busy past the timeout, locked,
    I/O error, disk full, read-only, not a database, corrupt, cannot open) becomes
    `StorageUnavailable`. Integrity errors are handled where they have a meaning (an
    id taken, a sequence taken); elsewhere they, like SQL errors, are bugs and surface
    unchanged.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        unavailable = isinstance(exc, sqlite3.OperationalError)
    else:
        unavailable = code & 0xFF in _UNAVAILABLE
    if not unavailable:
        return exc
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    return StorageUnavailable(
        f"sqlite: {name}: {exc}", store="sqlite", driver_error=type(exc).__name__
    )


def _fail(exc: sqlite3.Error) -> NoReturn:
    translated = translate_error(exc)
    if translated is exc:
        raise exc
    raise translated from exc


# --------------------------------------------------------------------------- the file


def _create_private(path: str) -> None:
    """Create the file readable by its owner only, unless it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StorageUnavailable(
            f"sqlite: cannot create {path!r}: {exc.strerror}",
            store="sqlite",
            driver_error=type(exc).__name__,
        ) from exc
    os.close(fd)


class _MigrationStep:
    """A migration's Python step on the migrating connection (`StepConnection`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def rows(self, sql: str, params: Sequence[Any] = (), /) -> list[Any]:
        return self._conn.execute(sql, params).fetchall()

    def run_many(self, sql: str, params: Sequence[tuple[Any, ...]], /) -> None:
        self._conn.executemany(sql, params)


def _migrate(conn: sqlite3.Connection, migrations: tuple[Migration, ...]) -> None:
    """Apply the missing migrations, each with its record, in one IMMEDIATE transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL,"
            " checksum TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        applied = dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())
        check_applied(applied, migrations)
        for migration in migrations:
            if migration.version in applied:
                continue
            for statement in split_sqlite(migration.sql):
                conn.execute(statement)
            if migration.step is not None:
                migration.step(_MigrationStep(conn))
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at)"
                " VALUES (?, ?, ?, ?)",
                (
                    migration.version,
                    migration.name,
                    migration.checksum,
                    datetime.now(UTC).isoformat(),
                ),
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class SqliteDatabase:
    """One SQLite file: its pooled connections, their pragmas, and its migrations.

    A connection is used by one thread at a time (a unit of work, or one replay-store
    operation) and then returned to the pool, so threads share the file safely.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        migrations: str | tuple[Migration, ...] = "sqlite",
        synchronous: str = "FULL",
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> None:
        self.path = os.fspath(path)
        if not self.path or self.path == ":memory:" or self.path.startswith("file:"):
            raise ValueError(
                "SQLite storage needs a file path (in-memory: adapters.storage.memory)"
            )
        mode = synchronous.upper()
        if mode not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}")
        if busy_timeout < 0:
            raise ValueError("busy_timeout must not be negative")
        self.synchronous = mode
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._closed = False
        _forget_in_forked_children(self)
        planned = load(migrations) if isinstance(migrations, str) else migrations
        _create_private(self.path)
        conn = self._connect()
        try:
            (journal,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            if str(journal).lower() != "wal":
                raise StorageUnavailable(
                    f"sqlite: cannot switch {self.path!r} to WAL", store="sqlite"
                )
            _migrate(conn, planned)
        except sqlite3.Error as exc:
            conn.close()
            _fail(exc)
        except BaseException:
            conn.close()
            raise
        self.release(conn)

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=256,
            )
        except sqlite3.Error as exc:
            _fail(exc)
        try:
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.create_function("instant_us", 1, _instant_us, deterministic=True)
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        except sqlite3.Error as exc:
            conn.close()
            _fail(exc)
        return conn

    def acquire(self) -> sqlite3.Connection:
        """A connection for the calling thread's exclusive use until `release`."""
        with self._lock:
            if self._closed:
                raise StorageUnavailable(f"sqlite: {self.path!r} is closed", store="sqlite")
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def forget_after_fork(self) -> None:
        """In a forked child: drop the parent's connections without touching them."""
        self._lock = threading.Lock()
        self._idle = []

    def release(self, conn: sqlite3.Connection, *, broken: bool = False) -> None:
        """Give a connection back (closed instead when broken, surplus or after close)."""
        with self._lock:
            if not (broken or self._closed or len(self._idle) >= _MAX_IDLE):
                self._idle.append(conn)
                return
        conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A short `BEGIN IMMEDIATE` … `COMMIT` on a pooled connection, errors translated."""
        conn = self.acquire()
        broken = False
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            broken = _abandon(conn)
            _fail(exc)
        except BaseException:
            broken = _abandon(conn)
            raise
        finally:
            self.release(conn, broken=broken)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One write in a short `BEGIN IMMEDIATE` transaction of its own; its row count."""
        with self.transaction() as conn:
            return conn.execute(sql, params).rowcount

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of one read in autocommit mode (WAL readers never wait for the writer)."""
        conn = self.acquire()
        try:
            rows = conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            self.release(conn, broken=_abandon(conn))
            _fail(exc)
        self.release(conn)
        return rows

    def close(self) -> None:
        """Close idle connections; borrowed ones close when given back. Idempotent."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


_open_databases: weakref.WeakSet[Any] = weakref.WeakSet()
_fork_hook: list[bool] = []


def _forget_in_forked_children(holder: SqliteDatabase | SqliteStore) -> None:
    """A forked child must not use its parent's connections (SQLite forbids it)."""
    _open_databases.add(holder)
    if not _fork_hook and hasattr(os, "register_at_fork"):
        _fork_hook.append(True)
        os.register_at_fork(after_in_child=_after_fork)


def _after_fork() -> None:
    for database in list(_open_databases):
        database.forget_after_fork()


def _abandon(conn: sqlite3.Connection) -> bool:
    """Roll back whatever is open; True when the connection is unusable."""
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        return True
    return False


# --------------------------------------------------------------------------- unit of work


_BEGIN_WRITE: Final = "BEGIN IMMEDIATE"
_BEGIN_READ: Final = "BEGIN DEFERRED"
_DATA_VERSION: Final = "PRAGMA data_version"
#: A reader's session remembers at most this many reads, each of at most as many rows.
_MEMO_ROWS: Final = 256
_UNREAD: Final[Any] = object()
_QUERY_ONLY: Final = "PRAGMA query_only = 1"
_READ_WRITE: Final = "PRAGMA query_only = 0"


def _outside() -> RuntimeError:
    return RuntimeError("the unit of work is used outside its `with` block (or thread)")


class _Session:
    """A connection with the six repositories bound to it, lent to one unit of work (and
    its thread) at a time: `BEGIN IMMEDIATE` on checkout and again before the first
    statement after a commit or rollback; driver errors translated (`sql.Session`).

    A reader's session remembers the rows its reads returned (`memo`) for as long as
    the file's `PRAGMA data_version` stays what it was: read at the start of each
    reading transaction (which fixes the transaction's snapshot), it changes with every
    commit of any other connection, of this process or another. This connection's own
    commits do not change it, so a session that writes forgets its rows first.

    `execute`, `one` and `all` repeat their few lines on purpose: each statement of the
    archive path is one call from a repository to the driver, with no helper between.
    """

    __slots__ = (
        "applications",
        "audit",
        "begin",
        "conn",
        "credentials",
        "memo",
        "owner",
        "permissions",
        "user_actions",
        "users",
        "version",
    )

    def __init__(self, store: SqliteStore, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.owner: int | None = None
        #: how this session's transactions begin: IMMEDIATE, or DEFERRED for a reader
        self.begin = _BEGIN_WRITE
        #: a reader's rows by (statement, parameters, one or all); None for a writer
        self.memo: dict[tuple[str, tuple[Any, ...], bool], Any] | None = None
        #: the `data_version` the memo's rows were read at
        self.version = -1
        self.users = SqliteUserRepository(store, self)
        self.credentials = SqliteCredentialRepository(store, self)
        self.applications = SqliteApplicationRepository(store, self)
        self.permissions = SqlitePermissionRepository(store, self)
        self.user_actions = SqliteUserActionStore(store, self)
        self.audit = SqliteAuditLog(store, self)

    @property
    def reading(self) -> bool:
        """Whether this session's transactions only read (`query_only`)."""
        return self.begin is _BEGIN_READ

    def open(self) -> None:
        """Begin a transaction; a reader's also reads the file's `data_version` (which
        fixes its snapshot) and forgets its rows when the version moved."""
        conn = self.conn
        conn.execute(self.begin)
        if self.begin is _BEGIN_READ:
            (version,) = conn.execute(_DATA_VERSION).fetchone()
            memo = self.memo
            if memo is None or version != self.version or len(memo) > _MEMO_ROWS:
                self.memo = {}
                self.version = version

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        if self.owner != get_ident():
            raise _outside()
        conn = self.conn
        try:
            if not conn.in_transaction:
                self.open()
            return conn.execute(sql, params).rowcount
        except sqlite3.Error as exc:
            _fail(exc)

    def one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        if self.owner != get_ident():
            raise _outside()
        conn = self.conn
        try:
            if not conn.in_transaction:
                self.open()
            memo = self.memo
            if memo is None or type(params) is not tuple:
                return conn.execute(sql, params).fetchone()
            key = (sql, params, True)
            row = memo.get(key, _UNREAD)
            if row is _UNREAD:
                row = memo[key] = conn.execute(sql, params).fetchone()
            return row
        except sqlite3.Error as exc:
            _fail(exc)

    def all(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        if self.owner != get_ident():
            raise _outside()
        conn = self.conn
        try:
            if not conn.in_transaction:
                self.open()
            memo = self.memo
            if memo is None or type(params) is not tuple:
                return conn.execute(sql, params).fetchall()
            key = (sql, params, False)
            rows = memo.get(key, _UNREAD)
            if rows is _UNREAD:
                rows = conn.execute(sql, params).fetchall()
                if len(rows) <= _MEMO_ROWS:
                    memo[key] = tuple(rows)
                return rows
            return list(rows)
        except sqlite3.Error as exc:
            _fail(exc)

    def finish(self, statement: str) -> None:
        """COMMIT or ROLLBACK whatever is open."""
        if self.owner != get_ident():
            raise _outside()
        conn = self.conn
        try:
            if conn.in_transaction:
                conn.execute(statement)
        except sqlite3.Error as exc:
            _fail(exc)


def _instant_us(text: str) -> int:
    """SQL `instant_us(t)`: a stored ISO-8601 time as integer microseconds since the
    epoch, so that times written with different offsets compare as instants."""
    return micros(datetime.fromisoformat(text))


#: How SQLite says the statements of `sql.py`: integer booleans, lists as JSON read
#: through `json_each`, times as ISO-8601 text, expiries as integer microseconds
#: (`expires_us`).
DIALECT: Final = sql.Dialect(
    param="?",
    named=":{}",
    casts=False,
    words={
        "true": "1",
        "false": "0",
        "in_operations": "IN (SELECT value FROM json_each(:operations))",
        "in_kinds": "IN (SELECT value FROM json_each(:kinds))",
        "in_users": "IN (SELECT value FROM json_each(:users))",
        "each_element": "value FROM json_each(?) WHERE true",
        "expires": "expires_us",
        "performed": "instant_us(performed_at)",
        "actor": "json_extract(record, '$.actorId')",
    },
    load_time=datetime.fromisoformat,
    store_time=iso,
    store_expiry=micros,
    store_list=json.dumps,
    unique_violation=lambda exc: (
        isinstance(exc, sqlite3.IntegrityError)
        and getattr(exc, "sqlite_errorname", "") == "SQLITE_CONSTRAINT_UNIQUE"
    ),
)


class SqliteUserRepository(sql.UserRepository, dialect=DIALECT):
    """Users of a `SqliteStore`."""

    __slots__ = ()


class SqliteCredentialRepository(sql.CredentialRepository, dialect=DIALECT):
    """Credentials of a `SqliteStore`."""

    __slots__ = ()


class SqliteApplicationRepository(sql.ApplicationRepository, dialect=DIALECT):
    """Applications of a `SqliteStore`."""

    __slots__ = ()


class SqlitePermissionRepository(sql.PermissionRepository, dialect=DIALECT):
    """Permissions and assignments of a `SqliteStore`."""

    __slots__ = ()


class SqliteUserActionStore(sql.UserActionStore, dialect=DIALECT):
    """Issued user action grants of a `SqliteStore`; consuming one is a conditional update."""

    __slots__ = ()


class SqliteAuditLog(sql.AuditLog, dialect=DIALECT):
    """The append-only audit log of a `SqliteStore` (triggers refuse updates and deletes)."""

    __slots__ = ()


class SqliteUnitOfWork:
    """One `BEGIN IMMEDIATE` transaction over a `SqliteStore`: rollback unless committed."""

    __slots__ = (
        "_reading",
        "_session",
        "_store",
        "applications",
        "audit",
        "committed",
        "credentials",
        "permissions",
        "user_actions",
        "users",
    )
    users: SqliteUserRepository
    credentials: SqliteCredentialRepository
    applications: SqliteApplicationRepository
    permissions: SqlitePermissionRepository
    user_actions: SqliteUserActionStore
    audit: SqliteAuditLog

    def __init__(self, store: SqliteStore, *, reading: bool = False) -> None:
        self._store = store
        self._reading = reading
        self._session: _Session | None = None
        self.committed = False

    def __enter__(self) -> Self:
        """Borrow a connection and take the file's write lock (`BEGIN IMMEDIATE`); a
        reading unit takes none (`BEGIN DEFERRED`, the connection `query_only`)."""
        session = self._store.checkout(reading=self._reading)
        self._session = session
        self.users = session.users
        self.credentials = session.credentials
        self.applications = session.applications
        self.permissions = session.permissions
        self.user_actions = session.user_actions
        self.audit = session.audit
        self.committed = False
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back what was not committed and give the connection back."""
        session, self._session = self._session, None
        if session is not None:
            self._store.checkin(session)

    def commit(self) -> None:
        """Make every change of this unit visible at once (durable per `synchronous`)."""
        if self._session is None:
            raise _outside()
        self._session.finish("COMMIT")
        self.committed = True

    def rollback(self) -> None:
        """Discard every change since the last commit."""
        if self._session is None:
            raise _outside()
        self._session.finish("ROLLBACK")


class SqliteSigningKeyStore(sql.SigningKeyStore, dialect=DIALECT):
    """Server signing keys in the main SQLite file (as private as the file itself).

    Reads never wait (WAL); `add` and `retire` take the write lock briefly, so call
    them outside a unit of work of the same store.
    """

    __slots__ = ()
    reads_wait: ClassVar[bool] = False
    writes_wait: ClassVar[bool] = True


class _File:
    """A store in one SQLite file: its options checked, the file opened and migrated
    (`_MIGRATIONS`), closed on leaving a `with` block; `_opened` sets up the rest."""

    _MIGRATIONS: ClassVar[str]

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "FULL",
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        purge_every: int = DEFAULT_PURGE_EVERY,
    ) -> None:
        if purge_every < 1:
            raise ValueError("purge_every must be positive")
        self.database = SqliteDatabase(
            path,
            migrations=self._MIGRATIONS,
            synchronous=synchronous,
            busy_timeout=busy_timeout,
        )
        self.path = self.database.path
        self.purge_every = purge_every
        self._opened()

    def _opened(self) -> None:
        """Set up what the store holds besides its file."""

    def close(self) -> None:
        """Close the file's connections (idempotent)."""
        self.database.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class SqliteStore(_File):
    """The transactional store in one SQLite file; calling it starts a unit of work.

    `SqliteStore(path, *, synchronous="FULL", busy_timeout=5.0, purge_every=1000)`.
    """

    _MIGRATIONS = "sqlite"
    # A reading unit takes no lock (WAL) and syncs nothing; any other unit takes the
    # file's write lock (`BEGIN IMMEDIATE`, up to the busy timeout) and syncs its commit.
    reads_wait: ClassVar[bool] = False
    writes_wait: ClassVar[bool] = True

    def _opened(self) -> None:
        self.writes = itertools.count(1)
        self.memo = sql.Memos(DIALECT, remember=True)
        self.signing_keys = SqliteSigningKeyStore(self.database)
        self._lock = threading.Lock()
        self._sessions: list[_Session] = []
        self._closed = False
        self._trace: Callable[[str], object] | None = None
        _forget_in_forked_children(self)

    def unit_of_work(self) -> SqliteUnitOfWork:
        """A new, not yet entered, unit of work (the `UnitOfWorkFactory`)."""
        return SqliteUnitOfWork(self)

    __call__ = unit_of_work

    def reading(self) -> SqliteUnitOfWork:
        """A unit of work for reads only: it takes no write lock, so readers in other
        threads and processes run beside each other and beside one writer (WAL), each on
        the snapshot of its first read. Its connection is `query_only` meanwhile."""
        return SqliteUnitOfWork(self, reading=True)

    def checkout(self, *, reading: bool = False) -> _Session:
        """A session for the calling thread, its transaction begun (`BEGIN IMMEDIATE`, or
        `BEGIN DEFERRED` and `query_only` for a reader)."""
        if self._closed:
            raise StorageUnavailable(f"sqlite: {self.path!r} is closed", store="sqlite")
        try:
            session = self._sessions.pop()  # atomic: no lock on the hot path
        except IndexError:
            conn = self.database.acquire()
            conn.set_trace_callback(self._trace)
            session = _Session(self, conn)
        session.owner = get_ident()
        begin = _BEGIN_READ if reading else _BEGIN_WRITE
        try:
            if session.begin is not begin:  # the mode changes: so does query_only
                session.conn.execute(_QUERY_ONLY if reading else _READ_WRITE)
                session.begin = begin
                session.memo = None  # its own commits would not move data_version
            session.open()
        except sqlite3.Error as exc:
            self.checkin(session)
            _fail(exc)
        return session

    def checkin(self, session: _Session) -> None:
        """Take a session back: roll back what is open, keep it for the next unit."""
        session.owner = None
        if _abandon(session.conn) or self._closed or len(self._sessions) >= _MAX_IDLE:
            session.conn.close()
            return
        self._sessions.append(session)  # atomic: no lock on the hot path
        if self._closed:  # closed meanwhile: close() may have missed it
            with contextlib.suppress(ValueError):
                self._sessions.remove(session)
                session.conn.close()

    def set_trace(self, callback: Callable[[str], object] | None) -> None:
        """Pass every statement units of work run to `callback` (None: stop). For
        debugging, tests and the benchmark; call it while no unit of work runs."""
        with self._lock:
            self._trace = callback
            for session in self._sessions:
                session.conn.set_trace_callback(callback)

    def forget_after_fork(self) -> None:
        """In a forked child: drop the parent's sessions without touching them."""
        self._lock = threading.Lock()
        self._sessions = []

    def row_counts(self) -> dict[str, int]:
        """Rows per table (what retention keeps bounded), for monitoring and tests."""
        return dict(self.database.query(sql.ROW_COUNTS))

    def close(self) -> None:
        """Close the file's connections (idempotent)."""
        with self._lock:
            self._closed = True
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.conn.close()
        self.database.close()


# --------------------------------------------------------------------------- replay store


class SqliteChallengeStore:
    """Open challenges in the replay file; `take` is one atomic `DELETE … RETURNING`."""

    def __init__(self, database: SqliteDatabase, *, purge_every: int) -> None:
        self._db = database
        self._purge_every = purge_every
        self._writes = itertools.count(1)

    def put(self, challenge: Challenge) -> None:
        """Store an open challenge until its expiry (expired ones are purged now and then)."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO challenges (key, user_id, expires_us, payload) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET user_id = excluded.user_id,"
                " expires_us = excluded.expires_us, payload = excluded.payload",
                (
                    challenge.key,
                    challenge.user_id,
                    micros(challenge.expires_at),
                    challenge_to_json(challenge),
                ),
            )
            if next(self._writes) % self._purge_every == 0:
                _purge_challenges(conn, challenge.issued_at)

    def take(self, key: str, *, user_id: UserId, now: datetime) -> Challenge | None:
        """Remove and return the caller's unexpired challenge; a foreign caller neither
        sees nor burns it; an expired one is burnt and not returned."""
        with self._db.transaction() as conn:
            rows = conn.execute(
                "DELETE FROM challenges WHERE key = ? AND user_id = ? RETURNING payload",
                (key, user_id),
            ).fetchall()
        return sql.taken_challenge(rows, now)

    def purge(self, *, now: datetime) -> int:
        """Forget expired challenges; return how many."""
        with self._db.transaction() as conn:
            return _purge_challenges(conn, now)

    def count(self) -> int:
        """How many entries are stored now (expired ones not yet purged included)."""
        return int(self._db.query("SELECT COUNT(*) FROM challenges")[0][0])


def _purge_challenges(conn: sqlite3.Connection, now: datetime) -> int:
    return conn.execute("DELETE FROM challenges WHERE expires_us <= ?", (micros(now),)).rowcount


class SqliteReplayGuard:
    """Request nonces in the replay file; the first use is one conditional upsert."""

    def __init__(self, database: SqliteDatabase, *, purge_every: int) -> None:
        self._db = database
        self._purge_every = purge_every
        self._writes = itertools.count(1)

    def first_use(self, key: str, *, expires_at: datetime, now: datetime) -> bool:
        """Record `key` through `expires_at`; True only for its first use while remembered."""
        now_us = micros(now)
        with self._db.transaction() as conn:
            fresh = (
                conn.execute(
                    "INSERT INTO nonces (key, expires_us) VALUES (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET expires_us = excluded.expires_us"
                    " WHERE nonces.expires_us < ?",
                    (key, micros(expires_at), now_us),
                ).rowcount
                == 1
            )
            if next(self._writes) % self._purge_every == 0:
                _purge_nonces(conn, now_us)
        return fresh

    def purge(self, *, now: datetime) -> int:
        """Forget keys whose expiry has passed; return how many."""
        with self._db.transaction() as conn:
            return _purge_nonces(conn, micros(now))

    def count(self) -> int:
        """How many entries are stored now (expired ones not yet purged included)."""
        return int(self._db.query("SELECT COUNT(*) FROM nonces")[0][0])


def _purge_nonces(conn: sqlite3.Connection, now_us: int) -> int:
    return conn.execute("DELETE FROM nonces WHERE expires_us < ?", (now_us,)).rowcount


class SqliteReplayStore(_File):
    """The replay file: challenges and nonces, shared by every process on the machine.

    `SqliteReplayStore(path, *, synchronous="FULL", busy_timeout=5.0, purge_every=1000)`.
    """

    _MIGRATIONS = "sqlite_replay"

    def _opened(self) -> None:
        self.challenges = SqliteChallengeStore(self.database, purge_every=self.purge_every)
        self.replay_guard = SqliteReplayGuard(self.database, purge_every=self.purge_every)
