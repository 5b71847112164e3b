"""What the SQLite and PostgreSQL adapters share: the same tables, spoken in two dialects.

Both databases hold the same tables (`migrations/sqlite/`, `migrations/postgres/`) and
answer the same statements but for a few dialect points. So the statements, the row
mappers, the parameter builders, the six repositories of a unit of work and the signing
key store are written once, here. `sqlite.py` and `postgres.py` keep what is truly
theirs: connections and transactions, error translation, migrations, the replay stores,
SQLite's memo of built values, PostgreSQL's per-org lock.

**Statements** are written once, as templates, and rendered for a dialect once, when a
backend subclasses a class of this module (`class SqliteUserRepository(UserRepository,
dialect=DIALECT)`, at import), never per call. Every UPPERCASE string attribute of such
a class is a template:

- `?` is a parameter and `:name` a named one (the DB-API's `qmark` and `named` styles;
  PostgreSQL gets `%s` and `%(name)s`);
- `?::type` casts a parameter whose type PostgreSQL cannot infer; SQLite, which has no
  `::`, gets the bare parameter;
- `{word}` is one of the few words the dialects say differently (`Dialect.words`):
  boolean literals, the expiry column, the elements of a list parameter.

**Values** whose stored form differs go through the dialect's converters: SQLite keeps
times as ISO-8601 text, expiries as integer microseconds and lists as JSON text;
PostgreSQL takes `timestamptz` and `text[]` as they are.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any, ClassVar, Final, Protocol, TypeVar

import attrs

from adapters.storage.codec import (
    ContentMemo,
    audit_from_json,
    audit_to_json,
    challenge_from_json,
    user_action_from_json,
    user_action_to_json,
)
from archive_core.audit import AuditRecord, AuditWindow
from archive_core.audit_tree import record_subtrees
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
from archive_core.errors import AlreadyExists, ConcurrencyConflict
from archive_core.ids import AppId, AssignmentId, CredentialUuid, OrgId, PermissionId, UserId
from archive_core.ports import ConsumeOutcome, ConsumeStatus, SigningKey
from archive_core.usernames import username_key

__all__ = [
    "ROW_COUNTS",
    "ApplicationRepository",
    "AuditLog",
    "CredentialRepository",
    "Dialect",
    "Direct",
    "Memos",
    "PermissionRepository",
    "Repository",
    "Session",
    "SigningKeyStore",
    "Statements",
    "SubtreeCache",
    "UserActionStore",
    "UserRepository",
    "taken_challenge",
]

K = TypeVar("K")
C = TypeVar("C")
V = TypeVar("V")
Params = Sequence[Any] | dict[str, Any]

_NAMED: Final = re.compile(r"(?<![:\w]):([a-z_]+)")
_CAST: Final = re.compile(r"::[a-z]+(?:\[\])?")


# --------------------------------------------------------------------------- dialects


class Dialect:
    """How one database says the shared statements and stores the shared values."""

    __slots__ = (
        "casts",
        "load_time",
        "named",
        "param",
        "store_expiry",
        "store_list",
        "store_time",
        "unique_violation",
        "words",
    )

    def __init__(
        self,
        *,
        param: str,
        named: str,
        casts: bool,
        words: Mapping[str, str],
        load_time: Callable[[Any], datetime],
        store_time: Callable[[datetime], Any],
        store_expiry: Callable[[datetime], Any],
        store_list: Callable[[list[str]], Any],
        unique_violation: Callable[[BaseException], bool],
    ) -> None:
        #: The positional parameter (`?`, `%s`) and the named one (`:{}`, `%({})s`).
        self.param = param
        self.named = named
        #: Whether `?::type` casts are kept (else the bare parameter is left).
        self.casts = casts
        #: What each `{word}` of a template says in this dialect.
        self.words = dict(words)
        #: A stored time as a `datetime`, and the stored forms of a time (a column read
        #: back), of an expiry (a column compared with `now`) and of a list of strings.
        self.load_time = load_time
        self.store_time = store_time
        self.store_expiry = store_expiry
        self.store_list = store_list
        #: Whether a driver error is a unique index refusing a row (a username taken).
        self.unique_violation = unique_violation

    def render(self, template: str) -> str:
        """The template's statement in this dialect (see the module docstring)."""
        text = template.format_map(self.words)
        if not self.casts:
            text = _CAST.sub("", text)
        if self.param != "?":
            text = text.replace("%", "%%").replace("?", self.param)
        return _NAMED.sub(lambda match: self.named.format(match[1]), text)


class Statements:
    """A class whose UPPERCASE string attributes are statement templates; a subclass
    naming a dialect (`class X(Base, dialect=...)`) gets them rendered in it, once."""

    __slots__ = ()
    dialect: ClassVar[Dialect]

    def __init_subclass__(cls, *, dialect: Dialect | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if dialect is None:
            return
        cls.dialect = dialect
        for base in cls.__mro__[1:]:
            for name, value in vars(base).items():
                if name.isupper() and isinstance(value, str) and name not in vars(cls):
                    setattr(cls, name, dialect.render(value))


#: Rows per table (what retention keeps bounded), for monitoring and tests.
ROW_COUNTS: Final = (
    "SELECT 'users', COUNT(*) FROM users UNION ALL SELECT 'credentials', COUNT(*) FROM credentials"
    " UNION ALL SELECT 'permissions', COUNT(*) FROM permissions"
    " UNION ALL SELECT 'assignments', COUNT(*) FROM assignments"
    " UNION ALL SELECT 'user_actions', COUNT(*) FROM user_actions"
    " UNION ALL SELECT 'audit', COUNT(*) FROM audit"
)


# --------------------------------------------------------------------------- what a repository uses


class Session(Protocol):
    """The connection of one unit of work, its driver errors translated."""

    def execute(self, sql: str, params: Params = (), /) -> int:
        """Run one statement; its row count."""
        ...

    def one(self, sql: str, params: Params = (), /) -> Any:
        """Run one statement; its first row, or None."""
        ...

    def all(self, sql: str, params: Params = (), /) -> list[Any]:
        """Run one statement; its rows."""
        ...

    @property
    def reading(self) -> bool:
        """Whether the unit of work only reads: then every row it reads is committed."""
        ...


class Store(Protocol):
    """What the repositories use of their store."""

    @property
    def memo(self) -> Memos:
        """How the store builds entities from its rows."""
        ...

    @property
    def writes(self) -> Iterator[int]:
        """Counts the grants written (each store purges every `purge_every`)."""
        ...

    @property
    def purge_every(self) -> int:
        """How many writes between two purges."""
        ...


class _Unmemoised(ContentMemo[K, C, V]):
    """A `ContentMemo` that keeps nothing: every lookup builds the value afresh."""

    __slots__ = ()

    def get(self, key: K, content: C) -> V:
        """Build the value from `content`."""
        return self._build(content)

    def put(self, key: K, content: C, value: V) -> None:
        """Keep nothing."""


_USER_KINDS: Final = {kind.value: kind for kind in UserKind}


class Memos:
    """How a store builds entities from its rows and stored JSON.

    With `remember=True` (SQLite) each kind is a `codec.ContentMemo`, by id (or org, for
    audit heads) beside the stored content; without (PostgreSQL), every lookup builds
    afresh and `put` keeps nothing.
    """

    __slots__ = (
        "_load_time",
        "assignments",
        "audit",
        "grants",
        "permissions",
        "subtrees",
        "users",
    )

    def __init__(self, dialect: Dialect, *, remember: bool) -> None:
        self._load_time = dialect.load_time
        keep = ContentMemo if remember else _Unmemoised
        # By id, beside their rows
        self.users: ContentMemo[str, tuple[Any, ...], User] = keep(self._user, size=1024)
        self.permissions: ContentMemo[str, tuple[Any, ...], Permission] = keep(
            _permission, size=1024
        )
        self.assignments: ContentMemo[str, tuple[Any, ...], AssignedPermission] = keep(
            self._assigned, size=1024
        )
        # By token id, beside their stored JSON. A grant is consumed moments after it is
        # issued: a short memory is enough, and each entry holds its evidence (a few
        # KiB), so the size bounds memory too.
        self.grants: ContentMemo[str, str, UserActionRecord] = keep(user_action_from_json, size=256)
        # By org, beside its stored JSON: each org's head as last appended or read.
        self.audit: ContentMemo[str, str, AuditRecord] = keep(audit_from_json, size=256)
        # Each org's upper subtrees, as units that only read found them (`AuditLog.subtrees`).
        self.subtrees = SubtreeCache() if remember else None

    def _user(self, row: Any) -> User:
        # `row` is untyped: its text columns are the ids' NewTypes as they are (no call).
        # Positional, in the fields' order (a keyword call of eleven costs several
        # times more: docs/benchmarks.md §1); the target of every archive is built here.
        archived = row[6]
        cut_off = row[10]
        return User(
            row[0],  # id
            row[1],  # org_id
            row[2],  # username
            _USER_KINDS[row[3]],  # kind
            row[4],  # credential_uuid
            bool(row[5]),  # is_active
            None if archived is None else self._load_time(archived),  # archived_at
            bool(row[7]),  # is_service_account
            bool(row[8]),  # is_registered
            row[9],  # version
            None if cut_off is None else self._load_time(cut_off),  # cut_off_at
            bool(row[11]),  # is_sso_required
            row[12],  # external_id
        )

    def _assigned(self, row: tuple[Any, ...]) -> AssignedPermission:
        return AssignedPermission(
            assignment_id=AssignmentId(row[0]), permission=self.permissions.get(row[1], row[1:])
        )


def _permission(row: tuple[Any, ...]) -> Permission:
    return Permission(
        id=PermissionId(row[0]),
        org_id=OrgId(row[1]),
        name=row[2],
        operations=tuple(json.loads(row[3])),
        is_archived=bool(row[4]),
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


class Repository(Statements):
    """One repository of a unit of work: its store and the unit's session."""

    __slots__ = ("_store", "_tx")

    def __init__(self, store: Store, session: Session) -> None:
        self._store = store
        self._tx = session


# --------------------------------------------------------------------------- repositories


class UserRepository(Repository):
    """Users."""

    __slots__ = ()
    COLUMNS = (
        "SELECT id, org_id, username, kind, credential_uuid, is_active, archived_at,"
        " is_service_account, is_registered, version, cut_off_at, is_sso_required,"
        " external_id FROM users"
    )
    GET = COLUMNS + " WHERE id = ?"
    BY_EXTERNAL_ID = COLUMNS + " WHERE org_id = ? AND external_id = ? AND archived_at IS NULL"
    # Keyset pages over the partial indexes of migration 0005: `limit` entries read.
    PAGE = COLUMNS + " WHERE org_id = ? AND archived_at IS NULL AND id > ? ORDER BY id LIMIT ?"
    PAGE_OF_KIND = (
        COLUMNS + " WHERE org_id = ? AND kind = ? AND archived_at IS NULL AND id > ?"
        " ORDER BY id LIMIT ?"
    )
    ORG_EXISTS = "SELECT EXISTS (SELECT 1 FROM users WHERE org_id = ?)"
    # A taken id or a taken name (the partial unique index on `(org_id, username_key)`
    # among users not archived) inserts nothing: `AlreadyExists`, and the unit goes on.
    ADD = (
        "INSERT INTO users (org_id, username, kind, credential_uuid, is_active, archived_at,"
        " is_service_account, is_registered, version, cut_off_at, is_sso_required,"
        " external_id, id, username_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING"
    )
    # A new username takes its key with it; the partial unique index refuses a name
    # another user of the org not archived holds (`AlreadyExists`).
    UPDATE = (
        "UPDATE users SET org_id = ?, username = ?, kind = ?, credential_uuid = ?, is_active = ?,"
        " archived_at = ?, is_service_account = ?, is_registered = ?, version = ?,"
        " cut_off_at = ?, is_sso_required = ?, external_id = ?, username_key = ?"
        " WHERE id = ? AND version = ?"
    )
    ANY_OTHER_ACTIVE = """
SELECT EXISTS (
    SELECT 1 FROM users AS u
    WHERE u.org_id = :org AND u.id <> :exclude AND u.is_active = {true} AND u.archived_at IS NULL
      AND (:service_accounts OR u.is_service_account = {false}) AND u.kind {in_kinds}
)"""
    # The lock-out guard's query, driven from the permission side: it reads the org's
    # full admins and the holders of the first operation (each checked for the others),
    # never the org's whole user list.
    HOLDER = """
SELECT EXISTS (
    SELECT 1
    FROM permissions AS p
    JOIN assignments AS a ON a.permission_id = p.id
    JOIN users AS u ON u.id = a.identity_id
    WHERE p.org_id = :org AND p.name = :full_admin AND p.is_archived = {false}
      AND u.org_id = :org AND u.id <> :exclude AND u.is_active = {true} AND u.archived_at IS NULL
      AND (:service_accounts OR u.is_service_account = {false}) AND u.kind {in_kinds}
) OR EXISTS (
    SELECT 1
    FROM permission_operations AS po
    JOIN permissions AS p ON p.id = po.permission_id
    JOIN assignments AS a ON a.permission_id = po.permission_id
    JOIN users AS u ON u.id = a.identity_id
    WHERE po.org_id = :org AND po.operation = :first AND p.org_id = :org AND p.is_archived = {false}
      AND u.org_id = :org AND u.id <> :exclude AND u.is_active = {true} AND u.archived_at IS NULL
      AND (:service_accounts OR u.is_service_account = {false}) AND u.kind {in_kinds}
      AND (
        SELECT COUNT(DISTINCT po2.operation)
        FROM assignments AS a2
        JOIN permissions AS p2 ON p2.id = a2.permission_id
        JOIN permission_operations AS po2 ON po2.permission_id = a2.permission_id
        WHERE a2.identity_id = u.id AND p2.org_id = :org AND p2.is_archived = {false}
          AND po2.operation {in_operations}
      ) = :count
)"""

    def get(self, user_id: UserId) -> User | None:
        """The user with this id, archived or not, or None."""
        row = self._tx.one(self.GET, (user_id,))
        return None if row is None else self._store.memo.users.get(row[0], row)

    def org_exists(self, org_id: OrgId) -> bool:
        """Whether the org has a user, archived or not."""
        return bool(self._tx.one(self.ORG_EXISTS, (org_id,))[0])

    def find_by_external_id(self, org_id: OrgId, external_id: str) -> User | None:
        """The org's user not archived created with this `externalId`, or None."""
        row = self._tx.one(self.BY_EXTERNAL_ID, (org_id, external_id))
        return None if row is None else self._store.memo.users.get(row[0], row)

    def list_users(
        self, org_id: OrgId, *, after: UserId | None, kinds: frozenset[UserKind], limit: int
    ) -> list[User]:
        """The org's users not archived, by id, after `after`, of `kinds` (all when empty)."""
        start = "" if after is None else after
        if len(kinds) == 1:  # one kind (of the two): its own index
            (kind,) = kinds
            rows = self._tx.all(self.PAGE_OF_KIND, (org_id, kind._value_, start, limit))
        else:
            rows = self._tx.all(self.PAGE, (org_id, start, limit))
        users = self._store.memo.users
        return [users.get(row[0], row) for row in rows]

    def add(self, user: User) -> None:
        """Store a new user; AlreadyExists if its id, or its username in its org, is taken."""
        params = (*self._params(user), user.id, username_key(user.username))
        if self._tx.execute(self.ADD, params) == 0:
            raise AlreadyExists(user.id)

    def update(self, user: User, *, expected_version: int) -> None:
        """Replace the stored user; ConcurrencyConflict unless it is at `expected_version`,
        AlreadyExists when its new username is another's."""
        params = (*self._params(user), username_key(user.username), user.id, expected_version)
        try:
            changed = self._tx.execute(self.UPDATE, params)
        except Exception as exc:
            if self.dialect.unique_violation(exc):
                raise AlreadyExists(user.id) from exc
            raise
        if changed == 0:
            raise ConcurrencyConflict(user.id)

    def _params(self, user: User) -> tuple[Any, ...]:
        archived = user.archived_at
        cut_off = user.cut_off_at
        return (
            user.org_id,
            user.username,
            user.kind._value_,
            user.credential_uuid,
            user.is_active,
            None if archived is None else self.dialect.store_time(archived),
            user.is_service_account,
            user.is_registered,
            user.version,
            None if cut_off is None else self.dialect.store_time(cut_off),
            user.is_sso_required,
            user.external_id,
        )

    def has_other_active_holder(
        self,
        org_id: OrgId,
        *,
        operations: frozenset[str],
        kinds: frozenset[UserKind],
        exclude: UserId,
        include_service_accounts: bool,
    ) -> bool:
        """Whether another active user of the org, of one of `kinds`, holds every
        operation (or full admin)."""
        params: dict[str, Any] = {
            "org": org_id,
            "exclude": exclude,
            "service_accounts": include_service_accounts,
            "kinds": self.dialect.store_list(sorted(kind._value_ for kind in kinds)),
        }
        if not operations:
            return bool(self._tx.one(self.ANY_OTHER_ACTIVE, params)[0])
        ordered = sorted(operations)
        params.update(
            first=ordered[0],
            operations=self.dialect.store_list(ordered),
            count=len(ordered),
            full_admin=FULL_ADMIN,
        )
        return bool(self._tx.one(self.HOLDER, params)[0])


class CredentialRepository(Repository):
    """Credentials."""

    __slots__ = ()
    SELECT = (
        "SELECT uuid, cred_id, user_id, org_id, kind, public_key, algorithm, is_active,"
        " sign_count, encrypted_private_key FROM credentials"
    )
    BY_CRED_ID = SELECT + " WHERE cred_id = ?"
    OF_USER = SELECT + " WHERE user_id = ? ORDER BY seq"
    ADD = (
        "INSERT INTO credentials (uuid, cred_id, user_id, org_id, kind, public_key, algorithm,"
        " is_active, sign_count, encrypted_private_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING"
    )
    UPDATE_SIGN_COUNT = "UPDATE credentials SET sign_count = ? WHERE uuid = ? AND sign_count = ?"

    def get_by_cred_id(self, cred_id: str) -> Credential | None:
        """The credential clients name by `credId`, or None."""
        row = self._tx.one(self.BY_CRED_ID, (cred_id,))
        return None if row is None else _credential(row)

    def list_for_user(self, user_id: UserId) -> list[Credential]:
        """Every credential of the user, in registration order."""
        return [_credential(row) for row in self._tx.all(self.OF_USER, (user_id,))]

    def add(self, credential: Credential) -> None:
        """Store a new credential; AlreadyExists if its uuid or cred_id is taken."""
        c = credential
        params = (
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
        )
        if self._tx.execute(self.ADD, params) == 0:
            raise AlreadyExists(c.uuid)

    def update_sign_count(
        self, uuid: CredentialUuid, *, new_count: int, expected_count: int
    ) -> None:
        """Set the counter; ConcurrencyConflict unless it is `expected_count`."""
        if self._tx.execute(self.UPDATE_SIGN_COUNT, (new_count, uuid, expected_count)) == 0:
            raise ConcurrencyConflict(uuid)


class ApplicationRepository(Repository):
    """Applications."""

    __slots__ = ()
    GET = "SELECT id, org_id, name, is_active FROM applications WHERE id = ?"
    ADD = (
        "INSERT INTO applications (id, org_id, name, is_active) VALUES (?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING"
    )

    def get(self, app_id: AppId) -> Application | None:
        """The application with this id, or None."""
        row = self._tx.one(self.GET, (app_id,))
        if row is None:
            return None
        return Application(
            id=AppId(row[0]), org_id=OrgId(row[1]), name=row[2], is_active=bool(row[3])
        )

    def add(self, application: Application) -> None:
        """Store a new application; AlreadyExists if its id is taken."""
        a = application
        if self._tx.execute(self.ADD, (a.id, a.org_id, a.name, a.is_active)) == 0:
            raise AlreadyExists(a.id)


class PermissionRepository(Repository):
    """Permissions and assignments."""

    __slots__ = ()
    ADD = (
        "INSERT INTO permissions (id, org_id, name, operations, is_archived)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
    )
    ADD_OPERATIONS = (
        "INSERT INTO permission_operations (permission_id, org_id, operation)"
        " SELECT ?::text, ?::text, {each_element} ON CONFLICT DO NOTHING"
    )
    GET = "SELECT id, org_id, name, operations, is_archived FROM permissions WHERE id = ?"
    ASSIGN = (
        "INSERT INTO assignments (id, permission_id, identity_id, org_id)"
        " SELECT ?::text, ?::text, ?::text, ?::text"
        " WHERE EXISTS (SELECT 1 FROM permissions WHERE id = ?)"
        " ON CONFLICT DO NOTHING"
    )
    ASSIGNMENTS_OF = (
        "SELECT a.id, p.id, p.org_id, p.name, p.operations, p.is_archived"
        " FROM assignments AS a JOIN permissions AS p ON p.id = a.permission_id"
        " WHERE a.identity_id = ? ORDER BY a.seq"
    )
    ASSIGNMENTS_OF_USERS = (
        "SELECT a.identity_id, a.id, p.id, p.org_id, p.name, p.operations, p.is_archived"
        " FROM assignments AS a JOIN permissions AS p ON p.id = a.permission_id"
        " WHERE a.identity_id {in_users} ORDER BY a.seq"
    )

    def add_permission(self, permission: Permission) -> None:
        """Store a new permission; AlreadyExists if its id is taken."""
        p = permission
        params = (p.id, p.org_id, p.name, json.dumps(list(p.operations)), p.is_archived)
        if self._tx.execute(self.ADD, params) == 0:
            raise AlreadyExists(p.id)
        operations = self.dialect.store_list(sorted(set(p.operations)))
        self._tx.execute(self.ADD_OPERATIONS, (p.id, p.org_id, operations))

    def get_permission(self, permission_id: PermissionId) -> Permission | None:
        """The permission with this id, or None."""
        row = self._tx.one(self.GET, (permission_id,))
        return None if row is None else self._store.memo.permissions.get(row[0], row)

    def assign(self, assignment: Assignment) -> None:
        """Store a new assignment; KeyError if the permission is unknown, AlreadyExists if
        the assignment id is taken."""
        a = assignment
        params = (a.id, a.permission_id, a.identity_id, a.org_id, a.permission_id)
        if self._tx.execute(self.ASSIGN, params) == 0:
            if self.get_permission(a.permission_id) is None:
                raise KeyError(a.permission_id)
            raise AlreadyExists(a.id)

    def assignments_of(self, user_id: UserId) -> list[AssignedPermission]:
        """Every assignment to the user with its permission, in assignment order."""
        rows = self._tx.all(self.ASSIGNMENTS_OF, (user_id,))
        assignments = self._store.memo.assignments
        return [assignments.get(row[0], row) for row in rows]

    def assignments_of_users(
        self, user_ids: Sequence[UserId]
    ) -> dict[UserId, list[AssignedPermission]]:
        """Every assignment of each user, in assignment order (one statement)."""
        found: dict[UserId, list[AssignedPermission]] = {user_id: [] for user_id in user_ids}
        if not found:
            return found
        params = {"users": self.dialect.store_list(list(found))}
        assignments = self._store.memo.assignments
        for row in self._tx.all(self.ASSIGNMENTS_OF_USERS, params):
            found[row[0]].append(assignments.get(row[1], row[1:]))
        return found


class UserActionStore(Repository):
    """Issued user action grants; consuming one is a conditional update."""

    __slots__ = ()
    ADD = (
        "INSERT INTO user_actions (token_id, {expires}, used_at, record)"
        " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
    )
    CONSUME = (
        "UPDATE user_actions SET used_at = ? WHERE token_id = ? AND used_at IS NULL"
        " RETURNING record"
    )
    EXISTS = "SELECT 1 FROM user_actions WHERE token_id = ?"
    PURGE = "DELETE FROM user_actions WHERE {expires} < ?"

    def add(self, record: UserActionRecord) -> None:
        """Store a newly issued grant; AlreadyExists if its token id is taken."""
        grant = record.grant
        used = record.used_at
        text = user_action_to_json(record)
        dialect = self.dialect
        params = (
            grant.token_id,
            dialect.store_expiry(grant.expires_at),
            None if used is None else dialect.store_time(used),
            text,
        )
        if self._tx.execute(self.ADD, params) == 0:
            raise AlreadyExists(grant.token_id)
        self._store.memo.grants.put(
            grant.token_id, text, UserActionRecord(grant=grant, evidence=record.evidence)
        )
        if next(self._store.writes) % self._store.purge_every == 0:
            self.purge(now=grant.issued_at)

    def consume(self, token_id: str, *, at: datetime) -> ConsumeOutcome:
        """Mark the grant used at `at` if unused; exactly one caller ever sees CONSUMED."""
        rows = self._tx.all(self.CONSUME, (self.dialect.store_time(at), token_id))
        if rows:
            issued = self._store.memo.grants.get(token_id, rows[0][0])
            used = UserActionRecord(issued.grant, issued.evidence, at)
            return ConsumeOutcome(ConsumeStatus.CONSUMED, used)
        if self._tx.one(self.EXISTS, (token_id,)) is None:
            return ConsumeOutcome(ConsumeStatus.UNKNOWN)
        return ConsumeOutcome(ConsumeStatus.ALREADY_USED)

    def purge(self, *, now: datetime) -> int:
        """Forget grants whose expiry is before `now` (used or not); return how many."""
        return self._tx.execute(self.PURGE, (self.dialect.store_expiry(now),))


class AuditLog(Repository):
    """The append-only audit log (the database refuses updates and deletes)."""

    __slots__ = ()
    HEAD = "SELECT record FROM audit WHERE org_id = ? ORDER BY sequence DESC LIMIT 1"
    APPEND = (
        "INSERT INTO audit (org_id, sequence, id, hash, target_id, user_action_id,"
        " performed_at, record)"
        " SELECT ?::text, ?::bigint, ?::text, ?::text, ?::text, ?::text, ?::timestamptz, ?::text"
        " WHERE ?::bigint = 1 + COALESCE((SELECT MAX(sequence) FROM audit WHERE org_id = ?), 0)"
        " ON CONFLICT DO NOTHING"
    )
    # The org's Merkle tree (`audit_tree`): its size is one past its last leaf's index
    # (the primary key's order, not a count); its subtrees are read and written a few
    # at a time (`_READ_SUBTREES`, `_WRITE_SUBTREES`).
    TREE_SIZE = (
        "SELECT idx + 1 FROM audit_tree WHERE org_id = ? AND level = 0 ORDER BY idx DESC LIMIT 1"
    )
    ALL_RECORDS = "SELECT record FROM audit ORDER BY org_id, sequence"
    RECORDS_OF = "SELECT record FROM audit WHERE org_id = ? ORDER BY sequence"
    FIND = "SELECT record FROM audit WHERE org_id = ? AND id = ?"
    # A window: `{performed}` compares instants (SQLite: through `instant_us`), `{actor}`
    # is the record's `actorId`; a NULL actor parameter lets every actor through.
    SURVEY = (
        "SELECT COUNT(*), COALESCE(MAX(sequence), 0) FROM (SELECT sequence FROM audit"
        " WHERE org_id = :org AND {performed} >= :start AND {performed} < :end"
        " AND (:actor::text IS NULL OR {actor} = :actor::text)"
        " ORDER BY sequence LIMIT :at_most) AS counted"
    )
    WINDOW = (
        "SELECT record FROM audit WHERE org_id = :org AND sequence > :after"
        " AND sequence <= :through AND {performed} >= :start AND {performed} < :end"
        " AND (:actor::text IS NULL OR {actor} = :actor::text) ORDER BY sequence LIMIT :limit"
    )

    def head(self, org_id: OrgId) -> AuditRecord | None:
        """The org's latest record, or None."""
        row = self._tx.one(self.HEAD, (org_id,))
        return None if row is None else self._store.memo.audit.get(org_id, row[0])

    def append(self, record: AuditRecord) -> None:
        """Append a record; ConcurrencyConflict unless its sequence follows the org's head."""
        text = audit_to_json(record)
        params = (
            record.org_id,
            record.sequence,
            record.id,
            record.hash,
            record.target_id,
            record.user_action_id,
            self.dialect.store_time(record.performed_at),
            text,
            record.sequence,
            record.org_id,
        )
        if self._tx.execute(self.APPEND, params) == 0:
            raise ConcurrencyConflict(f"{record.org_id}#{record.sequence}")
        self._store.memo.audit.put(record.org_id, text, record)
        # Its leaf and the subtrees it completes, in this transaction.
        org = record.org_id
        nodes = record_subtrees(record, partial(self.subtrees, org))
        values = [v for node in nodes for v in (org, node.level, node.index, node.hash)]
        self._tx.execute(_WRITE_SUBTREES.rendered(self.dialect, len(nodes)), values)

    def tree_size(self, org_id: OrgId) -> int:
        """How many leaves the org's Merkle tree holds."""
        row = self._tx.one(self.TREE_SIZE, (org_id,))
        return 0 if row is None else int(row[0])

    def subtrees(self, org_id: OrgId, positions: Sequence[tuple[int, int]]) -> list[bytes]:
        """The hashes of the org's complete subtrees at these positions, in one read (of
        up to a hundred); KeyError if one is not stored. The upper ones come from the
        store's `SubtreeCache` when it holds them."""
        cache = self._store.memo.subtrees
        found = {} if cache is None else cache.known(org_id, positions)
        wanted = [position for position in positions if position not in found]
        for start in range(0, len(wanted), _SUBTREES_PER_READ):
            chunk = wanted[start : start + _SUBTREES_PER_READ]
            params = [v for level, index in chunk for v in (org_id, level, index)]
            query = _READ_SUBTREES.rendered(self.dialect, len(chunk))
            read = {(row[0], row[1]): bytes(row[2]) for row in self._tx.all(query, params)}
            if cache is not None and self._tx.reading:
                cache.keep(org_id, read)
            found.update(read)
        return [found[position] for position in positions]

    def records(self, org_id: OrgId | None = None) -> list[AuditRecord]:
        """Records of one org (or all), ordered by org then sequence."""
        if org_id is None:
            rows = self._tx.all(self.ALL_RECORDS)
        else:
            rows = self._tx.all(self.RECORDS_OF, (org_id,))
        return [audit_from_json(row[0]) for row in rows]

    def find(self, org_id: OrgId, record_id: str) -> AuditRecord | None:
        """The org's record with this id, or None."""
        row = self._tx.one(self.FIND, (org_id, record_id))
        return None if row is None else audit_from_json(row[0])

    def _window(self, org_id: OrgId, window: AuditWindow, **bounds: int) -> dict[str, Any]:
        store = self.dialect.store_expiry
        return {
            "org": org_id,
            "start": store(window.start),
            "end": store(window.end),
            "actor": window.actor,
            **bounds,
        }

    def survey(self, org_id: OrgId, window: AuditWindow, *, at_most: int) -> tuple[int, int]:
        """How many records fall in `window` (at most `at_most`), and the last one's sequence."""
        count, last = self._tx.one(self.SURVEY, self._window(org_id, window, at_most=at_most))
        return int(count), int(last)

    def window(
        self, org_id: OrgId, window: AuditWindow, *, after: int, through: int, limit: int
    ) -> list[AuditRecord]:
        """A keyset page of the records in `window` (sequence above `after`, at most `through`)."""
        params = self._window(org_id, window, after=after, through=through, limit=limit)
        return [audit_from_json(row[0]) for row in self._tx.all(self.WINDOW, params)]


class SubtreeCache:
    """Each org's upper subtrees (level `LEVEL` and above), by (org, level, index), as
    units of work that only read found them.

    A complete subtree never changes once committed (the tree is append-only), so a hash
    kept here stays true; only a unit that only reads fills it, so that nothing a unit
    wrote and then rolled back is ever kept. A proof at n records needs about 2·log2(n)
    subtrees, of which those at level `LEVEL` and above — few, at most 2·n / 2^LEVEL per
    org — come from here: a path reads about `LEVEL` rows whatever the size
    (`proof_p99_scale_ratio`, docs/benchmarks.md §10). Bounded: emptied when it holds
    `size` hashes (about 200 bytes each)."""

    __slots__ = ("_hashes", "_size")
    #: The lowest level kept (a subtree of 64 records and up).
    LEVEL: ClassVar[int] = 6

    def __init__(self, size: int = 65_536) -> None:
        self._hashes: dict[tuple[str, int, int], bytes] = {}
        self._size = size

    def known(
        self, org_id: str, positions: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], bytes]:
        """The hashes it holds of these positions of the org's tree."""
        hashes = self._hashes
        found = {}
        for level, index in positions:
            if level >= self.LEVEL:
                held = hashes.get((org_id, level, index))
                if held is not None:
                    found[level, index] = held
        return found

    def keep(self, org_id: str, read: Mapping[tuple[int, int], bytes]) -> None:
        """Keep the upper ones of these committed subtrees of the org."""
        upper = {(org_id, lv, ix): h for (lv, ix), h in read.items() if lv >= self.LEVEL}
        if not upper:
            return
        if len(self._hashes) + len(upper) > self._size:
            self._hashes = {}
        self._hashes.update(upper)


@attrs.frozen
class _Repeated:
    """A statement template with a part said once per item (`head`, then `part` joined by
    `joint`, `count` times), rendered once per dialect and count."""

    head: str
    part: str
    joint: str

    def rendered(self, dialect: Dialect, count: int) -> str:
        """The statement for `count` items in `dialect`."""
        return _render_repeated(self, dialect, count)


@functools.cache
def _render_repeated(template: _Repeated, dialect: Dialect, count: int) -> str:
    return dialect.render(template.head + template.joint.join([template.part] * count))


# Each subtree by primary key (an index look-up each, whatever the planner makes of an OR);
# a proof reads about 2·log2(n), so one statement; more go a hundred at a time (SQLite
# allows 500 terms in a compound SELECT).
_SUBTREES_PER_READ: Final = 100
_READ_SUBTREES: Final = _Repeated(
    "",
    "SELECT level, idx, hash FROM audit_tree WHERE org_id = ? AND level = ? AND idx = ?",
    " UNION ALL ",
)
_WRITE_SUBTREES: Final = _Repeated(
    "INSERT INTO audit_tree (org_id, level, idx, hash) VALUES ", "(?, ?, ?, ?)", ", "
)


# --------------------------------------------------------------------------- outside units of work


class Direct(Protocol):
    """Single statements outside any unit of work, each committed at once."""

    def query(self, sql: str, params: Sequence[Any] = (), /) -> list[Any]:
        """The rows of one read."""
        ...

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> int:
        """Run one write and commit it; its row count."""
        ...


class SigningKeyStore(Statements):
    """Server signing keys in the `signing_keys` table."""

    __slots__ = ("_db",)
    KEYS = (
        "SELECT kid, purpose, algorithm, private_key, created_at, retired_at"
        " FROM signing_keys WHERE purpose = ? ORDER BY seq"
    )
    ADD = (
        "INSERT INTO signing_keys (kid, purpose, algorithm, private_key, created_at,"
        " retired_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
    )
    RETIRE = "UPDATE signing_keys SET retired_at = ? WHERE kid = ?"

    def __init__(self, direct: Direct) -> None:
        self._db = direct

    def keys(self, purpose: str) -> Sequence[SigningKey]:
        """Every key of this purpose, oldest first, retired ones included."""
        load = self.dialect.load_time
        return [
            SigningKey(
                kid=row[0],
                purpose=row[1],
                algorithm=row[2],
                private_key=row[3],
                created_at=load(row[4]),
                retired_at=None if row[5] is None else load(row[5]),
            )
            for row in self._db.query(self.KEYS, (purpose,))
        ]

    def add(self, key: SigningKey) -> bool:
        """Store a new key; False if a key of this kid already exists."""
        store = self.dialect.store_time
        retired = key.retired_at
        params = (
            key.kid,
            key.purpose,
            key.algorithm,
            key.private_key,
            store(key.created_at),
            None if retired is None else store(retired),
        )
        return self._db.execute(self.ADD, params) == 1

    def retire(self, kid: str, *, at: datetime) -> None:
        """Mark a key retired from `at` on (no-op for an unknown kid)."""
        self._db.execute(self.RETIRE, (self.dialect.store_time(at), kid))


def taken_challenge(rows: list[Any], now: datetime) -> Challenge | None:
    """The challenge a `DELETE … RETURNING payload` took, unless none or expired at `now`
    (an expired one is burnt all the same)."""
    if not rows:
        return None
    challenge = challenge_from_json(rows[0][0])
    return challenge if now < challenge.expires_at else None
