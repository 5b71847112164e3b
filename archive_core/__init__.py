"""archive-core: archive users the way the Dfns API does, behind ports.

The core holds the entities, the permission matrix, the verification steps and the
use cases. It imports only the standard library and attrs, and reaches storage,
time, randomness and cryptography through the ports in `archive_core.ports`.
"""

from archive_core.access import Gate
from archive_core.audit import AuditRecord, ChainVerification, verify_audit_chain
from archive_core.config import Policy
from archive_core.entities import (
    FULL_ADMIN,
    Application,
    AssignedPermission,
    Assignment,
    Challenge,
    Credential,
    CredentialKind,
    Grants,
    Permission,
    Principal,
    TokenKind,
    User,
    UserActionGrant,
    UserActionRecord,
    UserKind,
)
from archive_core.errors import (
    AlreadyExists,
    ArchiveCoreError,
    Catalogue,
    ConcurrencyConflict,
    ErrorKind,
    StorageUnavailable,
)
from archive_core.ids import AppId, CredentialUuid, OrgId, PermissionId, UserId
from archive_core.permissions import (
    DFNS_CURRENT_PRESET,
    DFNS_DELETE_PRESET,
    DFNS_PRESET,
    Decision,
    Operation,
    PermissionMatrix,
    Requirement,
    authorize,
)
from archive_core.requests import Headers, Request
from archive_core.use_cases import (
    ActivateUser,
    ArchiveUser,
    CompleteUserAction,
    DeactivateUser,
    GetUser,
    InitUserAction,
    Provisioning,
    SignedUserMutation,
    Subject,
    UserMutation,
)

__all__ = [
    "DFNS_CURRENT_PRESET",
    "DFNS_DELETE_PRESET",
    "DFNS_PRESET",
    "FULL_ADMIN",
    "ActivateUser",
    "AlreadyExists",
    "AppId",
    "Application",
    "ArchiveCoreError",
    "ArchiveUser",
    "AssignedPermission",
    "Assignment",
    "AuditRecord",
    "Catalogue",
    "ChainVerification",
    "Challenge",
    "CompleteUserAction",
    "ConcurrencyConflict",
    "Credential",
    "CredentialKind",
    "CredentialUuid",
    "DeactivateUser",
    "Decision",
    "ErrorKind",
    "Gate",
    "GetUser",
    "Grants",
    "Headers",
    "InitUserAction",
    "Operation",
    "OrgId",
    "Permission",
    "PermissionId",
    "PermissionMatrix",
    "Policy",
    "Principal",
    "Provisioning",
    "Request",
    "Requirement",
    "SignedUserMutation",
    "StorageUnavailable",
    "Subject",
    "TokenKind",
    "User",
    "UserActionGrant",
    "UserActionRecord",
    "UserId",
    "UserKind",
    "UserMutation",
    "authorize",
    "verify_audit_chain",
]
