"""The operations of the Dfns API this library serves, and the matrix presets they make.

`OPERATIONS` is what `build` serves unless told otherwise; an embedder serves its own
beside them (`build(operations=(*OPERATIONS, RENAME_USER))`). A preset's table is
gathered from the operations' rows (`PermissionMatrix.of`): the three presets of
SPEC §1.1 over the library's own operations are below (`docs/permissions.md` is
generated from them).
"""

from __future__ import annotations

from typing import Final

from archive_core.declarations import Declaration, Handler, resolve_matrix
from archive_core.entities import FULL_ADMIN
from archive_core.permissions import PRESET_NAMES, PermissionMatrix
from archive_core.use_cases.activate_user import ACTIVATE_USER
from archive_core.use_cases.archive_user import ARCHIVE_USER
from archive_core.use_cases.audit_logs import GET_AUDIT_LOG, LIST_AUDIT_LOGS
from archive_core.use_cases.complete_user_action import COMPLETE_USER_ACTION
from archive_core.use_cases.create_user import CREATE_USER
from archive_core.use_cases.deactivate_user import DEACTIVATE_USER
from archive_core.use_cases.get_user import GET_USER
from archive_core.use_cases.init_user_action import INIT_USER_ACTION
from archive_core.use_cases.list_users import LIST_USERS
from archive_core.use_cases.log_proofs import (
    GET_CHECKPOINT,
    GET_CONSISTENCY_PROOF,
    GET_INCLUSION_PROOF,
)
from archive_core.use_cases.update_user import UPDATE_USER

__all__ = [
    "DFNS_CURRENT_PRESET",
    "DFNS_DELETE_PRESET",
    "DFNS_PRESET",
    "KNOWN_PERMISSIONS",
    "OPERATIONS",
    "PRESETS",
    "SDK_PERMISSIONS",
]

#: The library's operations, in the order the documentation lists them.
OPERATIONS: Final[tuple[Declaration[Handler], ...]] = (
    INIT_USER_ACTION,
    COMPLETE_USER_ACTION,
    ARCHIVE_USER,
    DEACTIVATE_USER,
    ACTIVATE_USER,
    GET_USER,
    UPDATE_USER,
    CREATE_USER,
    LIST_USERS,
    LIST_AUDIT_LOGS,
    GET_AUDIT_LOG,
    GET_CHECKPOINT,
    GET_INCLUSION_PROOF,
    GET_CONSISTENCY_PROOF,
)

#: Each preset of SPEC §1.1 over the library's operations, by name.
PRESETS: Final[dict[str, PermissionMatrix]] = {
    name: resolve_matrix(name, OPERATIONS) for name in PRESET_NAMES
}
DFNS_PRESET: Final = PRESETS["dfns"]
DFNS_DELETE_PRESET: Final = PRESETS["dfns-delete"]
DFNS_CURRENT_PRESET: Final = PRESETS["dfns-current"]

#: Permissions the official Dfns SDKs name for the user and audit-log endpoints this
#: library serves next (Create User, List and Get User, the audit logs: SPEC §1.5, §1.6).
SDK_PERMISSIONS: Final = ("Auth:Users:Create", "Auth:Users:Read", "Auth:Logs:Read")

#: Every permission a grant may name: `DfnsFullAdminAccess`, each permission a preset's
#: requirement names, and `SDK_PERMISSIONS`. A new operation's permissions join through
#: its declaration's rows (or `SDK_PERMISSIONS`, until it is declared).
KNOWN_PERMISSIONS: Final = frozenset(
    {FULL_ADMIN, *SDK_PERMISSIONS, *(p for m in PRESETS.values() for p in m.permissions)}
)
