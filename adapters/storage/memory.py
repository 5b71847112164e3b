"""In-memory storage: every storage port of the core, thread-safe, held to the contract suite.

A `MemoryStore` is the database. A unit of work holds the store's lock from
`__enter__` to `__exit__` (like SQLite's `BEGIN IMMEDIATE`), applies its writes
directly and keeps an undo log, so a rollback — explicit, or leaving the block
without `commit()` — restores exactly the state it found. Challenges and nonces
live in their own stores with their own locks, as they would in Redis.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import Any, ClassVar, Final, Generic, Self, TypeVar, overload

import attrs

from archive_core.audit import AuditRecord, AuditWindow
from archive_core.audit_tree import record_subtrees
from archive_core.entities import (
    Application,
    AssignedPermission,
    Assignment,
    Challenge,
    Credential,
    Grants,
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
    "MemoryChallengeStore",
    "MemoryReplayGuard",
    "MemorySigningKeyStore",
    "MemoryStore",
    "MemoryUnitOfWork",
]

_MISSING: Any = object()
_RESTORE: Final = "restore"
_POP: Final = "pop"
#: Replay stores purge expired entries after this many writes (bounded memory).
PURGE_EVERY = 1024


class MemoryStore:
    """The in-memory database shared by units of work (one lock serialises them)."""

    # Its locks are held for in-memory work only: no call waits on I/O (`Storage.waits`).
    reads_wait: ClassVar[bool] = False
    writes_wait: ClassVar[bool] = False

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.users: dict[UserId, User] = {}
        self.org_users: dict[OrgId, list[UserId]] = {}
        #: (org, username key) → the user not archived who has that name.
        self.usernames: dict[tuple[OrgId, str], UserId] = {}
        self.credentials: dict[CredentialUuid, Credential] = {}
        self.cred_ids: dict[str, CredentialUuid] = {}
        self.user_credentials: dict[UserId, list[CredentialUuid]] = {}
        self.applications: dict[AppId, Application] = {}
        self.permissions: dict[PermissionId, Permission] = {}
        self.assignments: dict[AssignmentId, Assignment] = {}
        self.identity_assignments: dict[UserId, list[AssignmentId]] = {}
        self.user_actions: dict[str, UserActionRecord] = {}
        self.audit: dict[OrgId, list[AuditRecord]] = {}
        #: Each org's Merkle tree: its complete subtrees by (org, level, index), its size.
        self.tree: dict[tuple[OrgId, int, int], bytes] = {}
        self.tree_sizes: dict[OrgId, int] = {}

    def __call__(self) -> MemoryUnitOfWork:
        """A new unit of work over this store (a store is a `UnitOfWorkFactory`)."""
        return MemoryUnitOfWork(self)


class _Journal(list[tuple[Any, ...]]):
    """Writes with their undo steps (the list itself, made in C once per unit of work).

    An undo step is a tuple, not a closure: a closure and its cells are four objects
    for the garbage collector, a tuple one (several writes per signed flow)."""

    def put(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        self.append((_RESTORE, table, key, table.get(key, _MISSING)))
        table[key] = value

    def append_item(self, table: dict[Any, list[Any]], key: Any, value: Any) -> None:
        self.append((_POP, table, key, key not in table))
        table.setdefault(key, []).append(value)

    def delete(self, table: dict[Any, Any], key: Any) -> None:
        self.append((_RESTORE, table, key, table.pop(key)))

    def rollback(self) -> None:
        while self:
            step, table, key, value = self.pop()
            if step is _POP:  # value: whether the list was created by the write
                table[key].pop()
                if value:
                    del table[key]
            elif value is _MISSING:
                del table[key]
            else:
                table[key] = value


class _Part:
    # Made by `_Repository.__get__` with `__new__` and two attribute stores (no
    # `__init__` frame): up to nine are made per signed flow.
    __slots__ = ("__dict__", "_j", "_s")
    _s: MemoryStore
    _j: _Journal


class MemoryUserRepository(_Part):
    """Users of a `MemoryStore`."""

    def get(self, user_id: UserId) -> User | None:
        """The user with this id, or None."""
        return self._s.users.get(user_id)

    def org_exists(self, org_id: OrgId) -> bool:
        """Whether the org has a user, archived or not."""
        return org_id in self._s.org_users

    def find_by_external_id(self, org_id: OrgId, external_id: str) -> User | None:
        """The org's user not archived created with this `externalId`, or None."""
        for user in self._current(org_id):
            if user.external_id == external_id:
                return user
        return None

    def list_users(
        self, org_id: OrgId, *, after: UserId | None, kinds: frozenset[UserKind], limit: int
    ) -> list[User]:
        """The org's users not archived, by id, after `after`, of `kinds` (all when empty)."""
        listed = sorted(
            (
                user
                for user in self._current(org_id)
                if (after is None or user.id > after) and (not kinds or user.kind in kinds)
            ),
            key=lambda user: user.id,
        )
        return listed[:limit]

    def _current(self, org_id: OrgId) -> list[User]:
        users = self._s.users
        return [users[i] for i in self._s.org_users.get(org_id, ()) if not users[i].is_archived]

    def add(self, user: User) -> None:
        """Store a new user; AlreadyExists if its id, its username in its org or its
        `externalId` in its org is taken."""
        name = (user.org_id, username_key(user.username))
        if user.id in self._s.users or (not user.is_archived and name in self._s.usernames):
            raise AlreadyExists(user.id)
        external = user.external_id
        if (
            external is not None
            and not user.is_archived
            and self.find_by_external_id(user.org_id, external)
        ):
            raise AlreadyExists(user.id)
        self._j.put(self._s.users, user.id, user)
        self._j.append_item(self._s.org_users, user.org_id, user.id)
        if not user.is_archived:
            self._j.put(self._s.usernames, name, user.id)

    def update(self, user: User, *, expected_version: int) -> None:
        """Replace the user if it is still at `expected_version`; archived, it frees its name;
        renamed, it takes the new name (AlreadyExists when another user holds it)."""
        current = self._s.users.get(user.id)
        if current is None or current.version != expected_version:
            raise ConcurrencyConflict(user.id)
        old = (current.org_id, username_key(current.username))
        new = (user.org_id, username_key(user.username))
        holds_old = current.archived_at is None and self._s.usernames.get(old) == user.id
        holds_new = user.archived_at is None
        if holds_new and new != old and self._s.usernames.get(new, user.id) != user.id:
            raise AlreadyExists(user.id)
        self._j.put(self._s.users, user.id, user)
        if holds_old and (not holds_new or new != old):
            self._j.delete(self._s.usernames, old)
        if holds_new and (new != old or not holds_old):
            self._j.put(self._s.usernames, new, user.id)

    def has_other_active_holder(
        self,
        org_id: OrgId,
        *,
        operations: frozenset[str],
        kinds: frozenset[UserKind],
        exclude: UserId,
        include_service_accounts: bool,
    ) -> bool:
        """Whether another active user of the org, of one of `kinds`, holds all
        `operations` (or full admin)."""
        for user_id in self._s.org_users.get(org_id, ()):
            user = self._s.users[user_id]
            if user_id == exclude or not user.is_active or user.is_archived:
                continue
            if user.kind not in kinds:
                continue
            if user.is_service_account and not include_service_accounts:
                continue
            if Grants.of(_assignments_of(self._s, user_id), org_id).hold_all(operations):
                return True
        return False


class MemoryCredentialRepository(_Part):
    """Credentials of a `MemoryStore`."""

    def get_by_cred_id(self, cred_id: str) -> Credential | None:
        """The credential named by `credId`, or None."""
        uuid = self._s.cred_ids.get(cred_id)
        return None if uuid is None else self._s.credentials[uuid]

    def list_for_user(self, user_id: UserId) -> list[Credential]:
        """The user's credentials in registration order."""
        return [self._s.credentials[u] for u in self._s.user_credentials.get(user_id, ())]

    def add(self, credential: Credential) -> None:
        """Store a new credential."""
        if credential.uuid in self._s.credentials or credential.cred_id in self._s.cred_ids:
            raise AlreadyExists(credential.uuid)
        self._j.put(self._s.credentials, credential.uuid, credential)
        self._j.put(self._s.cred_ids, credential.cred_id, credential.uuid)
        self._j.append_item(self._s.user_credentials, credential.user_id, credential.uuid)

    def update_sign_count(
        self, uuid: CredentialUuid, *, new_count: int, expected_count: int
    ) -> None:
        """Set the counter if it is still `expected_count`."""
        current = self._s.credentials.get(uuid)
        if current is None or current.sign_count != expected_count:
            raise ConcurrencyConflict(uuid)
        self._j.put(self._s.credentials, uuid, attrs.evolve(current, sign_count=new_count))


class MemoryApplicationRepository(_Part):
    """Applications of a `MemoryStore`."""

    def get(self, app_id: AppId) -> Application | None:
        """The application, or None."""
        return self._s.applications.get(app_id)

    def add(self, application: Application) -> None:
        """Store a new application."""
        if application.id in self._s.applications:
            raise AlreadyExists(application.id)
        self._j.put(self._s.applications, application.id, application)


class MemoryPermissionRepository(_Part):
    """Permissions and assignments of a `MemoryStore`."""

    def add_permission(self, permission: Permission) -> None:
        """Store a new permission."""
        if permission.id in self._s.permissions:
            raise AlreadyExists(permission.id)
        self._j.put(self._s.permissions, permission.id, permission)

    def get_permission(self, permission_id: PermissionId) -> Permission | None:
        """The permission, or None."""
        return self._s.permissions.get(permission_id)

    def assign(self, assignment: Assignment) -> None:
        """Store a new assignment (its permission must exist)."""
        if assignment.id in self._s.assignments:
            raise AlreadyExists(assignment.id)
        if assignment.permission_id not in self._s.permissions:
            raise KeyError(assignment.permission_id)
        self._j.put(self._s.assignments, assignment.id, assignment)
        self._j.append_item(self._s.identity_assignments, assignment.identity_id, assignment.id)

    def assignments_of(self, user_id: UserId) -> list[AssignedPermission]:
        """The user's assignments with their permissions."""
        return _assignments_of(self._s, user_id)

    def assignments_of_users(
        self, user_ids: Sequence[UserId]
    ) -> dict[UserId, list[AssignedPermission]]:
        """Each user's assignments with their permissions."""
        return {user_id: _assignments_of(self._s, user_id) for user_id in user_ids}


def _assignments_of(store: MemoryStore, user_id: UserId) -> list[AssignedPermission]:
    assignments, permissions = store.assignments, store.permissions
    return [
        AssignedPermission(a.id, permissions[a.permission_id])
        for a in map(assignments.__getitem__, store.identity_assignments.get(user_id, ()))
    ]


class MemoryUserActionStore(_Part):
    """Issued user action grants of a `MemoryStore`."""

    def add(self, record: UserActionRecord) -> None:
        """Store a newly issued grant (expired ones are purged now and then)."""
        if record.grant.token_id in self._s.user_actions:
            raise AlreadyExists(record.grant.token_id)
        self._j.put(self._s.user_actions, record.grant.token_id, record)
        if len(self._s.user_actions) % PURGE_EVERY == 0:
            self.purge(now=record.grant.issued_at)

    def consume(self, token_id: str, *, at: datetime) -> ConsumeOutcome:
        """Mark the grant used if it is unused."""
        record = self._s.user_actions.get(token_id)
        if record is None:
            return ConsumeOutcome(ConsumeStatus.UNKNOWN)
        if record.used_at is not None:
            return ConsumeOutcome(ConsumeStatus.ALREADY_USED)
        used = UserActionRecord(record.grant, record.evidence, at)
        self._j.put(self._s.user_actions, token_id, used)
        return ConsumeOutcome(ConsumeStatus.CONSUMED, used)

    def purge(self, *, now: datetime) -> int:
        """Forget grants that expired before `now`."""
        expired = [k for k, r in self._s.user_actions.items() if r.grant.expires_at < now]
        for key in expired:
            self._j.delete(self._s.user_actions, key)
        return len(expired)


class MemoryAuditLog(_Part):
    """The audit log of a `MemoryStore`."""

    def head(self, org_id: OrgId) -> AuditRecord | None:
        """The org's newest record, or None."""
        chain = self._s.audit.get(org_id)
        return chain[-1] if chain else None

    def append(self, record: AuditRecord) -> None:
        """Append a record whose sequence follows the head."""
        chain = self._s.audit.get(record.org_id, [])
        if record.sequence != len(chain) + 1:
            raise ConcurrencyConflict(f"{record.org_id}#{record.sequence}")
        self._j.append_item(self._s.audit, record.org_id, record)
        org, tree = record.org_id, self._s.tree
        for node in record_subtrees(record, partial(self.subtrees, org)):
            self._j.put(tree, (org, node.level, node.index), node.hash)
        self._j.put(self._s.tree_sizes, org, record.sequence)

    def tree_size(self, org_id: OrgId) -> int:
        """How many leaves the org's Merkle tree holds."""
        return self._s.tree_sizes.get(org_id, 0)

    def subtrees(self, org_id: OrgId, positions: Sequence[tuple[int, int]]) -> list[bytes]:
        """The hashes of the org's complete subtrees at these positions; KeyError if one
        is not stored."""
        tree = self._s.tree
        return [tree[org_id, level, index] for level, index in positions]

    def records(self, org_id: OrgId | None = None) -> list[AuditRecord]:
        """Records of one org, or of all orgs ordered by org id then sequence."""
        if org_id is not None:
            return list(self._s.audit.get(org_id, ()))
        return [r for org in sorted(self._s.audit) for r in self._s.audit[org]]

    def find(self, org_id: OrgId, record_id: str) -> AuditRecord | None:
        """The org's record with this id, or None."""
        return next((r for r in self._s.audit.get(org_id, ()) if r.id == record_id), None)

    def survey(self, org_id: OrgId, window: AuditWindow, *, at_most: int) -> tuple[int, int]:
        """How many records fall in `window` (at most `at_most`), and the last one's sequence."""
        count = last = 0
        for record in self._s.audit.get(org_id, ()):
            if count == at_most:
                break
            if window.holds(record):
                count, last = count + 1, record.sequence
        return count, last

    def window(
        self, org_id: OrgId, window: AuditWindow, *, after: int, through: int, limit: int
    ) -> list[AuditRecord]:
        """A keyset page of the records in `window` (sequence above `after`, at most `through`)."""
        chain = self._s.audit.get(org_id, [])
        page: list[AuditRecord] = []
        for record in chain[after:through]:  # sequence n is at index n - 1
            if len(page) == limit:
                break
            if window.holds(record):
                page.append(record)
        return page


P = TypeVar("P", bound="_Part")


class _Repository(Generic[P]):
    """A unit of work's repository of one kind, made on first use and kept in the unit's
    own attributes (a non-data descriptor: once made, the attribute answers without it).
    A request of the signed flow touches two to four of the six (`flow_time_ratio`,
    docs/benchmarks.md §1), and no exception is raised to get here, as it is on the way
    to a `__getattr__`."""

    __slots__ = ("_kind", "_name")

    def __init__(self, kind: type[P]) -> None:
        self._kind = kind
        self._name = ""

    def __set_name__(self, owner: type[object], name: str) -> None:
        self._name = name

    @overload
    def __get__(self, unit: None, owner: type[object]) -> Self: ...
    @overload
    def __get__(self, unit: MemoryUnitOfWork, owner: type[object]) -> P: ...
    def __get__(self, unit: MemoryUnitOfWork | None, owner: type[object]) -> P | Self:
        if unit is None:
            return self
        made = self._kind.__new__(self._kind)
        made._s = unit._store
        made._j = unit._journal
        unit.__dict__[self._name] = made
        return made


class MemoryUnitOfWork:
    """One serialised transaction over a `MemoryStore` (rollback unless committed)."""

    users = _Repository(MemoryUserRepository)
    credentials = _Repository(MemoryCredentialRepository)
    applications = _Repository(MemoryApplicationRepository)
    permissions = _Repository(MemoryPermissionRepository)
    user_actions = _Repository(MemoryUserActionStore)
    audit = _Repository(MemoryAuditLog)

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._journal = _Journal()
        self.committed = False

    def __enter__(self) -> Self:
        """Take the store's lock."""
        self._store.lock.acquire()
        self.committed = False
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back what was not committed and release the lock."""
        try:
            if self._journal:
                self._journal.rollback()
        finally:
            self._store.lock.release()

    def commit(self) -> None:
        """Keep every write made so far."""
        self._journal.clear()
        self.committed = True

    def rollback(self) -> None:
        """Undo every write made since the last commit."""
        self._journal.rollback()


class MemoryChallengeStore:
    """Open challenges, taken at most once."""

    # Its locks are held for in-memory work only: no call waits on I/O (`Storage.waits`).
    reads_wait: ClassVar[bool] = False
    writes_wait: ClassVar[bool] = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, Challenge] = {}
        self._writes = 0

    def put(self, challenge: Challenge) -> None:
        """Store an open challenge (expired ones are purged now and then)."""
        with self._lock:
            self._items[challenge.key] = challenge
            self._writes += 1
            if self._writes % PURGE_EVERY == 0:
                self._purge_locked(challenge.issued_at)

    def take(self, key: str, *, user_id: UserId, now: datetime) -> Challenge | None:
        """Remove and return the caller's unexpired challenge."""
        with self._lock:
            challenge = self._items.get(key)
            if challenge is None or challenge.user_id != user_id:
                return None
            del self._items[key]
            return challenge if now < challenge.expires_at else None

    def purge(self, *, now: datetime) -> int:
        """Forget expired challenges."""
        with self._lock:
            return self._purge_locked(now)

    def _purge_locked(self, now: datetime) -> int:
        expired = [k for k, c in self._items.items() if c.expires_at <= now]
        for key in expired:
            del self._items[key]
        return len(expired)

    def __len__(self) -> int:
        return len(self._items)


class MemoryReplayGuard:
    """Request nonces remembered until they expire."""

    # Its locks are held for in-memory work only: no call waits on I/O (`Storage.waits`).
    reads_wait: ClassVar[bool] = False
    writes_wait: ClassVar[bool] = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, datetime] = {}
        self._writes = 0

    def first_use(self, key: str, *, expires_at: datetime, now: datetime) -> bool:
        """True for the first use of `key` while it is remembered."""
        with self._lock:
            known = self._items.get(key)
            if known is not None and known >= now:
                return False
            self._items[key] = expires_at
            self._writes += 1
            if self._writes % PURGE_EVERY == 0:
                self._purge_locked(now)
            return True

    def purge(self, *, now: datetime) -> int:
        """Forget expired keys."""
        with self._lock:
            return self._purge_locked(now)

    def _purge_locked(self, now: datetime) -> int:
        # Remembered *through* its expiry (first_use refuses while `expiry >= now`).
        expired = [k for k, e in self._items.items() if e < now]
        for key in expired:
            del self._items[key]
        return len(expired)

    def __len__(self) -> int:
        return len(self._items)


class MemorySigningKeyStore:
    """Signing keys kept in process memory (a single-process deployment)."""

    # Its locks are held for in-memory work only: no call waits on I/O (`Storage.waits`).
    reads_wait: ClassVar[bool] = False
    writes_wait: ClassVar[bool] = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: list[SigningKey] = []

    def keys(self, purpose: str) -> Sequence[SigningKey]:
        """Keys of this purpose, oldest first."""
        with self._lock:
            return [k for k in self._keys if k.purpose == purpose]

    def add(self, key: SigningKey) -> bool:
        """Store a key unless its kid exists."""
        with self._lock:
            if any(k.kid == key.kid for k in self._keys):
                return False
            self._keys.append(key)
            return True

    def retire(self, kid: str, *, at: datetime) -> None:
        """Mark a key retired from `at`."""
        with self._lock:
            self._keys = [attrs.evolve(k, retired_at=at) if k.kid == kid else k for k in self._keys]
