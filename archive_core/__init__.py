"""archive-core: archive users the way the Dfns API does, behind ports.

The core holds the entities, the permission matrix, the verification steps and the
operations, each declared once (`Declaration`). It imports only the standard library
and attrs, and reaches storage, time, randomness and cryptography through the ports in
`archive_core.ports`.

This package names what an embedder configures a deployment with (`Policy`,
`OPERATIONS`), declares and writes an operation with (`Declaration` and its parts, the
signed pipeline, a handler's `Request` and `Answer`, the error it raises) and reads of
the audit trail (`AuditRecord`, and the `AuditWindow` an audit log pages through). The
library's operations are `archive_core.use_cases`' (`ARCHIVE_USER`, ...); the values,
the error catalogue and the ports are their modules' (`archive_core.entities`,
`archive_core.ids`, `archive_core.errors`, `archive_core.ports`); everything else stays
in its module.
"""

from archive_core.audit import AuditRecord, AuditWindow
from archive_core.config import Policy
from archive_core.declarations import Declaration, Handler
from archive_core.errors import ArchiveCoreError, ErrorKind
from archive_core.fields import Body, Field, Query
from archive_core.operations import OPERATIONS
from archive_core.permissions import Entry, Permissions, Requirement
from archive_core.requests import Answer, Headers, Request
from archive_core.use_cases.signed_mutation import (
    SignedUserMutation,
    Subject,
    UserMutation,
    signed_user_mutation,
)
from archive_core.usernames import check_username
from archive_core.wire import USER

__all__ = [
    "OPERATIONS",
    "USER",
    "Answer",
    "ArchiveCoreError",
    "AuditRecord",
    "AuditWindow",
    "Body",
    "Declaration",
    "Entry",
    "ErrorKind",
    "Field",
    "Handler",
    "Headers",
    "Permissions",
    "Policy",
    "Query",
    "Request",
    "Requirement",
    "SignedUserMutation",
    "Subject",
    "UserMutation",
    "check_username",
    "signed_user_mutation",
]
