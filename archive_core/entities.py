"""Values and entities of the domain: frozen attrs classes, no behaviour that needs I/O."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

import attrs

from archive_core.ids import AppId, AssignmentId, CredentialUuid, OrgId, PermissionId, UserId

__all__ = [
    "FULL_ADMIN",
    "NO_GRANTS",
    "Application",
    "AssignedPermission",
    "Assignment",
    "Challenge",
    "Credential",
    "CredentialKind",
    "Grants",
    "Permission",
    "Principal",
    "RequestedAction",
    "SignedEvidence",
    "TokenKind",
    "User",
    "UserActionGrant",
    "UserActionRecord",
    "UserKind",
    "UserState",
]

#: The built-in permission that grants every operation.
FULL_ADMIN: Final = "DfnsFullAdminAccess"


class _Kind(enum.Enum):
    """A kind: its members are singletons compared by identity, so they are hashed by
    identity, in C (Enum's own `__hash__` is a Python call, and the signed flow looks
    kinds up a dozen times)."""

    __hash__ = object.__hash__


class UserKind(_Kind):
    """What kind of identity a user is (SPEC §1.2 `kind`)."""

    CUSTOMER_EMPLOYEE = "CustomerEmployee"
    END_USER = "EndUser"


class CredentialKind(_Kind):
    """How a credential signs (SPEC §3)."""

    FIDO2 = "Fido2"
    KEY = "Key"
    PASSWORD_PROTECTED_KEY = "PasswordProtectedKey"  # noqa: S105 - a kind name, not a secret
    RECOVERY_KEY = "RecoveryKey"


class TokenKind(_Kind):
    """What a bearer token was issued as (the `tokenKind` of SPEC §2.1)."""

    LOGIN = "Login"
    PERSONAL_ACCESS_TOKEN = "Pat"  # noqa: S105 - a kind name, not a secret
    SERVICE_ACCOUNT = "ServiceAccount"


@attrs.frozen
class User:
    """A user of an org. Archived users are inactive and carry the time they were archived.

    `cut_off_at` is the last deactivation: bearer tokens, challenges and user action
    tokens issued at or before it never work again, even once the user is activated.
    `is_sso_required` is what Update User sets; `external_id` the `externalId` it was
    created with (Create User is idempotent on it among users not archived).
    """

    id: UserId
    org_id: OrgId
    username: str
    kind: UserKind
    credential_uuid: CredentialUuid
    is_active: bool = True
    archived_at: datetime | None = None
    is_service_account: bool = False
    is_registered: bool = True
    version: int = 1
    cut_off_at: datetime | None = None
    is_sso_required: bool = False
    external_id: str | None = None

    @property
    def is_archived(self) -> bool:
        """True once the user has been archived (a soft delete that cannot be undone)."""
        return self.archived_at is not None

    @property
    def state(self) -> UserState:
        """The part of the user an archive changes, for decision records."""
        return UserState(
            is_active=self.is_active, archived_at=self.archived_at, version=self.version
        )

    def archived(self, at: datetime) -> User:
        """This user archived at `at`: inactive, stamped, one version later."""
        return self._next(is_active=False, archived_at=at, cut_off_at=self.cut_off_at)

    def deactivated(self, at: datetime) -> User:
        """This user deactivated at `at`: inactive, cut off at `at`, one version later."""
        return self._next(is_active=False, archived_at=self.archived_at, cut_off_at=at)

    def activated(self) -> User:
        """This user active again (what was cut off stays cut off), one version later."""
        return self._next(is_active=True, archived_at=self.archived_at, cut_off_at=self.cut_off_at)

    def _next(
        self, *, is_active: bool, archived_at: datetime | None, cut_off_at: datetime | None
    ) -> User:
        # The constructor, not `attrs.evolve` (which reads every field's definition per
        # call): one of these runs per signed mutation. A subclass keeps its own fields.
        if type(self) is not User:
            return attrs.evolve(
                self,
                is_active=is_active,
                archived_at=archived_at,
                cut_off_at=cut_off_at,
                version=self.version + 1,
            )
        return User(
            self.id,
            self.org_id,
            self.username,
            self.kind,
            self.credential_uuid,
            is_active,
            archived_at,
            self.is_service_account,
            self.is_registered,
            self.version + 1,
            cut_off_at,
            self.is_sso_required,
            self.external_id,
        )

    def issued_before_cut_off(self, issued_at: datetime) -> bool:
        """Whether something issued at `issued_at` predates the last deactivation."""
        return self.cut_off_at is not None and issued_at <= self.cut_off_at


@attrs.frozen
class UserState:
    """The target's state before and after a decision."""

    is_active: bool
    archived_at: datetime | None
    version: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (used by audit records and their hash)."""
        return {
            "isActive": self.is_active,
            "archivedAt": None if self.archived_at is None else self.archived_at.isoformat(),
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UserState:
        """Inverse of `to_dict`."""
        archived = data["archivedAt"]
        return cls(
            is_active=bool(data["isActive"]),
            archived_at=None if archived is None else datetime.fromisoformat(archived),
            version=int(data["version"]),
        )


@attrs.frozen
class Credential:
    """A user's credential: public key material, algorithm, active flag, signature counter.

    `cred_id` is the opaque id clients send in assertions (`credId`); `uuid` is the
    `cr-…` id the API reports. For Key kinds `public_key` is PEM; for Fido2 it is the
    base64url COSE key.
    """

    uuid: CredentialUuid
    cred_id: str
    user_id: UserId
    org_id: OrgId
    kind: CredentialKind
    public_key: str
    algorithm: str
    is_active: bool = True
    sign_count: int = 0
    encrypted_private_key: str | None = None


@attrs.frozen
class Application:
    """An application of an org, named by the `X-DFNS-APPID` header."""

    id: AppId
    org_id: OrgId
    name: str
    is_active: bool = True


@attrs.frozen
class Permission:
    """A named set of operations; `DfnsFullAdminAccess` (by name) grants every operation."""

    id: PermissionId
    org_id: OrgId
    name: str
    operations: tuple[str, ...]
    is_archived: bool = False

    @property
    def is_full_admin(self) -> bool:
        """True for the built-in permission that grants everything."""
        return self.name == FULL_ADMIN


@attrs.frozen
class Assignment:
    """Links a permission to an identity (a user)."""

    id: AssignmentId
    permission_id: PermissionId
    identity_id: UserId
    org_id: OrgId


@attrs.frozen
class AssignedPermission:
    """An assignment together with the permission it assigns (what responses list)."""

    assignment_id: AssignmentId
    permission: Permission

    def to_wire(self) -> dict[str, Any]:
        """One `permissionAssignments` item of SPEC §1.2."""
        return {
            "permissionName": self.permission.name,
            "permissionId": self.permission.id,
            "assignmentId": self.assignment_id,
            "operations": list(self.permission.operations),
        }


@attrs.frozen
class Grants:
    """What a user may do: its effective assignments (non-archived permissions of its own
    org), the union of their operations, and whether one is the full admin permission."""

    assignments: tuple[AssignedPermission, ...]
    operations: frozenset[str]
    full_admin: bool

    @classmethod
    def of(cls, assignments: Iterable[AssignedPermission], org_id: OrgId) -> Grants:
        """The grants of a user of `org_id` holding these assignments."""
        # One pass, no generator frames: this runs for the caller and the target of
        # every signed mutation (`flow_time_ratio`, docs/benchmarks.md §1).
        effective: list[AssignedPermission] = []
        operations: set[str] = set()
        full_admin = False
        for assigned in assignments:
            permission = assigned.permission
            if permission.is_archived or permission.org_id != org_id:
                continue
            effective.append(assigned)
            operations.update(permission.operations)
            if permission.is_full_admin:
                full_admin = True
        if not effective:  # most targets hold nothing: one shared value
            return NO_GRANTS
        return cls(
            assignments=tuple(effective),
            operations=frozenset(operations),
            full_admin=full_admin,
        )

    def hold_all(self, operations: Iterable[str]) -> bool:
        """Whether these grants cover every one of `operations`."""
        return self.full_admin or self.operations.issuperset(operations)


#: No grants: a user holding nothing, or a principal whose permissions are not read
#: (the signing endpoints).
NO_GRANTS: Final = Grants(assignments=(), operations=frozenset(), full_admin=False)


@attrs.frozen
class Principal:
    """The authenticated caller: who it is, how it authenticated, what it may do."""

    user: User
    token_kind: TokenKind
    token_id: str
    grants: Grants


@attrs.frozen
class RequestedAction:
    """The request a user action signature is for (SPEC §3 step 1)."""

    method: str
    path: str
    payload_sha256: str
    server_kind: str = "Api"


@attrs.frozen
class Challenge:
    """An open signing session. Stored under the SHA-256 of its identifier, never the identifier."""

    key: str
    user_id: UserId
    org_id: OrgId
    challenge: str
    action: RequestedAction
    allowed_cred_ids: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime


@attrs.frozen
class SignedEvidence:
    """What a credential signed, kept so the signature can be re-verified offline."""

    credential_uuid: CredentialUuid
    credential_kind: CredentialKind
    cred_id: str
    algorithm: str
    public_key: str
    client_data: str
    signature: str
    authenticator_data: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (camelCase, as in the API)."""
        return {
            "credentialUuid": self.credential_uuid,
            "kind": self.credential_kind.value,
            "credId": self.cred_id,
            "algorithm": self.algorithm,
            "publicKey": self.public_key,
            "clientData": self.client_data,
            "signature": self.signature,
            "authenticatorData": self.authenticator_data,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignedEvidence:
        """Inverse of `to_dict`."""
        return cls(
            credential_uuid=CredentialUuid(data["credentialUuid"]),
            credential_kind=CredentialKind(data["kind"]),
            cred_id=data["credId"],
            algorithm=data["algorithm"],
            public_key=data["publicKey"],
            client_data=data["clientData"],
            signature=data["signature"],
            authenticator_data=data["authenticatorData"],
        )


@attrs.frozen
class UserActionGrant:
    """What a user action token binds (SPEC §3): caller, credential, request, lifetime."""

    token_id: str
    user_id: UserId
    org_id: OrgId
    credential_uuid: CredentialUuid
    method: str
    path: str
    payload_sha256: str
    issued_at: datetime
    expires_at: datetime


@attrs.frozen
class UserActionRecord:
    """A grant as stored: the binding, the signed evidence behind it, and its use."""

    grant: UserActionGrant
    evidence: tuple[SignedEvidence, ...]
    used_at: datetime | None = None
