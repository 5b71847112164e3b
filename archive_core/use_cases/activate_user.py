"""`PUT /auth/users/{userId}/activate`: activate a user of the caller's org (SPEC §1.4).

An operation of the signed pipeline (`signed_mutation`). Its own part: not yourself,
not a service account; an active target is answered as it stands, with no record.
Activation restores the user only: what its deactivation cut off stays cut off. The
body is not read (the signature binds whatever was sent; the SDK sends none).
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
from archive_core.wire import USER

__all__ = ["ACTIVATE_USER", "Activate"]


@attrs.frozen
class Activate:
    """Activate: a deactivated (not archived) user may act again."""

    empty_object_signed_empty: bool = False

    def check(self, subject: Subject) -> None:
        """Not yourself, not a service account."""
        if subject.target.id == subject.caller.user.id:
            raise ArchiveCoreError(Catalogue.SELF_ACTIVATE, reason="self_activate")
        if subject.target.is_service_account:
            raise ArchiveCoreError(Catalogue.SERVICE_ACCOUNT_ACTIVATE, reason="service_account")

    def change(self, subject: Subject) -> User | None:
        """Active again; nothing when it is active already."""
        target = subject.target
        return None if target.is_active else target.activated()

    def audit_action(self, target: User) -> str:
        """`PUT /auth/users/{userId}/activate`."""
        return f"PUT /auth/users/{target.id}/activate"


ACTIVATE_USER: Final = Declaration[SignedUserMutation](
    name="ActivateUser",
    method="PUT",
    path="/auth/users/{userId}/activate",
    operation_id="activateUser",
    outcome="activated",
    summary="Activate a deactivated user of the caller's org.",
    description=(
        "Needs Auth:Users:Update plus the target's type permission (preset dfns), or "
        "Auth:Users:Activate (dfns-current). Not yourself, not a service account; an "
        "archived user is 404; an active user is answered unchanged. No body."
    ),
    permissions=Permissions(
        Entry(with_type_permission("Auth:Users:Update")),
        {
            "dfns-current": Entry(
                (Requirement("Auth:Users:Activate"),), frozenset({UserKind.END_USER})
            )
        },
    ),
    signed=True,
    answer=USER,
    errors=TARGET_ERRORS,
    answer_description="The user as it now stands (isActive true).",
    build=signed_user_mutation(Activate()),
)
