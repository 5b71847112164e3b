"""`PUT /auth/users/{userId}/activate`: activate a user of the caller's org (SPEC §1.4).

An operation of the signed pipeline (`signed_mutation`). Its own part: not yourself,
not a service account; an active target is answered as it stands, with no record.
Activation restores the user only: what its deactivation cut off stays cut off. The
body is not read (the signature binds whatever was sent; the SDK sends none).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import attrs

from archive_core.entities import User
from archive_core.errors import ArchiveCoreError, Catalogue
from archive_core.permissions import Operation
from archive_core.use_cases.signed_mutation import SignedUserMutation, Subject, UserMutation

__all__ = ["ACTIVATE", "Activate", "ActivateUser"]


@attrs.frozen
class Activate:
    """Activate: a deactivated (not archived) user may act again."""

    name: str = Operation.ACTIVATE_USER
    done: str = "activated"
    empty_object_signed_empty: bool = False

    def check(self, subject: Subject) -> None:
        """Step 8: not yourself, not a service account."""
        if subject.target.id == subject.caller.user.id:
            raise ArchiveCoreError(Catalogue.SELF_ACTIVATE, reason="self_activate")
        if subject.target.is_service_account:
            raise ArchiveCoreError(Catalogue.SERVICE_ACCOUNT_ACTIVATE, reason="service_account")

    def change(self, target: User, *, now: datetime) -> User | None:
        """Active again; nothing when it is active already."""
        return None if target.is_active else target.activated()

    def audit_action(self, target: User) -> str:
        """`PUT /auth/users/{userId}/activate`."""
        return f"PUT /auth/users/{target.id}/activate"


ACTIVATE: Final[UserMutation] = Activate()


@attrs.frozen(kw_only=True)
class ActivateUser(SignedUserMutation):
    """Activates one user, atomically with the token's consumption and the audit record."""

    mutation: UserMutation = ACTIVATE
