"""`PUT /auth/users/{userId}/deactivate`: deactivate a user of the caller's org (SPEC §1.4).

An operation of the signed pipeline (`signed_mutation`). Its own part: the body
(`{}` or `{"force": true|false}`; `force` changes no rule; a body `{}` may have been
signed as `""`, as the official Python SDK does), not yourself, not a service
account, not the org's last active user who can activate users; an inactive target is
answered as it stands, with no record. A deactivated user is cut off at commit: its
bearer tokens, open challenges and unused user action tokens stop working, and stay
dead when it is activated again.
"""

from __future__ import annotations

from typing import Final

import attrs

from archive_core.declarations import TARGET_ERRORS, Declaration
from archive_core.entities import User, UserKind
from archive_core.errors import ArchiveCoreError, Catalogue
from archive_core.fields import Body, Field
from archive_core.permissions import Entry, Permissions, Requirement, with_type_permission
from archive_core.use_cases.activate_user import ACTIVATE_USER
from archive_core.use_cases.signed_mutation import (
    SignedUserMutation,
    Subject,
    signed_user_mutation,
)
from archive_core.wire import USER

__all__ = ["DEACTIVATE_USER", "Deactivate"]

#: The message every defect of the body gets (chosen before messages named fields).
_FORCE: Final = "force must be a boolean (no other field)"


@attrs.frozen
class Deactivate:
    """Deactivate: the user can no longer act until it is activated again."""

    empty_object_signed_empty: bool = True

    def check(self, subject: Subject) -> None:
        """Not yourself, not a service account, the lock-out guard."""
        if subject.target.id == subject.caller.user.id:
            raise ArchiveCoreError(Catalogue.SELF_DEACTIVATE, reason="self_deactivate")
        if subject.target.is_service_account:
            raise ArchiveCoreError(Catalogue.SERVICE_ACCOUNT_DEACTIVATE, reason="service_account")
        subject.guard_lockout(ACTIVATE_USER.name, Catalogue.LAST_ACTIVATOR)

    def change(self, subject: Subject) -> User | None:
        """Inactive and cut off at the request's time; nothing when it is inactive already."""
        target = subject.target
        return target.deactivated(subject.now) if target.is_active else None

    def audit_action(self, target: User) -> str:
        """`PUT /auth/users/{userId}/deactivate`."""
        return f"PUT /auth/users/{target.id}/deactivate"


DEACTIVATE_USER: Final = Declaration[SignedUserMutation](
    name="DeactivateUser",
    method="PUT",
    path="/auth/users/{userId}/deactivate",
    operation_id="deactivateUser",
    outcome="deactivated",
    summary="Deactivate a user of the caller's org (reversible by activate).",
    description=(
        "Needs Auth:Users:Update plus the target's type permission (preset dfns), or "
        "Auth:Users:Deactivate (dfns-current). Not yourself, not a service account, not "
        "the org's last active user who can activate users. An inactive user is answered "
        "unchanged. The user's bearer tokens, open challenges and unused user action "
        "tokens stop working, and stay dead once it is activated again. `force` changes "
        "no rule."
    ),
    permissions=Permissions(
        Entry(with_type_permission("Auth:Users:Update")),
        {
            "dfns-current": Entry(
                (Requirement("Auth:Users:Deactivate"),), frozenset({UserKind.END_USER})
            )
        },
    ),
    signed=True,
    body=Body(
        (
            Field(
                name="force",
                type="boolean",
                default=False,
                expectation="must be a boolean (no other field)",
            ),
        ),
        max_bytes=1024,
        unknown_message=_FORCE,
    ),
    answer=USER,
    errors=TARGET_ERRORS,
    answer_description="The user as it now stands (isActive false).",
    build=signed_user_mutation(Deactivate()),
)
