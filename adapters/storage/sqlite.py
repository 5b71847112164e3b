"""SQLite storage: every storage port of the core on the standard library's `sqlite3`.

The embedded default: a file path is all a deployment gives.

- **Serialised units of work.** A unit of work borrows a connection from the
  store's small pool and opens `BEGIN IMMEDIATE` on entry, so it holds the file's
  write lock until it ends — exactly like the in-memory store's lock, and across
  processes. Leaving the `with` block without `commit()` rolls back. Connections
  use `isolation_level=None` (the driver never begins or commits on its own),
  `foreign_keys=ON` and a busy timeout; the file is in WAL mode.
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

Nothing happens at import time; `SqliteStore(path)` creates the file (mode 0600, it
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
from typing import Any, Final, NoReturn, Self

from adapters.storage.codec import (
    Memo,
    audit_from_json,
    audit_to_json,
    challenge_from_json,
    challenge_to_json,
    iso,
    micros,
    user_action_from_json,
    user_action_to_json,
)
from adapters.storage.migrations import Migration, check_applied, load, split_sqlite
from archive_core.audit import AuditRecord
from archive_core.entities import (
    FULL_ADMIN,
    Application,
    AssignedPermission,
    Assignment,
    Challenge,
    Credential,
    CredentialKind,
    Permission,
    User,
    UserActionRecord,
    UserKind,
)
from archive_core.errors import AlreadyExists, ConcurrencyConflict, StorageUnavailable
from archive_core.ids import AppId, AssignmentId, CredentialUuid, OrgId, PermissionId, UserId
from archive_core.ports import ConsumeOutcome, ConsumeStatus, SigningKey

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
    return StorageUnavailable(f"sqlite: {name}: {exc}")


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
        raise StorageUnavailable(f"sqlite: cannot create {path!r}: {exc.strerror}") from exc
    os.close(fd)


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
                raise StorageUnavailable(f"sqlite: cannot switch {self.path!r} to WAL")
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
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        except sqlite3.Error as exc:
            conn.close()
            _fail(exc)
        return conn

    def acquire(self) -> sqlite3.Connection:
        """A connection for the calling thread's exclusive use until `release`."""
        with self._lock:
            if self._closed:
                raise StorageUnavailable(f"sqlite: {self.path!r} is closed")
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


def _outside() -> RuntimeError:
    return RuntimeError("the unit of work is used outside its `with` block (or thread)")


class _Session:
    """A connection with the six repositories bound to it, lent to one unit of work (and
    its thread) at a time: `BEGIN IMMEDIATE` on checkout and again before the first
    statement after a commit or rollback; driver errors translated."""

    __slots__ = (
        "applications",
        "audit",
        "conn",
        "credentials",
        "owner",
        "permissions",
        "user_actions",
        "users",
    )

    def __init__(self, store: SqliteStore, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.owner: int | None = None
        self.users = SqliteUserRepository(store, self)
        self.credentials = SqliteCredentialRepository(store, self)
        self.applications = SqliteApplicationRepository(store, self)
        self.permissions = SqlitePermissionRepository(store, self)
        self.user_actions = SqliteUserActionStore(store, self)
        self.audit = SqliteAuditLog(store, self)

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        if self.owner != get_ident():
            raise _outside()
        conn = self.conn
        try:
            if not conn.in_transaction:
                conn.execute("BEGIN IMMEDIATE")
            return conn.execute(sql, params)
        except sqlite3.Error as exc:
            _fail(exc)

    def one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        if self.owner != get_ident():
            raise _outside()
        conn = self.conn
        try:
            if not conn.in_transaction:
                conn.execute("BEGIN IMMEDIATE")
            return conn.execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            _fail(exc)

    def all(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        if self.owner != get_ident():
            raise _outside()
        conn = self.conn
        try:
            if not conn.in_transaction:
                conn.execute("BEGIN IMMEDIATE")
            return conn.execute(sql, params).fetchall()
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


class _Part:
    __slots__ = ("_store", "_tx")

    def __init__(self, store: SqliteStore, session: _Session) -> None:
        self._store = store
        self._tx = session


_GET_USER: Final = (
    "SELECT id, org_id, username, kind, credential_uuid, is_active, archived_at,"
    " is_service_account, is_registered, version FROM users WHERE id = ?"
)
_ADD_USER: Final = (
    "INSERT INTO users (org_id, username, kind, credential_uuid, is_active, archived_at,"
    " is_service_account, is_registered, version, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)
_UPDATE_USER: Final = (
    "UPDATE users SET org_id = ?, username = ?, kind = ?, credential_uuid = ?, is_active = ?,"
    " archived_at = ?, is_service_account = ?, is_registered = ?, version = ?"
    " WHERE id = ? AND version = ?"
)
_ANY_OTHER_ACTIVE: Final = """
SELECT EXISTS (
    SELECT 1 FROM users AS u
    WHERE u.org_id = :org AND u.id <> :exclude AND u.is_active = 1 AND u.archived_at IS NULL
      AND (:service_accounts OR u.is_service_account = 0)
)"""
# The lock-out guard's query, driven from the permission side: it reads the org's
# full admins and the holders of the first operation (each checked for the others),
# never the org's whole user list.
_HOLDER: Final = """
SELECT EXISTS (
    SELECT 1
    FROM permissions AS p
    JOIN assignments AS a ON a.permission_id = p.id
    JOIN users AS u ON u.id = a.identity_id
    WHERE p.org_id = :org AND p.name = :full_admin AND p.is_archived = 0
      AND u.org_id = :org AND u.id <> :exclude AND u.is_active = 1 AND u.archived_at IS NULL
      AND (:service_accounts OR u.is_service_account = 0)
) OR EXISTS (
    SELECT 1
    FROM permission_operations AS po
    JOIN permissions AS p ON p.id = po.permission_id
    JOIN assignments AS a ON a.permission_id = po.permission_id
    JOIN users AS u ON u.id = a.identity_id
    WHERE po.org_id = :org AND po.operation = :first AND p.org_id = :org AND p.is_archived = 0
      AND u.org_id = :org AND u.id <> :exclude AND u.is_active = 1 AND u.archived_at IS NULL
      AND (:service_accounts OR u.is_service_account = 0)
      AND (
        SELECT COUNT(DISTINCT po2.operation)
        FROM assignments AS a2
        JOIN permissions AS p2 ON p2.id = a2.permission_id
        JOIN permission_operations AS po2 ON po2.permission_id = a2.permission_id
        WHERE a2.identity_id = u.id AND p2.org_id = :org AND p2.is_archived = 0
          AND po2.operation IN (SELECT value FROM json_each(:operations))
      ) = :count
)"""


_USER_KINDS: Final = {kind.value: kind for kind in UserKind}


def _user(row: Any) -> User:
    # `row` is untyped: its text columns are the ids' NewTypes as they are (no call).
    archived = row[6]
    return User(
        id=row[0],
        org_id=row[1],
        username=row[2],
        kind=_USER_KINDS[row[3]],
        credential_uuid=row[4],
        is_active=bool(row[5]),
        archived_at=None if archived is None else datetime.fromisoformat(archived),
        is_service_account=bool(row[7]),
        is_registered=bool(row[8]),
        version=row[9],
    )


def _user_params(user: User) -> tuple[Any, ...]:
    archived = user.archived_at
    return (
        user.org_id,
        user.username,
        user.kind._value_,
        user.credential_uuid,
        user.is_active,
        None if archived is None else iso(archived),
        user.is_service_account,
        user.is_registered,
        user.version,
    )


class SqliteUserRepository(_Part):
    """Users of a `SqliteStore`."""

    __slots__ = ()

    def get(self, user_id: UserId) -> User | None:
        """The user with this id, archived or not, or None."""
        row = self._tx.one(_GET_USER, (user_id,))
        return None if row is None else self._store.memo.users[row]

    def add(self, user: User) -> None:
        """Store a new user; AlreadyExists if its id is taken."""
        if self._tx.execute(_ADD_USER, (*_user_params(user), user.id)).rowcount == 0:
            raise AlreadyExists(user.id)

    def update(self, user: User, *, expected_version: int) -> None:
        """Replace the stored user; ConcurrencyConflict unless it is at `expected_version`."""
        params = (*_user_params(user), user.id, expected_version)
        if self._tx.execute(_UPDATE_USER, params).rowcount == 0:
            raise ConcurrencyConflict(user.id)

    def has_other_active_holder(
        self,
        org_id: OrgId,
        *,
        operations: frozenset[str],
        exclude: UserId,
        include_service_accounts: bool,
    ) -> bool:
        """Whether another active user of the org holds every operation (or full admin)."""
        params: dict[str, Any] = {
            "org": org_id,
            "exclude": exclude,
            "service_accounts": include_service_accounts,
        }
        if not operations:
            return bool(self._tx.one(_ANY_OTHER_ACTIVE, params)[0])
        ordered = sorted(operations)
        params.update(
            first=ordered[0],
            operations=json.dumps(ordered),
            count=len(ordered),
            full_admin=FULL_ADMIN,
        )
        return bool(self._tx.one(_HOLDER, params)[0])


_CREDENTIAL_SELECT: Final = (
    "SELECT uuid, cred_id, user_id, org_id, kind, public_key, algorithm, is_active,"
    " sign_count, encrypted_private_key FROM credentials"
)


def _credential(row: Any) -> Credential:
    return Credential(
        uuid=CredentialUuid(row[0]),
        cred_id=row[1],
        user_id=UserId(row[2]),
        org_id=OrgId(row[3]),
        kind=CredentialKind(row[4]),
        public_key=row[5],
        algorithm=row[6],
        is_active=bool(row[7]),
        sign_count=row[8],
        encrypted_private_key=row[9],
    )


class SqliteCredentialRepository(_Part):
    """Credentials of a `SqliteStore`."""

    __slots__ = ()

    def get_by_cred_id(self, cred_id: str) -> Credential | None:
        """The credential clients name by `credId`, or None."""
        row = self._tx.one(_CREDENTIAL_SELECT + " WHERE cred_id = ?", (cred_id,))
        return None if row is None else _credential(row)

    def list_for_user(self, user_id: UserId) -> list[Credential]:
        """Every credential of the user, in registration order."""
        rows = self._tx.all(
            _CREDENTIAL_SELECT + " WHERE user_id = ? ORDER BY seq",
            (user_id,),
        )
        return [_credential(row) for row in rows]

    def add(self, credential: Credential) -> None:
        """Store a new credential; AlreadyExists if its uuid or cred_id is taken."""
        c = credential
        cursor = self._tx.execute(
            "INSERT INTO credentials (uuid, cred_id, user_id, org_id, kind, public_key, algorithm,"
            " is_active, sign_count, encrypted_private_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (
                c.uuid,
                c.cred_id,
                c.user_id,
                c.org_id,
                c.kind.value,
                c.public_key,
                c.algorithm,
                c.is_active,
                c.sign_count,
                c.encrypted_private_key,
            ),
        )
        if cursor.rowcount == 0:
            raise AlreadyExists(c.uuid)

    def update_sign_count(
        self, uuid: CredentialUuid, *, new_count: int, expected_count: int
    ) -> None:
        """Set the counter; ConcurrencyConflict unless it is `expected_count`."""
        cursor = self._tx.execute(
            "UPDATE credentials SET sign_count = ? WHERE uuid = ? AND sign_count = ?",
            (new_count, uuid, expected_count),
        )
        if cursor.rowcount == 0:
            raise ConcurrencyConflict(uuid)


class SqliteApplicationRepository(_Part):
    """Applications of a `SqliteStore`."""

    __slots__ = ()

    def get(self, app_id: AppId) -> Application | None:
        """The application with this id, or None."""
        row = self._tx.one(
            "SELECT id, org_id, name, is_active FROM applications WHERE id = ?", (app_id,)
        )
        if row is None:
            return None
        return Application(
            id=AppId(row[0]), org_id=OrgId(row[1]), name=row[2], is_active=bool(row[3])
        )

    def add(self, application: Application) -> None:
        """Store a new application; AlreadyExists if its id is taken."""
        a = application
        cursor = self._tx.execute(
            "INSERT INTO applications (id, org_id, name, is_active) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (a.id, a.org_id, a.name, a.is_active),
        )
        if cursor.rowcount == 0:
            raise AlreadyExists(a.id)


def _permission(row: tuple[Any, ...]) -> Permission:
    return Permission(
        id=PermissionId(row[0]),
        org_id=OrgId(row[1]),
        name=row[2],
        operations=tuple(json.loads(row[3])),
        is_archived=bool(row[4]),
    )


class SqlitePermissionRepository(_Part):
    """Permissions and assignments of a `SqliteStore`."""

    __slots__ = ()

    def add_permission(self, permission: Permission) -> None:
        """Store a new permission; AlreadyExists if its id is taken."""
        p = permission
        cursor = self._tx.execute(
            "INSERT INTO permissions (id, org_id, name, operations, is_archived)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (p.id, p.org_id, p.name, json.dumps(list(p.operations)), p.is_archived),
        )
        if cursor.rowcount == 0:
            raise AlreadyExists(p.id)
        self._tx.execute(
            "INSERT INTO permission_operations (permission_id, org_id, operation)"
            " SELECT ?, ?, value FROM json_each(?) WHERE true ON CONFLICT DO NOTHING",
            (p.id, p.org_id, json.dumps(sorted(set(p.operations)))),
        )

    def get_permission(self, permission_id: PermissionId) -> Permission | None:
        """The permission with this id, or None."""
        row = self._tx.one(
            "SELECT id, org_id, name, operations, is_archived FROM permissions WHERE id = ?",
            (permission_id,),
        )
        return None if row is None else self._store.memo.permissions[row]

    def assign(self, assignment: Assignment) -> None:
        """Store a new assignment; KeyError if the permission is unknown, AlreadyExists if
        the assignment id is taken."""
        a = assignment
        cursor = self._tx.execute(
            "INSERT INTO assignments (id, permission_id, identity_id, org_id)"
            " SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM permissions WHERE id = ?)"
            " ON CONFLICT DO NOTHING",
            (a.id, a.permission_id, a.identity_id, a.org_id, a.permission_id),
        )
        if cursor.rowcount == 0:
            if self.get_permission(a.permission_id) is None:
                raise KeyError(a.permission_id)
            raise AlreadyExists(a.id)

    def assignments_of(self, user_id: UserId) -> list[AssignedPermission]:
        """Every assignment to the user with its permission, in assignment order."""
        rows = self._tx.all(
            "SELECT a.id, p.id, p.org_id, p.name, p.operations, p.is_archived"
            " FROM assignments AS a JOIN permissions AS p ON p.id = a.permission_id"
            " WHERE a.identity_id = ? ORDER BY a.seq",
            (user_id,),
        )
        return list(map(self._store.memo.assignments.__getitem__, rows))


class SqliteUserActionStore(_Part):
    """Issued user action grants of a `SqliteStore`; consuming one is a conditional update."""

    __slots__ = ()

    def add(self, record: UserActionRecord) -> None:
        """Store a newly issued grant; AlreadyExists if its token id is taken."""
        grant = record.grant
        used = record.used_at
        text = user_action_to_json(record)
        cursor = self._tx.execute(
            "INSERT INTO user_actions (token_id, expires_us, used_at, record)"
            " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                grant.token_id,
                micros(grant.expires_at),
                None if used is None else iso(used),
                text,
            ),
        )
        if cursor.rowcount == 0:
            raise AlreadyExists(grant.token_id)
        self._store.memo.grants.put(text, UserActionRecord(grant=grant, evidence=record.evidence))
        if next(self._store.writes) % self._store.purge_every == 0:
            self.purge(now=grant.issued_at)

    def consume(self, token_id: str, *, at: datetime) -> ConsumeOutcome:
        """Mark the grant used at `at` if unused; exactly one caller ever sees CONSUMED."""
        rows = self._tx.all(
            "UPDATE user_actions SET used_at = ? WHERE token_id = ? AND used_at IS NULL"
            " RETURNING record",
            (iso(at), token_id),
        )
        if rows:
            issued = self._store.memo.grants[rows[0][0]]
            used = UserActionRecord(grant=issued.grant, evidence=issued.evidence, used_at=at)
            return ConsumeOutcome(ConsumeStatus.CONSUMED, used)
        if self._tx.one("SELECT 1 FROM user_actions WHERE token_id = ?", (token_id,)) is None:
            return ConsumeOutcome(ConsumeStatus.UNKNOWN)
        return ConsumeOutcome(ConsumeStatus.ALREADY_USED)

    def purge(self, *, now: datetime) -> int:
        """Forget grants whose expiry is before `now` (used or not); return how many."""
        return self._tx.execute(
            "DELETE FROM user_actions WHERE expires_us < ?", (micros(now),)
        ).rowcount


class SqliteAuditLog(_Part):
    """The append-only audit log of a `SqliteStore` (triggers refuse updates and deletes)."""

    __slots__ = ()

    def head(self, org_id: OrgId) -> AuditRecord | None:
        """The org's latest record, or None."""
        row = self._tx.one(
            "SELECT record FROM audit WHERE org_id = ? ORDER BY sequence DESC LIMIT 1", (org_id,)
        )
        return None if row is None else self._store.memo.audit[row[0]]

    def append(self, record: AuditRecord) -> None:
        """Append a record; ConcurrencyConflict unless its sequence follows the org's head."""
        text = audit_to_json(record)
        cursor = self._tx.execute(
            "INSERT INTO audit (org_id, sequence, id, hash, target_id, user_action_id,"
            " performed_at, record)"
            " SELECT ?, ?, ?, ?, ?, ?, ?, ?"
            " WHERE ? = 1 + COALESCE((SELECT MAX(sequence) FROM audit WHERE org_id = ?), 0)"
            " ON CONFLICT DO NOTHING",
            (
                record.org_id,
                record.sequence,
                record.id,
                record.hash,
                record.target_id,
                record.user_action_id,
                iso(record.performed_at),
                text,
                record.sequence,
                record.org_id,
            ),
        )
        if cursor.rowcount == 0:
            raise ConcurrencyConflict(f"{record.org_id}#{record.sequence}")
        self._store.memo.audit.put(text, record)

    def records(self, org_id: OrgId | None = None) -> list[AuditRecord]:
        """Records of one org (or all), ordered by org then sequence."""
        if org_id is None:
            rows = self._tx.all("SELECT record FROM audit ORDER BY org_id, sequence")
        else:
            rows = self._tx.all(
                "SELECT record FROM audit WHERE org_id = ? ORDER BY sequence", (org_id,)
            )
        return [audit_from_json(row[0]) for row in rows]


class SqliteUnitOfWork:
    """One `BEGIN IMMEDIATE` transaction over a `SqliteStore`: rollback unless committed."""

    __slots__ = (
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

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._session: _Session | None = None
        self.committed = False

    def __enter__(self) -> Self:
        """Borrow a connection and take the file's write lock (`BEGIN IMMEDIATE`)."""
        session = self._store.checkout()
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


class SqliteSigningKeyStore:
    """Server signing keys in the main SQLite file (as private as the file itself).

    Reads never wait (WAL); `add` and `retire` take the write lock briefly, so call
    them outside a unit of work of the same store.
    """

    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    def keys(self, purpose: str) -> Sequence[SigningKey]:
        """Every key of this purpose, oldest first, retired ones included."""
        rows = self._db.query(
            "SELECT kid, purpose, algorithm, private_key, created_at, retired_at"
            " FROM signing_keys WHERE purpose = ? ORDER BY seq",
            (purpose,),
        )
        return [
            SigningKey(
                kid=row[0],
                purpose=row[1],
                algorithm=row[2],
                private_key=row[3],
                created_at=datetime.fromisoformat(row[4]),
                retired_at=None if row[5] is None else datetime.fromisoformat(row[5]),
            )
            for row in rows
        ]

    def add(self, key: SigningKey) -> bool:
        """Store a new key; False if a key of this kid already exists."""
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO signing_keys (kid, purpose, algorithm, private_key, created_at,"
                " retired_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    key.kid,
                    key.purpose,
                    key.algorithm,
                    key.private_key,
                    key.created_at.isoformat(),
                    None if key.retired_at is None else key.retired_at.isoformat(),
                ),
            )
            return cursor.rowcount == 1

    def retire(self, kid: str, *, at: datetime) -> None:
        """Mark a key retired from `at` on (no-op for an unknown kid)."""
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE signing_keys SET retired_at = ? WHERE kid = ?", (at.isoformat(), kid)
            )


class _Memos:
    """Entities already built from stored rows and JSON, by content (see `codec.Memo`)."""

    __slots__ = ("assignments", "audit", "grants", "permissions", "users")

    def __init__(self) -> None:
        self.users: Memo[tuple[Any, ...], User] = Memo(_user, size=1024)
        self.permissions: Memo[tuple[Any, ...], Permission] = Memo(_permission, size=1024)
        self.assignments: Memo[tuple[Any, ...], AssignedPermission] = Memo(
            self._assigned, size=1024
        )
        # A grant is consumed moments after it is issued: a short memory is enough, and
        # each entry holds its evidence (a few KiB), so the size bounds memory too.
        self.grants: Memo[str, UserActionRecord] = Memo(user_action_from_json, size=256)
        self.audit: Memo[str, AuditRecord] = Memo(audit_from_json, size=256)

    def _assigned(self, row: tuple[Any, ...]) -> AssignedPermission:
        return AssignedPermission(
            assignment_id=AssignmentId(row[0]), permission=self.permissions[row[1:]]
        )


class SqliteStore:
    """The transactional store in one SQLite file; calling it starts a unit of work."""

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
            path, migrations="sqlite", synchronous=synchronous, busy_timeout=busy_timeout
        )
        self.path = self.database.path
        self.purge_every = purge_every
        self.writes = itertools.count(1)
        self.memo = _Memos()
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

    def checkout(self) -> _Session:
        """A session for the calling thread, its transaction begun (`BEGIN IMMEDIATE`)."""
        if self._closed:
            raise StorageUnavailable(f"sqlite: {self.path!r} is closed")
        try:
            session = self._sessions.pop()  # atomic: no lock on the hot path
        except IndexError:
            conn = self.database.acquire()
            conn.set_trace_callback(self._trace)
            session = _Session(self, conn)
        session.owner = get_ident()
        try:
            session.conn.execute("BEGIN IMMEDIATE")
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
        return dict(self.database.query(_ROW_COUNTS))

    def close(self) -> None:
        """Close the file's connections (idempotent)."""
        with self._lock:
            self._closed = True
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.conn.close()
        self.database.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_ROW_COUNTS: Final = (
    "SELECT 'users', COUNT(*) FROM users UNION ALL SELECT 'credentials', COUNT(*) FROM credentials"
    " UNION ALL SELECT 'permissions', COUNT(*) FROM permissions"
    " UNION ALL SELECT 'assignments', COUNT(*) FROM assignments"
    " UNION ALL SELECT 'user_actions', COUNT(*) FROM user_actions"
    " UNION ALL SELECT 'audit', COUNT(*) FROM audit"
)


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
        if not rows:
            return None
        challenge = challenge_from_json(rows[0][0])
        return challenge if now < challenge.expires_at else None

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


class SqliteReplayStore:
    """The replay file: challenges and nonces, shared by every process on the machine."""

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
            path, migrations="sqlite_replay", synchronous=synchronous, busy_timeout=busy_timeout
        )
        self.path = self.database.path
        self.challenges = SqliteChallengeStore(self.database, purge_every=purge_every)
        self.replay_guard = SqliteReplayGuard(self.database, purge_every=purge_every)

    def close(self) -> None:
        """Close the file's connections."""
        self.database.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
