"""archive-core: archive users the way the Dfns API does, behind ports.

The core holds the entities, the permission matrix, the verification steps and the
operations, each declared once (`Declaration`). It imports only the standard library
and attrs, and reaches storage, time, randomness and cryptography through the ports in
`archive_core.ports`. This package names what an embedder uses; the rest lives in its
modules (`archive_core.entities`, `archive_core.ids`, `archive_core.errors`, ...).
"""

from archive_core.audit import AuditRecord, verify_audit_chain
from archive_core.config import Policy
from archive_core.declarations import Declaration, Endpoints, Handler, Wiring
from archive_core.entities import CredentialKind, User, UserKind
from archive_core.errors import ArchiveCoreError, Catalogue, ErrorKind
from archive_core.fields import Body, Field, Query
from archive_core.operations import (
    DFNS_CURRENT_PRESET,
    DFNS_DELETE_PRESET,
    DFNS_PRESET,
    OPERATIONS,
    PRESETS,
)
from archive_core.permissions import Entry, PermissionMatrix, Permissions, Requirement
from archive_core.requests import Answer, Headers, Request
from archive_core.use_cases import (
    ACTIVATE_USER,
    ARCHIVE_USER,
    COMPLETE_USER_ACTION,
    DEACTIVATE_USER,
    GET_USER,
    INIT_USER_ACTION,
    Subject,
    UserMutation,
    signed_user_mutation,
)
from archive_core.usernames import check_username
from archive_core.wire import USER, Schema

__all__ = [
    "ACTIVATE_USER",
    "ARCHIVE_USER",
    "COMPLETE_USER_ACTION",
    "DEACTIVATE_USER",
    "DFNS_CURRENT_PRESET",
    "DFNS_DELETE_PRESET",
    "DFNS_PRESET",
    "GET_USER",
    "INIT_USER_ACTION",
    "OPERATIONS",
    "PRESETS",
    "USER",
    "Answer",
    "ArchiveCoreError",
    "AuditRecord",
    "Body",
    "Catalogue",
    "CredentialKind",
    "Declaration",
    "Endpoints",
    "Entry",
    "ErrorKind",
    "Field",
    "Handler",
    "Headers",
    "PermissionMatrix",
    "Permissions",
    "Policy",
    "Query",
    "Request",
    "Requirement",
    "Schema",
    "Subject",
    "User",
    "UserKind",
    "UserMutation",
    "Wiring",
    "check_username",
    "signed_user_mutation",
    "verify_audit_chain",
]
