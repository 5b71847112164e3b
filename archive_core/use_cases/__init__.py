"""The use cases: each operation's declaration and handler, and the administrative ones.

This package names the library's operations (their declarations, which `OPERATIONS`
lists); the use cases behind them, the signed pipeline (`signed_mutation`, whose parts
`archive_core` names), provisioning and maintenance stay in their modules.
"""

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
    "ACTIVATE_USER",
    "ARCHIVE_USER",
    "COMPLETE_USER_ACTION",
    "CREATE_USER",
    "DEACTIVATE_USER",
    "GET_AUDIT_LOG",
    "GET_CHECKPOINT",
    "GET_CONSISTENCY_PROOF",
    "GET_INCLUSION_PROOF",
    "GET_USER",
    "INIT_USER_ACTION",
    "LIST_AUDIT_LOGS",
    "LIST_USERS",
    "UPDATE_USER",
]
