"""`DELETE /auth/users/{userId}`: archive a user of the caller's org (SPEC §1, §4, §5).

The signed pipeline (`signed_mutation`) runs steps 1 to 7 and 9; archive brings its
matrix entry, its rules (step 8: not yourself, not a service account, not the org's
last active user who can archive users), its state change (inactive, archived at
the request's time) and its audit action.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import attrs

from archive_core.entities import User
from archive_core.errors import ArchiveCoreError, Catalogue
from archive_core.permissions import Operation
from archive_core.use_cases.signed_mutation import (
    SignedUserMutation,
    Subject,
    UserMutation,
    check_user_action,
)

__all__ = ["ARCHIVE", "Archive", "ArchiveUser", "check_user_action"]


@attrs.frozen
class Archive:
    """Archive: a soft delete that cannot be undone through the API."""

    name: str = Operation.ARCHIVE_USER
    done: str = "archived"
    empty_object_signed_empty: bool = False

    def check(self, subject: Subject) -> None:
        """Step 8: not yourself, not a service account, the lock-out guard."""
        if subject.target.id == subject.caller.user.id:
            raise ArchiveCoreError(Catalogue.SELF_ARCHIVE, reason="self_archive")
        if subject.target.is_service_account:
            raise ArchiveCoreError(Catalogue.SERVICE_ACCOUNT_TARGET, reason="service_account")
        subject.guard_lockout(self.name, Catalogue.LAST_ARCHIVER)

    def change(self, target: User, *, now: datetime) -> User:
        """Inactive, archived at `now`."""
        return target.archived(now)

    def audit_action(self, target: User) -> str:
        """`DELETE /auth/users/{userId}`."""
        return f"DELETE /auth/users/{target.id}"


ARCHIVE: Final[UserMutation] = Archive()


@attrs.frozen(kw_only=True)
class ArchiveUser(SignedUserMutation):
    """Archives one user, atomically with the token's consumption and the audit record."""

    mutation: UserMutation = ARCHIVE
