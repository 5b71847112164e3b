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
  append to its audit chain in turn instead of failing on the sequence.
- **Errors.** Serialization failures, deadlocks and lock time-outs →
  `ConcurrencyConflict` (the core retries a bounded number of times); connection
  failures, pool time-outs, admin shutdown, resource exhaustion, a read-only
  server → `StorageUnavailable`. Messages name the SQLSTATE only, never server text.
- **Replay store and signing keys** use a second pool of autocommit connections:
  a burnt nonce or a taken challenge is committed at once and survives the rollback
  of the request's unit of work, and a unit of work holding a connection never waits
  for a second one from the same pool.

Nothing happens at import time; `PostgresStore(dsn)` opens the pools, creates the
schema if needed and applies the migrations of `adapters/storage/migrations/postgres/`
under an advisory lock (so concurrent starts migrate once).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Final, NoReturn, Self

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool

from adapters.storage.codec import (
    audit_from_json,
    audit_to_json,
    challenge_from_json,
    challenge_to_json,
    user_action_from_json,
    user_action_to_json,
)
from adapters.storage.migrations import Migration, check_applied, load
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
    "DEFAULT_PURGE_EVERY",
    "DEFAULT_SCHEMA",
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
        return StorageUnavailable(f"postgresql: {type(exc).__name__} ({state or 'no sqlstate'})")
    return exc


def _fail(exc: Exception) -> NoReturn:
    translated = translate_error(exc)
    if translated is exc:
        raise exc
    raise translated from exc


# --------------------------------------------------------------------------- unit of work


class _Transaction:
    """The connection a unit of work holds, and the org locks it took."""

    __slots__ = ("conn", "locked", "pool", "schema")

    def __init__(self, pool: ConnectionPool[psycopg.Connection[Any]], schema: str) -> None:
        self.pool = pool
        self.schema = schema
        self.conn: psycopg.Connection[Any] | None = None
        self.locked: set[str] = set()

    def _connection(self) -> psycopg.Connection[Any]:
        conn = self.conn
        if conn is None:
            raise RuntimeError("the unit of work is used outside its `with` block")
        return conn

    def execute(self, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        conn = self._connection()
        try:
            return conn.execute(query, params).rowcount
        except psycopg.Error as exc:
            _fail(exc)

    def one(self, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        conn = self._connection()
        try:
            return conn.execute(query, params).fetchone()
        except psycopg.Error as exc:
            _fail(exc)

    def all(self, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        conn = self._connection()
        try:
            return conn.execute(query, params).fetchall()
        except psycopg.Error as exc:
            _fail(exc)

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
            conn.commit()
        except psycopg.Error as exc:
            _fail(exc)
        finally:
            self.locked.clear()

    def rollback(self) -> None:
        conn = self._connection()
        try:
            conn.rollback()
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


class _Part:
    __slots__ = ("_store", "_tx")

    def __init__(self, store: PostgresStore, tx: _Transaction) -> None:
        self._store = store
        self._tx = tx


_GET_USER: Final = (
    "SELECT id, org_id, username, kind, credential_uuid, is_active, archived_at,"
    " is_service_account, is_registered, version FROM users WHERE id = %s"
)
_ADD_USER: Final = (
    "INSERT INTO users (org_id, username, kind, credential_uuid, is_active, archived_at,"
    " is_service_account, is_registered, version, id)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)
_UPDATE_USER: Final = (
    "UPDATE users SET org_id = %s, username = %s, kind = %s, credential_uuid = %s,"
    " is_active = %s, archived_at = %s, is_service_account = %s, is_registered = %s,"
    " version = %s WHERE id = %s AND version = %s"
)
_ANY_OTHER_ACTIVE: Final = """
SELECT EXISTS (
    SELECT 1 FROM users AS u
    WHERE u.org_id = %(org)s AND u.id <> %(exclude)s AND u.is_active AND u.archived_at IS NULL
      AND (%(service_accounts)s OR NOT u.is_service_account)
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
    WHERE p.org_id = %(org)s AND p.name = %(full_admin)s AND NOT p.is_archived
      AND u.org_id = %(org)s AND u.id <> %(exclude)s AND u.is_active AND u.archived_at IS NULL
      AND (%(service_accounts)s OR NOT u.is_service_account)
) OR EXISTS (
    SELECT 1
    FROM permission_operations AS po
    JOIN permissions AS p ON p.id = po.permission_id
    JOIN assignments AS a ON a.permission_id = po.permission_id
    JOIN users AS u ON u.id = a.identity_id
    WHERE po.org_id = %(org)s AND po.operation = %(first)s AND p.org_id = %(org)s
      AND NOT p.is_archived
      AND u.org_id = %(org)s AND u.id <> %(exclude)s AND u.is_active AND u.archived_at IS NULL
      AND (%(service_accounts)s OR NOT u.is_service_account)
      AND (
        SELECT COUNT(DISTINCT po2.operation)
        FROM assignments AS a2
        JOIN permissions AS p2 ON p2.id = a2.permission_id
        JOIN permission_operations AS po2 ON po2.permission_id = a2.permission_id
        WHERE a2.identity_id = u.id AND p2.org_id = %(org)s AND NOT p2.is_archived
          AND po2.operation = ANY(%(operations)s::text[])
      ) = %(count)s
)"""


def _user(row: Any) -> User:
    return User(
        id=UserId(row[0]),
        org_id=OrgId(row[1]),
        username=row[2],
        kind=UserKind(row[3]),
        credential_uuid=CredentialUuid(row[4]),
        is_active=row[5],
        archived_at=row[6],
        is_service_account=row[7],
        is_registered=row[8],
        version=row[9],
    )


def _user_params(user: User) -> tuple[Any, ...]:
    return (
        user.org_id,
        user.username,
        user.kind.value,
        user.credential_uuid,
        user.is_active,
        user.archived_at,
        user.is_service_account,
        user.is_registered,
        user.version,
    )


class PostgresUserRepository(_Part):
    """Users of a `PostgresStore`."""

    __slots__ = ()

    def get(self, user_id: UserId) -> User | None:
        """The user with this id, archived or not, or None."""
        row = self._tx.one(_GET_USER, (user_id,))
        return None if row is None else _user(row)

    def add(self, user: User) -> None:
        """Store a new user; AlreadyExists if its id is taken."""
        if self._tx.execute(_ADD_USER, (*_user_params(user), user.id)) == 0:
            raise AlreadyExists(user.id)

    def update(self, user: User, *, expected_version: int) -> None:
        """Replace the stored user; ConcurrencyConflict unless it is at `expected_version`."""
        if self._tx.execute(_UPDATE_USER, (*_user_params(user), user.id, expected_version)) == 0:
            raise ConcurrencyConflict(user.id)

    def has_other_active_holder(
        self,
        org_id: OrgId,
        *,
        operations: frozenset[str],
        exclude: UserId,
        include_service_accounts: bool,
    ) -> bool:
        """Whether another active user of the org holds every operation (or full admin).

        Takes the org's lock first (held to the end of the unit of work), so that two
        units of work cannot each archive one of the org's last two holders."""
        self._tx.lock_org(org_id)
        params: dict[str, Any] = {
            "org": org_id,
            "exclude": exclude,
            "service_accounts": include_service_accounts,
        }
        if not operations:
            return bool(self._tx.one(_ANY_OTHER_ACTIVE, params)[0])
        ordered = sorted(operations)
        params.update(
            first=ordered[0], operations=ordered, count=len(ordered), full_admin=FULL_ADMIN
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
        is_active=row[7],
        sign_count=row[8],
        encrypted_private_key=row[9],
    )


class PostgresCredentialRepository(_Part):
    """Credentials of a `PostgresStore`."""

    __slots__ = ()

    def get_by_cred_id(self, cred_id: str) -> Credential | None:
        """The credential clients name by `credId`, or None."""
        row = self._tx.one(_CREDENTIAL_SELECT + " WHERE cred_id = %s", (cred_id,))
        return None if row is None else _credential(row)

    def list_for_user(self, user_id: UserId) -> list[Credential]:
        """Every credential of the user, in registration order."""
        rows = self._tx.all(
            _CREDENTIAL_SELECT + " WHERE user_id = %s ORDER BY seq",
            (user_id,),
        )
        return [_credential(row) for row in rows]

    def add(self, credential: Credential) -> None:
        """Store a new credential; AlreadyExists if its uuid or cred_id is taken."""
        c = credential
        count = self._tx.execute(
            "INSERT INTO credentials (uuid, cred_id, user_id, org_id, kind, public_key,"
            " algorithm, is_active, sign_count, encrypted_private_key)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
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
        if count == 0:
            raise AlreadyExists(c.uuid)

    def update_sign_count(
        self, uuid: CredentialUuid, *, new_count: int, expected_count: int
    ) -> None:
        """Set the counter; ConcurrencyConflict unless it is `expected_count`."""
        count = self._tx.execute(
            "UPDATE credentials SET sign_count = %s WHERE uuid = %s AND sign_count = %s",
            (new_count, uuid, expected_count),
        )
        if count == 0:
            raise ConcurrencyConflict(uuid)


class PostgresApplicationRepository(_Part):
    """Applications of a `PostgresStore`."""

    __slots__ = ()

    def get(self, app_id: AppId) -> Application | None:
        """The application with this id, or None."""
        row = self._tx.one(
            "SELECT id, org_id, name, is_active FROM applications WHERE id = %s", (app_id,)
        )
        if row is None:
            return None
        return Application(id=AppId(row[0]), org_id=OrgId(row[1]), name=row[2], is_active=row[3])

    def add(self, application: Application) -> None:
        """Store a new application; AlreadyExists if its id is taken."""
        a = application
        count = self._tx.execute(
            "INSERT INTO applications (id, org_id, name, is_active) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (a.id, a.org_id, a.name, a.is_active),
        )
        if count == 0:
            raise AlreadyExists(a.id)


def _permission(row: Any, offset: int = 0) -> Permission:
    return Permission(
        id=PermissionId(row[offset]),
        org_id=OrgId(row[offset + 1]),
        name=row[offset + 2],
        operations=tuple(json.loads(row[offset + 3])),
        is_archived=row[offset + 4],
    )


class PostgresPermissionRepository(_Part):
    """Permissions and assignments of a `PostgresStore`."""

    __slots__ = ()

    def add_permission(self, permission: Permission) -> None:
        """Store a new permission; AlreadyExists if its id is taken."""
        p = permission
        count = self._tx.execute(
            "INSERT INTO permissions (id, org_id, name, operations, is_archived)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (p.id, p.org_id, p.name, json.dumps(list(p.operations)), p.is_archived),
        )
        if count == 0:
            raise AlreadyExists(p.id)
        self._tx.execute(
            "INSERT INTO permission_operations (permission_id, org_id, operation)"
            " SELECT %s::text, %s::text, unnest(%s::text[]) ON CONFLICT DO NOTHING",
            (p.id, p.org_id, sorted(set(p.operations))),
        )

    def get_permission(self, permission_id: PermissionId) -> Permission | None:
        """The permission with this id, or None."""
        row = self._tx.one(
            "SELECT id, org_id, name, operations, is_archived FROM permissions WHERE id = %s",
            (permission_id,),
        )
        return None if row is None else _permission(row)

    def assign(self, assignment: Assignment) -> None:
        """Store a new assignment; KeyError if the permission is unknown, AlreadyExists if
        the assignment id is taken."""
        a = assignment
        count = self._tx.execute(
            "INSERT INTO assignments (id, permission_id, identity_id, org_id)"
            " SELECT %s::text, %s::text, %s::text, %s::text"
            " WHERE EXISTS (SELECT 1 FROM permissions WHERE id = %s)"
            " ON CONFLICT DO NOTHING",
            (a.id, a.permission_id, a.identity_id, a.org_id, a.permission_id),
        )
        if count == 0:
            if self.get_permission(a.permission_id) is None:
                raise KeyError(a.permission_id)
            raise AlreadyExists(a.id)

    def assignments_of(self, user_id: UserId) -> list[AssignedPermission]:
        """Every assignment to the user with its permission, in assignment order."""
        rows = self._tx.all(
            "SELECT a.id, p.id, p.org_id, p.name, p.operations, p.is_archived"
            " FROM assignments AS a JOIN permissions AS p ON p.id = a.permission_id"
            " WHERE a.identity_id = %s ORDER BY a.seq",
            (user_id,),
        )
        return [
            AssignedPermission(assignment_id=AssignmentId(row[0]), permission=_permission(row, 1))
            for row in rows
        ]


class PostgresUserActionStore(_Part):
    """Issued user action grants of a `PostgresStore`; consuming one is a conditional update."""

    __slots__ = ()

    def add(self, record: UserActionRecord) -> None:
        """Store a newly issued grant; AlreadyExists if its token id is taken."""
        grant = record.grant
        count = self._tx.execute(
            "INSERT INTO user_actions (token_id, expires_at, used_at, record)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (grant.token_id, grant.expires_at, record.used_at, user_action_to_json(record)),
        )
        if count == 0:
            raise AlreadyExists(grant.token_id)
        if next(self._store.writes) % self._store.purge_every == 0:
            self.purge(now=grant.issued_at)

    def consume(self, token_id: str, *, at: datetime) -> ConsumeOutcome:
        """Mark the grant used at `at` if unused; exactly one caller ever sees CONSUMED."""
        rows = self._tx.all(
            "UPDATE user_actions SET used_at = %s WHERE token_id = %s AND used_at IS NULL"
            " RETURNING record",
            (at, token_id),
        )
        if rows:
            return ConsumeOutcome(ConsumeStatus.CONSUMED, user_action_from_json(rows[0][0], at))
        if self._tx.one("SELECT 1 FROM user_actions WHERE token_id = %s", (token_id,)) is None:
            return ConsumeOutcome(ConsumeStatus.UNKNOWN)
        return ConsumeOutcome(ConsumeStatus.ALREADY_USED)

    def purge(self, *, now: datetime) -> int:
        """Forget grants whose expiry is before `now` (used or not); return how many."""
        return self._tx.execute("DELETE FROM user_actions WHERE expires_at < %s", (now,))


class PostgresAuditLog(_Part):
    """The append-only audit log of a `PostgresStore` (a trigger refuses changes)."""

    __slots__ = ()

    def head(self, org_id: OrgId) -> AuditRecord | None:
        """The org's latest record, or None. Takes the org's lock (to the end of the unit
        of work) so that concurrent appends in one org wait their turn."""
        self._tx.lock_org(org_id)
        row = self._tx.one(
            "SELECT record FROM audit WHERE org_id = %s ORDER BY sequence DESC LIMIT 1",
            (org_id,),
        )
        return None if row is None else audit_from_json(row[0])

    def append(self, record: AuditRecord) -> None:
        """Append a record; ConcurrencyConflict unless its sequence follows the org's head."""
        count = self._tx.execute(
            "INSERT INTO audit (org_id, sequence, id, hash, target_id, user_action_id,"
            " performed_at, record)"
            " SELECT %s::text, %s::bigint, %s::text, %s::text, %s::text, %s::text,"
            " %s::timestamptz, %s::text"
            " WHERE %s::bigint = 1 + COALESCE("
            "(SELECT MAX(sequence) FROM audit WHERE org_id = %s), 0)"
            " ON CONFLICT DO NOTHING",
            (
                record.org_id,
                record.sequence,
                record.id,
                record.hash,
                record.target_id,
                record.user_action_id,
                record.performed_at,
                audit_to_json(record),
                record.sequence,
                record.org_id,
            ),
        )
        if count == 0:
            raise ConcurrencyConflict(f"{record.org_id}#{record.sequence}")

    def records(self, org_id: OrgId | None = None) -> list[AuditRecord]:
        """Records of one org (or all), ordered by org then sequence."""
        if org_id is None:
            rows = self._tx.all("SELECT record FROM audit ORDER BY org_id, sequence")
        else:
            rows = self._tx.all(
                "SELECT record FROM audit WHERE org_id = %s ORDER BY sequence", (org_id,)
            )
        return [audit_from_json(row[0]) for row in rows]


class PostgresUnitOfWork:
    """One `READ COMMITTED` transaction over a `PostgresStore`: rollback unless committed."""

    def __init__(self, store: PostgresStore) -> None:
        tx = _Transaction(store.pool, store.schema)
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
    """Single autocommit statements on the store's second pool, errors translated."""

    __slots__ = ("pool",)

    def __init__(self, pool: ConnectionPool[psycopg.Connection[Any]]) -> None:
        self.pool = pool

    def run(self, query: str, params: Sequence[Any] = ()) -> tuple[int, list[Any]]:
        try:
            with self.pool.connection() as conn:
                cursor = conn.execute(query, params)
                rows = cursor.fetchall() if cursor.description is not None else []
                return cursor.rowcount, rows
        except psycopg.Error as exc:
            _fail(exc)


class PostgresChallengeStore:
    """Open challenges; `take` is one atomic `DELETE … RETURNING` (autocommit)."""

    def __init__(self, direct: _Direct, *, purge_every: int) -> None:
        self._db = direct
        self._purge_every = purge_every
        self._writes = itertools.count(1)

    def put(self, challenge: Challenge) -> None:
        """Store an open challenge until its expiry (expired ones are purged now and then)."""
        self._db.run(
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
        _count, rows = self._db.run(
            "DELETE FROM challenges WHERE key = %s AND user_id = %s RETURNING payload",
            (key, user_id),
        )
        if not rows:
            return None
        challenge = challenge_from_json(rows[0][0])
        return challenge if now < challenge.expires_at else None

    def purge(self, *, now: datetime) -> int:
        """Forget expired challenges; return how many."""
        return self._db.run("DELETE FROM challenges WHERE expires_at <= %s", (now,))[0]

    def count(self) -> int:
        """How many entries are stored now (expired ones not yet purged included)."""
        return int(self._db.run("SELECT COUNT(*) FROM challenges")[1][0][0])


class PostgresReplayGuard:
    """Request nonces; the first use is one conditional upsert (autocommit)."""

    def __init__(self, direct: _Direct, *, purge_every: int) -> None:
        self._db = direct
        self._purge_every = purge_every
        self._writes = itertools.count(1)

    def first_use(self, key: str, *, expires_at: datetime, now: datetime) -> bool:
        """Record `key` through `expires_at`; True only for its first use while remembered."""
        count, _rows = self._db.run(
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
        return self._db.run("DELETE FROM nonces WHERE expires_at < %s", (now,))[0]

    def count(self) -> int:
        """How many entries are stored now (expired ones not yet purged included)."""
        return int(self._db.run("SELECT COUNT(*) FROM nonces")[1][0][0])


class PostgresSigningKeyStore:
    """Server signing keys, shared by every instance using the database."""

    def __init__(self, direct: _Direct) -> None:
        self._db = direct

    def keys(self, purpose: str) -> Sequence[SigningKey]:
        """Every key of this purpose, oldest first, retired ones included."""
        _count, rows = self._db.run(
            "SELECT kid, purpose, algorithm, private_key, created_at, retired_at"
            " FROM signing_keys WHERE purpose = %s ORDER BY seq",
            (purpose,),
        )
        return [
            SigningKey(
                kid=row[0],
                purpose=row[1],
                algorithm=row[2],
                private_key=row[3],
                created_at=row[4],
                retired_at=row[5],
            )
            for row in rows
        ]

    def add(self, key: SigningKey) -> bool:
        """Store a new key; False if a key of this kid already exists."""
        count, _rows = self._db.run(
            "INSERT INTO signing_keys (kid, purpose, algorithm, private_key, created_at,"
            " retired_at) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (key.kid, key.purpose, key.algorithm, key.private_key, key.created_at, key.retired_at),
        )
        return count == 1

    def retire(self, kid: str, *, at: datetime) -> None:
        """Mark a key retired from `at` on (no-op for an unknown kid)."""
        self._db.run("UPDATE signing_keys SET retired_at = %s WHERE kid = %s", (at, kid))


_ROW_COUNTS: Final = (
    "SELECT 'users', COUNT(*) FROM users UNION ALL SELECT 'credentials', COUNT(*) FROM credentials"
    " UNION ALL SELECT 'permissions', COUNT(*) FROM permissions"
    " UNION ALL SELECT 'assignments', COUNT(*) FROM assignments"
    " UNION ALL SELECT 'user_actions', COUNT(*) FROM user_actions"
    " UNION ALL SELECT 'audit', COUNT(*) FROM audit"
)


# --------------------------------------------------------------------------- the store


class PostgresStore:
    """Every storage port in one PostgreSQL schema; calling it starts a unit of work.

    `pool_size` bounds the connections units of work use at once (a unit waits up to
    `timeout` seconds for one, then `StorageUnavailable`); the replay store and the
    signing keys use a second pool of autocommit connections of the same size.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        pool_size: int = 10,
        timeout: float = 10.0,
        purge_every: int = DEFAULT_PURGE_EVERY,
        migrations: tuple[Migration, ...] | None = None,
    ) -> None:
        if _SCHEMA_NAME.match(schema) is None:
            raise ValueError("schema must be a lowercase SQL identifier")
        if pool_size < 1 or purge_every < 1:
            raise ValueError("pool_size and purge_every must be positive")
        self.schema = schema
        self.purge_every = purge_every
        self.writes = itertools.count(1)
        self.pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_size,
            open=False,
            timeout=timeout,
            configure=self._configure,
            name=f"archive-core:{schema}",
        )
        self._direct_pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_size,
            open=False,
            timeout=timeout,
            kwargs={"autocommit": True},
            configure=self._configure,
            name=f"archive-core:{schema}:direct",
        )
        try:
            self.pool.open(wait=True, timeout=timeout)
            self._direct_pool.open(wait=True, timeout=timeout)
            self._migrate(load("postgres") if migrations is None else migrations)
        except psycopg.Error as exc:
            self.close()
            _fail(exc)
        except BaseException:
            self.close()
            raise
        direct = _Direct(self._direct_pool)
        self.challenges = PostgresChallengeStore(direct, purge_every=purge_every)
        self.replay_guard = PostgresReplayGuard(direct, purge_every=purge_every)
        self.signing_keys = PostgresSigningKeyStore(direct)

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(
            sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)).as_string(conn)
        )
        conn.execute("SET TIME ZONE 'UTC'")
        if not conn.autocommit:
            conn.commit()
            conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED

    def _migrate(self, migrations: tuple[Migration, ...]) -> None:
        with self.pool.connection() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}")
                .format(sql.Identifier(self.schema))
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
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )

    def unit_of_work(self) -> PostgresUnitOfWork:
        """A new, not yet entered, unit of work (the `UnitOfWorkFactory`)."""
        return PostgresUnitOfWork(self)

    __call__ = unit_of_work

    def row_counts(self) -> dict[str, int]:
        """Rows per table (what retention keeps bounded), for monitoring and tests."""
        _count, rows = _Direct(self._direct_pool).run(_ROW_COUNTS)
        return {name: int(count) for name, count in rows}

    def close(self) -> None:
        """Close both pools (idempotent)."""
        self.pool.close()
        self._direct_pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
