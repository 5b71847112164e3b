"""The use cases: plain classes holding their ports, one public `__call__` each."""

from archive_core.use_cases.activate_user import ActivateUser
from archive_core.use_cases.archive_user import ArchiveUser
from archive_core.use_cases.complete_user_action import CompleteUserAction
from archive_core.use_cases.deactivate_user import DeactivateUser
from archive_core.use_cases.get_user import GetUser
from archive_core.use_cases.init_user_action import InitUserAction
from archive_core.use_cases.maintenance import PurgeExpired, PurgeReport
from archive_core.use_cases.provisioning import Provisioning
from archive_core.use_cases.signed_mutation import SignedUserMutation, Subject, UserMutation

__all__ = [
    "ActivateUser",
    "ArchiveUser",
    "CompleteUserAction",
    "DeactivateUser",
    "GetUser",
    "InitUserAction",
    "Provisioning",
    "PurgeExpired",
    "PurgeReport",
    "SignedUserMutation",
    "Subject",
    "UserMutation",
]
