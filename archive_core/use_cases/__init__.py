"""The use cases: each operation's declaration and handler, and the administrative ones."""

from archive_core.use_cases.activate_user import ACTIVATE_USER
from archive_core.use_cases.archive_user import ARCHIVE_USER
from archive_core.use_cases.complete_user_action import COMPLETE_USER_ACTION, CompleteUserAction
from archive_core.use_cases.deactivate_user import DEACTIVATE_USER
from archive_core.use_cases.get_user import GET_USER, GetUser
from archive_core.use_cases.init_user_action import INIT_USER_ACTION, InitUserAction
from archive_core.use_cases.maintenance import PurgeExpired, PurgeReport
from archive_core.use_cases.provisioning import Provisioning
from archive_core.use_cases.signed_mutation import (
    SignedUserMutation,
    Subject,
    UserMutation,
    signed_user_mutation,
)

__all__ = [
    "ACTIVATE_USER",
    "ARCHIVE_USER",
    "COMPLETE_USER_ACTION",
    "DEACTIVATE_USER",
    "GET_USER",
    "INIT_USER_ACTION",
    "CompleteUserAction",
    "GetUser",
    "InitUserAction",
    "Provisioning",
    "PurgeExpired",
    "PurgeReport",
    "SignedUserMutation",
    "Subject",
    "UserMutation",
    "signed_user_mutation",
]
