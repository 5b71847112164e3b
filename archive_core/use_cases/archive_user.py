"""`DELETE /auth/users/{userId}`: archive a user of the caller's org (SPEC §1, §4, §5).

The signed pipeline (`signed_mutation`) runs every step but the rules; archive brings
its declaration (route, matrix rows) and what is its own: its rules (not yourself, not
a service account, not the org's last active user who can archive users), its state
change (inactive, archived at the request's time) and its audit action. The body is
not read: the signature binds whatever was sent.
"""

from __future__ import annotations

from typing import Final

import attrs

from archive_core.declarations import TARGET_ERRORS, Declaration
from archive_core.entities import User, UserKind
from archive_core.errors import ArchiveCoreError, Catalogue
from archive_core.permissions import Entry, Permissions, Requirement, with_type_permission
from archive_core.use_cases.signed_mutation import (
    SignedUserMutation,
    Subject,
    signed_user_mutation,
)
from archive_core.wire import USER, Schema

__all__ = ["ARCHIVE_USER", "Archive"]


@attrs.frozen
class Archive:
    """Archive: a soft delete that cannot be undone through the API."""

    empty_object_signed_empty: bool = False

    def check(self, subject: Subject) -> None:
        """Not yourself, not a service account, the lock-out guard."""
        if subject.target.id == subject.caller.user.id:
            raise ArchiveCoreError(Catalogue.SELF_ARCHIVE, reason="self_archive")
        if subject.target.is_service_account:
            raise ArchiveCoreError(Catalogue.SERVICE_ACCOUNT_TARGET, reason="service_account")
        subject.guard_lockout(subject.operation, Catalogue.LAST_ARCHIVER)

    def change(self, subject: Subject) -> User:
        """Inactive, archived at the request's time."""
        return subject.target.archived(subject.now)

    def audit_action(self, target: User) -> str:
        """`DELETE /auth/users/{userId}`."""
        return f"DELETE /auth/users/{target.id}"


ARCHIVE_USER: Final = Declaration[SignedUserMutation](
    name="ArchiveUser",
    method="DELETE",
    path="/auth/users/{userId}",
    operation_id="archiveUser",
    outcome="archived",
    summary="Archive a user of the caller's org (soft delete, irreversible).",
    description=(
        "Needs Auth:Users:Update, plus Auth:Types:Employee or Auth:Types:EndUser for the "
        "target's kind (preset dfns; Auth:Users:Delete in dfns-delete and dfns-current). "
        'The user action token binds the exact body bytes: no body is the payload "", '
        'the body {} is the payload "{}".'
    ),
    permissions=Permissions(
        Entry(with_type_permission("Auth:Users:Update")),
        {
            "dfns-delete": Entry(with_type_permission("Auth:Users:Delete")),
            "dfns-current": Entry(
                (Requirement("Auth:Users:Delete"),), frozenset({UserKind.END_USER})
            ),
        },
    ),
    signed=True,
    request_schema=Schema("", {}),
    answer=USER,
    errors=TARGET_ERRORS,
    answer_description="The user as it now stands (isActive false).",
    build=signed_user_mutation(Archive()),
)
