"""Ports: everything the core needs from the world, as `typing.Protocol`s.

Storage is reached through a unit of work that commits all or nothing; challenges
and nonces have their own stores so that a multi-instance deployment can keep them
in a shared replay store (Redis) while user action tokens, users and the audit log
stay in the transactional one. Time, randomness and cryptography are ports too:
the core never reads a clock, the environment or a random source itself.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self, runtime_checkable

import attrs

if TYPE_CHECKING:
    from archive_core.audit import AuditRecord, AuditWindow
    from archive_core.entities import (
        Application,
        AssignedPermission,
        Assignment,
        Challenge,
        Credential,
        CredentialKind,
        Permission,
        TokenKind,
        User,
        UserActionGrant,
        UserActionRecord,
        UserKind,
    )
    from archive_core.ids import AppId, CredentialUuid, OrgId, PermissionId, UserId

__all__ = [
    "ApplicationRepository",
    "AuditLog",
    "AuthenticatorData",
    "AuthenticatorDataParser",
    "BearerClaims",
    "BearerTokenVerifier",
    "ChallengeStore",
    "Clock",
    "ConsumeOutcome",
    "ConsumeStatus",
    "CredentialRepository",
    "Ed25519Verifier",
    "PageTokens",
    "PermissionRepository",
    "Randomness",
    "ReadingUnitOfWorkFactory",
    "ReplayGuard",
    "SignatureVerifier",
    "SigningKey",
    "SigningKeyStore",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UserActionStore",
    "UserActionTokenCodec",
    "UserRepository",
]


# --------------------------------------------------------------------------- time, chance


class Clock(Protocol):
    """The only source of time the core knows."""

    def now(self) -> datetime:
        """The current time as a timezone-aware UTC datetime."""
        ...


class Randomness(Protocol):
    """The only source of unpredictability the core knows (ids, challenges, token ids)."""

    def token_bytes(self, n: int) -> bytes:
        """`n` bytes from a cryptographically secure source."""
        ...


# --------------------------------------------------------------------------- repositories


class UserRepository(Protocol):
    """Users of every org.

    Usernames are unique per org among users not archived, compared by
    `usernames.username_key` (`str.casefold()`); the store enforces it, so that it holds
    under concurrent adds, and an archived user frees its name.
    """

    def get(self, user_id: UserId) -> User | None:
        """The user with this id, archived or not, or None."""
        ...

    def org_exists(self, org_id: OrgId) -> bool:
        """Whether the org has a user, archived or not (an org exists through its users)."""
        ...

    def find_by_external_id(self, org_id: OrgId, external_id: str) -> User | None:
        """The org's user not archived that was created with this `externalId`, or None."""
        ...

    def list_users(
        self, org_id: OrgId, *, after: UserId | None, kinds: frozenset[UserKind], limit: int
    ) -> list[User]:
        """At most `limit` of the org's users not archived, ordered by id, of an id above
        `after` (None: from the first), of one of `kinds` (empty: any kind): one keyset
        page, read in time that grows with `limit`, not with the org's size."""
        ...

    def add(self, user: User) -> None:
        """Store a new user; raise AlreadyExists if its id, its username in its org, or its
        `externalId` (set) among the org's users not archived, is taken."""
        ...

    def update(self, user: User, *, expected_version: int) -> None:
        """Replace the stored user; ConcurrencyConflict unless at `expected_version`;
        AlreadyExists (nothing changed) when its username, changed, is another user's of
        the org not archived (compared by `username_key`)."""
        ...

    def has_other_active_holder(
        self,
        org_id: OrgId,
        *,
        operations: frozenset[str],
        kinds: frozenset[UserKind],
        exclude: UserId,
        include_service_accounts: bool,
    ) -> bool:
        """Whether an active user of the org, of one of `kinds`, other than `exclude`, holds
        every one of `operations` (or the full admin permission) through non-archived
        permissions (service accounts only with `include_service_accounts`)."""
        ...


class CredentialRepository(Protocol):
    """Credentials of every user."""

    def get_by_cred_id(self, cred_id: str) -> Credential | None:
        """The credential clients name by `credId`, or None."""
        ...

    def list_for_user(self, user_id: UserId) -> list[Credential]:
        """Every credential of the user, in registration order."""
        ...

    def add(self, credential: Credential) -> None:
        """Store a new credential (uuid and cred_id must be new)."""
        ...

    def update_sign_count(
        self, uuid: CredentialUuid, *, new_count: int, expected_count: int
    ) -> None:
        """Set the signature counter; raise ConcurrencyConflict unless it is `expected_count`."""
        ...


class ApplicationRepository(Protocol):
    """Applications of every org."""

    def get(self, app_id: AppId) -> Application | None:
        """The application with this id, or None."""
        ...

    def add(self, application: Application) -> None:
        """Store a new application."""
        ...


class PermissionRepository(Protocol):
    """Permissions and their assignments."""

    def add_permission(self, permission: Permission) -> None:
        """Store a new permission."""
        ...

    def get_permission(self, permission_id: PermissionId) -> Permission | None:
        """The permission with this id, or None."""
        ...

    def assign(self, assignment: Assignment) -> None:
        """Store a new assignment of a permission to an identity."""
        ...

    def assignments_of(self, user_id: UserId) -> list[AssignedPermission]:
        """Every assignment to the user with its permission (archived permissions included)."""
        ...

    def assignments_of_users(
        self, user_ids: Sequence[UserId]
    ) -> dict[UserId, list[AssignedPermission]]:
        """`assignments_of` for each of the users at once (one read, for a page of a
        list); a user without an assignment maps to an empty list."""
        ...


class ConsumeStatus(enum.Enum):
    """What consuming a user action token found."""

    CONSUMED = "consumed"
    ALREADY_USED = "already_used"
    UNKNOWN = "unknown"


@attrs.frozen
class ConsumeOutcome:
    """The result of `UserActionStore.consume`: the record when it was consumed now."""

    status: ConsumeStatus
    record: UserActionRecord | None = None


class UserActionStore(Protocol):
    """Issued user action grants; consuming one is the single-use check (transactional)."""

    def add(self, record: UserActionRecord) -> None:
        """Store a newly issued grant with its evidence."""
        ...

    def consume(self, token_id: str, *, at: datetime) -> ConsumeOutcome:
        """Mark the grant used at `at` if it is unused; exactly one caller ever sees CONSUMED."""
        ...

    def purge(self, *, now: datetime) -> int:
        """Forget grants whose expiry is before `now` (used or not); return how many."""
        ...


class AuditLog(Protocol):
    """Append-only, per-org hash-chained decision records."""

    def head(self, org_id: OrgId) -> AuditRecord | None:
        """The org's latest record, or None; takes the org's turn to the end of the unit of
        work (later reads in it see what the unit before it in that turn committed)."""
        ...

    def append(self, record: AuditRecord) -> None:
        """Append a record; raise ConcurrencyConflict when its sequence number is taken."""
        ...

    def tree_size(self, org_id: OrgId) -> int:
        """How many leaves the org's Merkle tree holds: `append` adds the record's
        (`audit.leaf_data`, at index sequence - 1) and the subtrees it completes, in the
        record's unit of work (`merkle.appended_subtrees`)."""
        ...

    def subtrees(self, org_id: OrgId, positions: Sequence[tuple[int, int]]) -> list[bytes]:
        """The hashes of the org's complete subtrees at these (level, index) positions, in
        order, in one read (`merkle.prefetched`); KeyError when one is not stored."""
        ...

    def records(self, org_id: OrgId | None = None) -> list[AuditRecord]:
        """Records of one org (or all), ordered by org then sequence."""
        ...

    def find(self, org_id: OrgId, record_id: str) -> AuditRecord | None:
        """The org's record with this id, or None (another org's record is None)."""
        ...

    def survey(self, org_id: OrgId, window: AuditWindow, *, at_most: int) -> tuple[int, int]:
        """How many of the org's records fall in `window`, counting no further than
        `at_most`, and the sequence of the last one counted (0: none)."""
        ...

    def window(
        self, org_id: OrgId, window: AuditWindow, *, after: int, through: int, limit: int
    ) -> list[AuditRecord]:
        """The org's records in `window` whose sequence is above `after` and at most
        `through`, in sequence order, at most `limit` of them (a keyset page)."""
        ...


class UnitOfWork(Protocol):
    """One atomic transaction over the repositories: commits all or nothing.

    Leaving the `with` block without `commit()` rolls everything back.
    """

    @property
    def users(self) -> UserRepository:
        """Users."""
        ...

    @property
    def credentials(self) -> CredentialRepository:
        """Credentials."""
        ...

    @property
    def applications(self) -> ApplicationRepository:
        """Applications."""
        ...

    @property
    def permissions(self) -> PermissionRepository:
        """Permissions and assignments."""
        ...

    @property
    def user_actions(self) -> UserActionStore:
        """Issued user action grants (single use)."""
        ...

    @property
    def audit(self) -> AuditLog:
        """The audit log."""
        ...

    def __enter__(self) -> Self:
        """Begin the transaction."""
        ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """End the transaction, rolling back whatever was not committed."""
        ...

    def commit(self) -> None:
        """Make every change of this unit visible at once."""
        ...

    def rollback(self) -> None:
        """Discard every change of this unit."""
        ...


class UnitOfWorkFactory(Protocol):
    """Starts units of work."""

    def __call__(self) -> UnitOfWork:
        """A new, not yet entered, unit of work."""
        ...


@runtime_checkable
class ReadingUnitOfWorkFactory(UnitOfWorkFactory, Protocol):
    """A factory that also starts units that only read (optional for an adapter).

    A reading unit sees what was committed before it and is never committed; a store
    whose units of work serialise on a lock can let readers run side by side (SQLite:
    `BEGIN DEFERRED` instead of `BEGIN IMMEDIATE`). Use cases that only read use it when
    the factory offers it, and a plain unit of work otherwise.
    """

    def reading(self) -> UnitOfWork:
        """A new, not yet entered, unit of work for reads only."""
        ...


# --------------------------------------------------------------------------- replay stores


class ChallengeStore(Protocol):
    """Open signing sessions; each can be taken once."""

    def put(self, challenge: Challenge) -> None:
        """Store an open challenge until its expiry."""
        ...

    def take(self, key: str, *, user_id: UserId, now: datetime) -> Challenge | None:
        """Atomically remove and return the challenge if it exists, belongs to `user_id`
        and has not expired at `now`; a foreign caller neither sees nor burns it."""
        ...

    def purge(self, *, now: datetime) -> int:
        """Forget expired challenges; return how many."""
        ...


class ReplayGuard(Protocol):
    """Single-use keys (request nonces) remembered until they could no longer pass."""

    def first_use(self, key: str, *, expires_at: datetime, now: datetime) -> bool:
        """Record `key` through `expires_at`; True only for its first use while remembered."""
        ...

    def purge(self, *, now: datetime) -> int:
        """Forget keys whose expiry has passed; return how many."""
        ...


# --------------------------------------------------------------------------- crypto


@attrs.frozen
class AuthenticatorData:
    """The parsed WebAuthn authenticatorData of an assertion."""

    rp_id_hash: bytes
    user_present: bool
    user_verified: bool
    backup_eligible: bool
    backup_state: bool
    sign_count: int


class AuthenticatorDataParser(Protocol):
    """Parses WebAuthn authenticatorData (and checks its length and extensions)."""

    def parse(self, raw: bytes) -> AuthenticatorData:
        """The parsed data; raise ArchiveCoreError(ASSERTION_INVALID) when malformed."""
        ...


class SignatureVerifier(Protocol):
    """Verifies signatures of one credential kind."""

    def verify(self, credential: Credential, *, message: bytes, signature: bytes) -> None:
        """Return if the signature verifies; else raise ArchiveCoreError(ASSERTION_INVALID)."""
        ...

    def validate_public_key(self, kind: CredentialKind, algorithm: str, public_key: str) -> None:
        """Refuse unacceptable key material (ArchiveCoreError(CREDENTIAL_REJECTED))."""
        ...


class Ed25519Verifier(Protocol):
    """Verifies Ed25519 signatures (RFC 8032) made by a raw 32-byte public key."""

    def verify(self, public_key: bytes, *, message: bytes, signature: bytes) -> bool:
        """Whether `signature` is `public_key`'s over `message` (False for malformed input)."""
        ...


@attrs.frozen
class BearerClaims:
    """What a verified bearer token says about its holder."""

    token_id: str
    user_id: UserId
    org_id: OrgId
    token_kind: TokenKind
    issued_at: datetime
    expires_at: datetime


class BearerTokenVerifier(Protocol):
    """Verifies bearer tokens (signature, algorithm, issuer, audience, lifetime)."""

    def verify(self, token: str, *, now: datetime) -> BearerClaims:
        """The token's claims; raise ArchiveCoreError(NOT_AUTHORIZED) for any defect."""
        ...


class UserActionTokenCodec(Protocol):
    """Encodes grants as compact signed tokens and decodes them back."""

    def issue(self, grant: UserActionGrant) -> str:
        """A signed token carrying the grant."""
        ...

    def decode(self, token: str) -> UserActionGrant:
        """The grant a genuine token carries; raise ArchiveCoreError(USER_ACTION_INVALID).
        Expiry and binding are checked by the core against the request and the clock."""
        ...


class PageTokens(Protocol):
    """Seals the opaque pagination tokens of lists with a key every instance and worker
    of a deployment shares (kept in its store), so that a token one issued opens at any."""

    def seal(self, data: bytes) -> str:
        """An opaque, authenticated token carrying `data` (URL-safe text)."""
        ...

    def open(self, token: str) -> bytes | None:
        """The data of a token this deployment sealed; None for anything else (forged,
        truncated, of a retired key, not a token at all)."""
        ...


@attrs.frozen
class SigningKey:
    """A server signing key (for bearer or user action tokens), as a key store keeps it."""

    kid: str
    purpose: str
    algorithm: str
    private_key: str
    created_at: datetime
    retired_at: datetime | None = None


class SigningKeyStore(Protocol):
    """Server signing keys shared by every process of a deployment (a secret store)."""

    def keys(self, purpose: str) -> Sequence[SigningKey]:
        """Every key of this purpose, oldest first, retired ones included."""
        ...

    def add(self, key: SigningKey) -> bool:
        """Store a new key; False if a key of this kid already exists."""
        ...

    def retire(self, kid: str, *, at: datetime) -> None:
        """Mark a key retired: it no longer verifies from `at` on."""
        ...
