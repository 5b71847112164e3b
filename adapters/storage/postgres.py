"""PostgreSQL storage: every storage port of the core on psycopg 3 and psycopg_pool.

The same ports and guarantees as the SQLite adapter, for deployments with several
server instances sharing one database.

- **Units of work** are `READ COMMITTED` transactions on a pooled connection (the
  isolation level is set per connection, whatever the server's default). Nothing
  serialises whole units of work; instead every write that a concurrent unit could
  invalidate is conditional and checked by its row count:
  - a user action grant is consumed by `UPDATE … SET used_at = … WHERE token_id = …
    AND used_at IS NULL` (a concurrent consumer waits on the row lock, re-reads the
    row and finds it used);
  - a user is updated `WHERE id = … AND version = …` (`ConcurrencyConflict` when the
    version moved: no lost update);
  - ids are inserted with `ON CONFLICT DO NOTHING` (`AlreadyExists` on 0 rows, and the
    transaction stays usable);
  - an audit record is inserted only if its sequence follows the org's head, and
    `(org_id, sequence)` is the primary key (`ConcurrencyConflict` otherwise).
- **Per-org lock.** `has_other_active_holder` (the lock-out guard) and `audit.head`
  first take `pg_advisory_xact_lock` on the org, held to the end of the transaction.
  Two concurrent archives of an org's last two admins would otherwise each see the
  other admin still active (write skew) and both commit; with the lock the second
  waits, and since `READ COMMITTED` takes a fresh snapshot per statement, its query
  then sees the first archive. The same lock makes concurrent archives in one org
  append to its audit chain in turn instead of failing on the sequence, and makes the
  core's second read of the caller (current at commit) see a deactivation or archive
  of that caller committed while it waited.
- **Errors.** Serialization failures, deadlocks and lock time-outs →
  `ConcurrencyConflict` (the core retries a bounded number of times); connection
  failures, pool time-outs, admin shutdown, resource exhaustion, a read-only
  server → `StorageUnavailable`. Messages name the SQLSTATE only, never server text.
- **Dropped connections.** Both pools check a connection before handing it out
  (`ConnectionPool.check_connection`), so connections the server dropped while they
  sat in the pool (a restart, a failover, `pg_terminate_backend`) are replaced
  without failing a request; only a connection lost *during* a unit of work answers
  503. A lost connection is retried for `RECONNECT_WINDOW` seconds, then left to the
  next request that needs one, which tries at once: after a failover the pools reach
  the new primary (a multi-host DSN with `target_session_attrs=read-write`) within
  about a second of the first request or probe that follows its promotion.
  Connections carry `application_name` `archive-core:<schema>` (unless the DSN sets
  one), so an operator sees them in `pg_stat_activity`.
- **Bounded commits.** Every COMMIT, every statement of the autocommit pool (each its
  own commit) and the pools' check of a connection are held to `commit_timeout`
  seconds (`DEFAULT_COMMIT_TIMEOUT`): with `synchronous_standby_names` set and the
  standby gone, PostgreSQL waits for it forever, and `statement_timeout` does not end
  that wait. When the time is up, a watchdog thread (`watchdog.py`) sends the server a
  cancel request; if the server has not answered a second later, the connection's
  socket is shut. Cancelled in
  that wait, PostgreSQL commits locally, sends a WARNING and reports success: so a
  commit whose bound fired, or during which the server sent any WARNING (told by its
  severity, never by its text), is not acknowledged — `StorageUnavailable` (503), and
  the connection is closed rather than pooled again.
- **Replay store and signing keys** use a second pool of autocommit connections:
  a burnt nonce or a taken challenge is committed at once and survives the rollback
  of the request's unit of work, and a unit of work holding a connection never waits
  for a second one from the same pool.
- **Shared SQL.** The repositories and the signing key store are those of `sql.py`,
  rendered once in this module's `DIALECT`; the per-org lock is all PostgreSQL's
  repositories add. Built values are not memoised here (`sql.Memos(remember=False)`).

Nothing connects at import time; `PostgresStore(dsn)` opens the pools, creates the
schema if needed and applies the migrations of `adapters/storage/migrations/postgres/`
under an advisory lock (so concurrent starts migrate once).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import re
import socket
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import Any, Final, NoReturn, Self, TypeVar

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from adapters.storage import sql
from adapters.storage.codec import challenge_to_json
from adapters.storage.migrations import Migration, check_applied, load
from adapters.storage.watchdog import Alarm, Watchdog
from archive_core.audit import AuditRecord
from archive_core.entities import Challenge, UserKind
from archive_core.errors import ConcurrencyConflict, StorageUnavailable
from archive_core.ids import OrgId, UserId

__all__ = [
    "DEFAULT_COMMIT_TIMEOUT",
    "DEFAULT_PURGE_EVERY",
    "DEFAULT_SCHEMA",
    "RECONNECT_WINDOW",
    "PostgresChallengeStore",
    "PostgresReplayGuard",
    "PostgresSigningKeyStore",
    "PostgresStore",
    "PostgresUnitOfWork",
    "translate_error",
]

DEFAULT_SCHEMA: Final = "archive_core"
#: Each store purges expired entries by itself after this many writes (per process).
DEFAULT_PURGE_EVERY: Final = 1000
#: Seconds a COMMIT may wait (on a synchronous standby) before it is cancelled and
#: answered as not acknowledged.
DEFAULT_COMMIT_TIMEOUT: Final = 5.0
#: Seconds a pool retries a lost connection (after 1 s, then 2 s) before it leaves the
#: next attempt to the next request that needs a connection.
RECONNECT_WINDOW: Final = 2.0
# After a cancel request, how long the server has to answer before the socket is shut.
_SEVER_AFTER: Final = 1.0
_SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}\Z")
_CONFLICT_STATES: Final = frozenset({"40001", "40P01", "55P03"})
_UNAVAILABLE_CLASSES: Final = frozenset({"08", "53", "57", "58"})
_UNAVAILABLE_STATES: Final = frozenset({"25006"})  # read-only transaction (a standby)


def _lock_key(*parts: str) -> int:
    """A signed 64-bit advisory lock key for these parts."""
    digest = hashlib.blake2b("\x00".join(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


_MIGRATION_LOCK: Final = _lock_key("archive-core", "migrations")


# --------------------------------------------------------------------------- errors


def translate_error(exc: Exception) -> Exception:
    """The core's error for a driver or pool error, or `exc` itself for anything else
    (integrity errors where they mean nothing, programming errors)."""
    state = getattr(exc, "sqlstate", None) or ""
    if state in _CONFLICT_STATES:
        return ConcurrencyConflict(f"postgresql: {type(exc).__name__} ({state})")
    if (
        isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
        or state[:2] in _UNAVAILABLE_CLASSES
        or state in _UNAVAILABLE_STATES
    ):
        return StorageUnavailable(
            f"postgresql: {type(exc).__name__} ({state or 'no sqlstate'})",
            store="postgresql",
            driver_error=type(exc).__name__,
        )
    return exc


def _fail(exc: Exception) -> NoReturn:
    translated = translate_error(exc)
    if translated is exc:
        raise exc
    raise translated from exc


# --------------------------------------------------------------------------- bounded commits

_T = TypeVar("_T")


class _Watch:
    """One statement's bound: the watchdog's alarm, the cut a second after it, and
    whether the server sent a WARNING while the statement ran."""

    __slots__ = ("_alarm", "_conn", "_cut", "_ended", "_lock", "_watchdog", "fired", "warned")

    def __init__(self, watchdog: Watchdog, conn: psycopg.Connection[Any], seconds: float) -> None:
        self._watchdog = watchdog
        self._conn = conn
        self._lock = threading.Lock()
        self._ended = False
        self._cut: Alarm | None = None
        self.fired = False
        self.warned = False
        conn.add_notice_handler(self._notice)
        self._alarm = watchdog.arm(seconds, self._cancel)

    def _notice(self, diagnostic: psycopg.errors.Diagnostic) -> None:
        # The severity, never the text: the text follows the server's lc_messages.
        if diagnostic.severity_nonlocalized == "WARNING":
            self.warned = True

    def _cancel(self) -> None:
        """The bound fired: ask the server to cancel; shut the socket a second later if
        the statement still waits (a server or network that does not answer)."""
        with self._lock:
            if self._ended:
                return
            self._cut = self._watchdog.arm(_SEVER_AFTER, self._sever)
        with contextlib.suppress(psycopg.Error):  # the cut ends the wait instead
            self._conn.cancel_safe(timeout=_SEVER_AFTER)

    def _sever(self) -> None:
        # Under the lock: `end` (hence the connection's close, which frees its
        # descriptor for reuse) cannot run while the socket is shut.
        with self._lock:
            if self._ended:
                return
            try:
                with socket.socket(fileno=os.dup(self._conn.fileno())) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
            except (OSError, psycopg.Error):
                pass  # already closed: the statement has ended

    def end(self) -> bool:
        """Stop watching; True when the statement is not acknowledged (the bound fired
        or the server warned)."""
        self.fired = self._alarm.disarm()
        with self._lock:
            self._ended = True
            if self._cut is not None:
                self._cut.disarm()
        self._conn.remove_notice_handler(self._notice)
        return self.fired or self.warned


class _Bounds:
    """Holds COMMITs (and autocommit statements) to `seconds` (see the module's doc)."""

    __slots__ = ("seconds", "watchdog")

    def __init__(self, seconds: float, *, name: str) -> None:
        self.seconds = seconds
        self.watchdog = Watchdog(name=f"{name}:commits")

    def run(self, conn: psycopg.Connection[Any], call: Callable[[], _T]) -> _T:
        """`call()` on `conn`, bounded; errors translated. Not acknowledged (the bound
        fired or the server warned, whatever `call` returned): the connection is closed
        and `StorageUnavailable` raised."""
        watch = _Watch(self.watchdog, conn, self.seconds)
        try:
            result = call()
        except psycopg.Error as exc:
            if watch.end():
                conn.close()
                raise self._unconfirmed(watch) from exc
            _fail(exc)
        except BaseException:
            watch.end()
            raise
        if watch.end():
            conn.close()
            raise self._unconfirmed(watch)
        return result

    def _unconfirmed(self, watch: _Watch) -> StorageUnavailable:
        cause = "CommitTimeout" if watch.fired else "CommitWarning"
        return StorageUnavailable(
            f"postgresql: {cause} (not acknowledged: the commit may not be replicated)",
            store="postgresql",
            driver_error=cause,
        )


# --------------------------------------------------------------------------- unit of work


class _Transaction:
    """The connection a unit of work holds, and the org locks it took (`sql.Session`)."""

    __slots__ = ("bounds", "conn", "locked", "pool", "schema")

    def __init__(
        self, pool: ConnectionPool[psycopg.Connection[Any]], schema: str, bounds: _Bounds
    ) -> None:
        self.pool = pool
        self.schema = schema
        self.bounds = bounds
        self.conn: psycopg.Connection[Any] | None = None
        self.locked: set[str] = set()

    def _connection(self) -> psycopg.Connection[Any]:
        conn = self.conn
        if conn is None:
            raise RuntimeError("the unit of work is used outside its `with` block")
        return conn

    def _cursor(self, query: str, params: Sequence[Any] | dict[str, Any]) -> psycopg.Cursor[Any]:
        # The whole result arrives with `execute`: fetching it raises no server error.
        conn = self._connection()
        try:
            return conn.execute(query, params)
        except psycopg.Error as exc:
            _fail(exc)

    def execute(self, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        return self._cursor(query, params).rowcount

    def one(self, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        return self._cursor(query, params).fetchone()

    def all(self, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        return self._cursor(query, params).fetchall()

    @property
    def reading(self) -> bool:
        """A unit of work on PostgreSQL may write (what it reads may be its own rows)."""
        return False

    def lock_org(self, org_id: str) -> None:
        """Hold the org's advisory lock until the transaction ends."""
        if org_id in self.locked:
            return
        self.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(self.schema, "org", org_id),))
        self.locked.add(org_id)

    def begin(self) -> None:
        try:
            self.conn = self.pool.getconn()
        except psycopg.Error as exc:
            _fail(exc)
        self.locked.clear()

    def commit(self) -> None:
        conn = self._connection()
        try:
            self.bounds.run(conn, conn.commit)
        finally:
            self.locked.clear()

    def rollback(self) -> None:
        try:
            self._connection().rollback()
        except psycopg.Error as exc:
            _fail(exc)
        finally:
            self.locked.clear()

    def end(self) -> None:
        conn, self.conn = self.conn, None
        self.locked.clear()
        if conn is None:
            return
        try:
            if conn.info.transaction_status != TransactionStatus.IDLE:
                conn.rollback()
        except psycopg.Error:
            pass  # a broken connection: the pool discards it
        self.pool.putconn(conn)


def _as_is(value: Any) -> Any:
    """psycopg stores and loads `datetime` (timestamptz) and `list` (text[]) as they are."""
    return value


#: How PostgreSQL says the statements of `sql.py`: `%s` parameters with the casts it
#: needs, `boolean` literals, lists as `text[]`, times and expiries as `timestamptz`
#: (`expires_at`), as they are.
DIALECT: Final = sql.Dialect(
    param="%s",
    named="%({})s",
    casts=True,
    words={
        "true": "true",
        "false": "false",
        "in_operations": "= ANY(:operations::text[])",
        "in_kinds": "= ANY(:kinds::text[])",
        "in_users": "= ANY(:users::text[])",
        "each_element": "unnest(?::text[])",
        "expires": "expires_at",
        "performed": "performed_at",
        "actor": "(record::json ->> 'actorId')",
    },
    load_time=_as_is,
    store_time=_as_is,
    store_expiry=_as_is,
    store_list=_as_is,
    unique_violation=lambda exc: getattr(exc, "sqlstate", None) == "23505",
)


class PostgresUserRepository(sql.UserRepository, dialect=DIALECT):
    """Users of a `PostgresStore`."""

    __slots__ = ()
    _tx: _Transaction

    def has_other_active_holder(
        self,
        org_id: OrgId,
        *,
        operations: frozenset[str],
        kinds: frozenset[UserKind],
        exclude: UserId,
        include_service_accounts: bool,
    ) -> bool:
        """Whether another active user of the org holds every operation (or full admin).

        Takes the org's lock first (held to the end of the unit of work), so that two
        units of work cannot each archive one of the org's last two holders."""
        self._tx.lock_org(org_id)
        return super().has_other_active_holder(
            org_id,
            operations=operations,
            kinds=kinds,
            exclude=exclude,
            include_service_accounts=include_service_accounts,
        )


class PostgresCredentialRepository(sql.CredentialRepository, dialect=DIALECT):
    """Credentials of a `PostgresStore`."""

    __slots__ = ()


class PostgresApplicationRepository(sql.ApplicationRepository, dialect=DIALECT):
    """Applications of a `PostgresStore`."""

    __slots__ = ()


class PostgresPermissionRepository(sql.PermissionRepository, dialect=DIALECT):
    """Permissions and assignments of a `PostgresStore`."""

    __slots__ = ()


class PostgresUserActionStore(sql.UserActionStore, dialect=DIALECT):
    """Issued user action grants of a `PostgresStore`; consuming one is a conditional update."""

    __slots__ = ()


class PostgresAuditLog(sql.AuditLog, dialect=DIALECT):
    """The append-only audit log of a `PostgresStore` (a trigger refuses changes)."""

    __slots__ = ()
    _tx: _Transaction

    def head(self, org_id: OrgId) -> AuditRecord | None:
        """The org's latest record, or None. Takes the org's lock (to the end of the unit
        of work) so that concurrent appends in one org wait their turn, and what the unit
        reads next is what committed before it got the lock."""
        self._tx.lock_org(org_id)
        return super().head(org_id)


class PostgresUnitOfWork:
    """One `READ COMMITTED` transaction over a `PostgresStore`: rollback unless committed."""

    def __init__(self, store: PostgresStore) -> None:
        tx = _Transaction(store.pool, store.schema, store.bounds)
        self._tx = tx
        self.users = PostgresUserRepository(store, tx)
        self.credentials = PostgresCredentialRepository(store, tx)
        self.applications = PostgresApplicationRepository(store, tx)
        self.permissions = PostgresPermissionRepository(store, tx)
        self.user_actions = PostgresUserActionStore(store, tx)
        self.audit = PostgresAuditLog(store, tx)
        self.committed = False

    def __enter__(self) -> Self:
        """Borrow a connection from the pool (the transaction begins with the first query)."""
        self._tx.begin()
        self.committed = False
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back what was not committed and give the connection back."""
        self._tx.end()

    def commit(self) -> None:
        """Make every change of this unit visible at once."""
        self._tx.commit()
        self.committed = True

    def rollback(self) -> None:
        """Discard every change since the last commit."""
        self._tx.rollback()


# --------------------------------------------------------------------------- outside units of work


class _Direct:
    """Single autocommit statements on the store's second pool, errors translated
    (`sql.Direct`)."""

    __slots__ = ("bounds", "pool")

    def __init__(self, pool: ConnectionPool[psycopg.Connection[Any]], bounds: _Bounds) -> None:
        self.pool = pool
        self.bounds = bounds

    def _run(self, query: str, params: Sequence[Any]) -> tuple[int, list[Any]]:
        try:
            with self.pool.connection() as conn:
                # Autocommit: the statement is its own COMMIT, bounded as one.
                return self.bounds.run(conn, partial(self._statement, conn, query, params))
        except psycopg.Error as exc:
            _fail(exc)

    @staticmethod
    def _statement(
        conn: psycopg.Connection[Any], query: str, params: Sequence[Any]
    ) -> tuple[int, list[Any]]:
        cursor = conn.execute(query, params)
        rows = cursor.fetchall() if cursor.description is not None else []
        return cursor.rowcount, rows

    def query(self, query: str, params: Sequence[Any] = ()) -> list[Any]:
        """The rows of one statement."""
        return self._run(query, params)[1]

    def execute(self, query: str, params: Sequence[Any] = ()) -> int:
        """The row count of one statement."""
        return self._run(query, params)[0]


class PostgresChallengeStore:
    """Open challenges; `take` is one atomic `DELETE … RETURNING` (autocommit)."""

    def __init__(self, direct: _Direct, *, purge_every: int) -> None:
        self._db = direct
        self._purge_every = purge_every
        self._writes = itertools.count(1)

    def put(self, challenge: Challenge) -> None:
        """Store an open challenge until its expiry (expired ones are purged now and then)."""
        self._db.execute(
            "INSERT INTO challenges (key, user_id, expires_at, payload) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (key) DO UPDATE SET user_id = EXCLUDED.user_id,"
            " expires_at = EXCLUDED.expires_at, payload = EXCLUDED.payload",
            (challenge.key, challenge.user_id, challenge.expires_at, challenge_to_json(challenge)),
        )
        if next(self._writes) % self._purge_every == 0:
            self.purge(now=challenge.issued_at)

    def take(self, key: str, *, user_id: UserId, now: datetime) -> Challenge | None:
        """Remove and return the caller's unexpired challenge; a foreign caller neither
        sees nor burns it; an expired one is burnt and not returned."""
        rows = self._db.query(
            "DELETE FROM challenges WHERE key = %s AND user_id = %s RETURNING payload",
            (key, user_id),
        )
        return sql.taken_challenge(rows, now)

    def purge(self, *, now: datetime) -> int:
        """Forget expired challenges; return how many."""
        return self._db.execute("DELETE FROM challenges WHERE expires_at <= %s", (now,))

    def count(self) -> int:
        """How many entries are stored now (expired ones not yet purged included)."""
        return int(self._db.query("SELECT COUNT(*) FROM challenges")[0][0])


class PostgresReplayGuard:
    """Request nonces; the first use is one conditional upsert (autocommit)."""

    def __init__(self, direct: _Direct, *, purge_every: int) -> None:
        self._db = direct
        self._purge_every = purge_every
        self._writes = itertools.count(1)

    def first_use(self, key: str, *, expires_at: datetime, now: datetime) -> bool:
        """Record `key` through `expires_at`; True only for its first use while remembered."""
        count = self._db.execute(
            "INSERT INTO nonces (key, expires_at) VALUES (%s, %s)"
            " ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at"
            " WHERE nonces.expires_at < %s",
            (key, expires_at, now),
        )
        if next(self._writes) % self._purge_every == 0:
            self.purge(now=now)
        return count == 1

    def purge(self, *, now: datetime) -> int:
        """Forget keys whose expiry has passed; return how many."""
        return self._db.execute("DELETE FROM nonces WHERE expires_at < %s", (now,))

    def count(self) -> int:
        """How many entries are stored now (expired ones not yet purged included)."""
        return int(self._db.query("SELECT COUNT(*) FROM nonces")[0][0])


class PostgresSigningKeyStore(sql.SigningKeyStore, dialect=DIALECT):
    """Server signing keys, shared by every instance using the database."""

    __slots__ = ()


# --------------------------------------------------------------------------- the store


class _MigrationStep:
    """A migration's Python step on the migrating connection (`StepConnection`): its `?`
    parameters become `%s`."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def rows(self, query: str, params: Sequence[Any] = (), /) -> list[Any]:
        return self._conn.execute(query.replace("?", "%s"), params).fetchall()

    def run_many(self, query: str, params: Sequence[tuple[Any, ...]], /) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(query.replace("?", "%s"), params)


class PostgresStore:
    """Every storage port in one PostgreSQL schema; calling it starts a unit of work.

    `pool_size` bounds the connections units of work use at once (a unit waits up to
    `timeout` seconds for one, then `StorageUnavailable`); the replay store and the
    signing keys use a second pool of autocommit connections of the same size. Each
    COMMIT waits at most `commit_timeout` seconds (see the module's doc).
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        pool_size: int = 10,
        timeout: float = 10.0,
        purge_every: int = DEFAULT_PURGE_EVERY,
        commit_timeout: float = DEFAULT_COMMIT_TIMEOUT,
        migrations: tuple[Migration, ...] | None = None,
    ) -> None:
        if _SCHEMA_NAME.match(schema) is None:
            raise ValueError("schema must be a lowercase SQL identifier")
        if pool_size < 1 or purge_every < 1:
            raise ValueError("pool_size and purge_every must be positive")
        if not commit_timeout > 0:
            raise ValueError("commit_timeout must be a positive number of seconds")
        self.schema = schema
        self.purge_every = purge_every
        self.writes = itertools.count(1)
        self.memo = sql.Memos(DIALECT, remember=False)  # builds afresh: keeps no values
        name = f"archive-core:{schema}"
        self.bounds = _Bounds(commit_timeout, name=name)
        pool = partial(
            ConnectionPool[psycopg.Connection[Any]],
            dsn,
            min_size=1,
            max_size=pool_size,
            open=False,
            timeout=timeout,
            # A lost connection is retried for a short while only: then the next request
            # that needs one tries at once, instead of waiting out a growing back-off.
            reconnect_timeout=RECONNECT_WINDOW,
            configure=self._configure,
            # A pooled connection is checked (one empty query) before it is handed out:
            # one the server dropped while idle (restart, failover, pg_terminate_backend)
            # is replaced there, instead of failing the request that borrowed it.
            check=self._check,
        )
        # Visible in pg_stat_activity unless the DSN names an application itself.
        client = {"fallback_application_name": name}
        self.pool = pool(name=name, kwargs=client)
        self._direct_pool = pool(name=f"{name}:direct", kwargs={**client, "autocommit": True})
        try:
            # One direct connection first: a refused or misconfigured server fails here at
            # once with the driver's own error, instead of the pool retrying until its
            # time-out and reporting only that it timed out.
            psycopg.connect(dsn, connect_timeout=max(1, round(timeout))).close()
            self.pool.open(wait=True, timeout=timeout)
            self._direct_pool.open(wait=True, timeout=timeout)
            self._migrate(load("postgres") if migrations is None else migrations)
        except psycopg.Error as exc:
            self.close()
            _fail(exc)
        except BaseException:
            self.close()
            raise
        direct = _Direct(self._direct_pool, self.bounds)
        self.challenges = PostgresChallengeStore(direct, purge_every=purge_every)
        self.replay_guard = PostgresReplayGuard(direct, purge_every=purge_every)
        self.signing_keys = PostgresSigningKeyStore(direct)

    def _check(self, conn: psycopg.Connection[Any]) -> None:
        """The pool's check, held to the commits' bound: a silent network fails it."""
        self.bounds.run(conn, partial(ConnectionPool.check_connection, conn))

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(SQL("SET search_path TO {}").format(Identifier(self.schema)).as_string(conn))
        conn.execute("SET TIME ZONE 'UTC'")
        if not conn.autocommit:
            conn.commit()
            conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED

    def _migrate(self, migrations: tuple[Migration, ...]) -> None:
        with self.pool.connection() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute(
                SQL("CREATE SCHEMA IF NOT EXISTS {}")
                .format(Identifier(self.schema))
                .as_string(conn)
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer NOT NULL PRIMARY KEY, name text NOT NULL,"
                " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            applied = dict(
                conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
            )
            check_applied(applied, migrations)
            for migration in migrations:
                if migration.version in applied:
                    continue
                conn.execute(migration.sql)
                if migration.step is not None:
                    migration.step(_MigrationStep(conn))
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
            self.bounds.run(conn, conn.commit)

    def unit_of_work(self) -> PostgresUnitOfWork:
        """A new, not yet entered, unit of work (the `UnitOfWorkFactory`)."""
        return PostgresUnitOfWork(self)

    __call__ = unit_of_work

    def check_writable(self) -> None:
        """Raise `StorageUnavailable` when the server the units of work reach is a standby
        (`pg_is_in_recovery()`): it answers reads, and refuses every write."""
        tx = _Transaction(self.pool, self.schema, self.bounds)
        tx.begin()
        try:
            (recovering,) = tx.one("SELECT pg_is_in_recovery()")
        finally:
            tx.end()
        if recovering:
            raise StorageUnavailable(
                "postgresql: ReadOnly (the server is a standby)",
                store="postgresql",
                driver_error="ReadOnly",
            )

    def row_counts(self) -> dict[str, int]:
        """Rows per table (what retention keeps bounded), for monitoring and tests."""
        rows = _Direct(self._direct_pool, self.bounds).query(sql.ROW_COUNTS)
        return {name: int(count) for name, count in rows}

    def close(self) -> None:
        """Close both pools and stop the commits' watchdog (idempotent)."""
        self.pool.close()
        self._direct_pool.close()
        self.bounds.watchdog.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
