"""`PUT /auth/users/{userId}`: Update User, a user of the caller's org (SPEC §1.5).

An operation of the signed pipeline (`signed_mutation`). Its body is exactly
`{"isSSORequired": true|false}` (any other field is a 400 naming it); its rules are
deactivate's without the self and lock-out rules: not a service account (yourself is
allowed). The same value again changes nothing: 200, no audit record.
"""

from __future__ import annotations

from typing import Final

import attrs

from archive_core.declarations import TARGET_ERRORS, Declaration
from archive_core.entities import User
from archive_core.errors import ArchiveCoreError, Catalogue
from archive_core.fields import Body, Field
from archive_core.permissions import Entry, Permissions, Requirement, with_type_permission
from archive_core.use_cases.signed_mutation import (
    SignedUserMutation,
    Subject,
    signed_user_mutation,
)
from archive_core.wire import USER

__all__ = ["UPDATE_USER", "Update"]


@attrs.frozen
class Update:
    """Update: the target's `isSSORequired` becomes the body's."""

    empty_object_signed_empty: bool = False

    def check(self, subject: Subject) -> None:
        """Not a service account."""
        if subject.target.is_service_account:
            raise ArchiveCoreError(Catalogue.SERVICE_ACCOUNT_UPDATE, reason="service_account")

    def change(self, subject: Subject) -> User | None:
        """The new value, one version later; nothing when it is the value already."""
        target = subject.target
        required: bool = subject.values["isSSORequired"]
        if required == target.is_sso_required:
            return None
        return attrs.evolve(target, is_sso_required=required, version=target.version + 1)

    def audit_action(self, target: User) -> str:
        """`PUT /auth/users/{userId}`."""
        return f"PUT /auth/users/{target.id}"


UPDATE_USER: Final = Declaration[SignedUserMutation](
    name="UpdateUser",
    method="PUT",
    path="/auth/users/{userId}",
    operation_id="updateUser",
    outcome="updated",
    summary="Update a user of the caller's org (its isSSORequired).",
    description=(
        "Needs Auth:Users:Update plus the target's type permission (presets dfns and "
        "dfns-delete), or Auth:Users:Update alone (dfns-current). The body is exactly "
        '{"isSSORequired": true|false}. Not a service account; yourself is allowed. The '
        "same value again is answered unchanged, with no audit record."
    ),
    permissions=Permissions(
        Entry(with_type_permission("Auth:Users:Update")),
        {"dfns-current": Entry((Requirement("Auth:Users:Update"),))},
    ),
    signed=True,
    body=Body((Field(name="isSSORequired", type="boolean", required=True),), required=True),
    answer=USER,
    errors=TARGET_ERRORS,
    answer_description="The user as it now stands.",
    build=signed_user_mutation(Update()),
)
