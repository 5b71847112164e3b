"""An operation of the tests' own, in one module and one declaration: rename a user.

`PUT /auth/users/{userId}/rename` with the body `{"username": "..."}`, signed like any
mutation. `archive-core serve --operation tests.e2e.rename_user:RENAME_USER` serves it
beside the library's operations: its route, its OpenAPI entry, its matrix row, its
metrics labels come from this declaration alone.
"""

from __future__ import annotations

from typing import Final

import attrs

from archive_core import (
    USER,
    ArchiveCoreError,
    Body,
    Declaration,
    Entry,
    ErrorKind,
    Field,
    Permissions,
    Requirement,
    SignedUserMutation,
    Subject,
    check_username,
    signed_user_mutation,
)
from archive_core.entities import User, UserKind

__all__ = ["RENAME_USER", "Rename"]

NOT_A_PERSON: Final = ErrorKind(
    400,
    "rename_service_account",
    "Service accounts are renamed through their own endpoint.",
    when="the target of a rename is a service account",
)


@attrs.frozen
class Rename:
    """The target's username becomes the body's `username`."""

    empty_object_signed_empty: bool = False

    def check(self, subject: Subject) -> None:
        """Not a service account; a name that follows the username rule (the store
        refuses one another user holds: 409)."""
        if subject.target.is_service_account:
            raise ArchiveCoreError(NOT_A_PERSON, reason="service_account")
        check_username(subject.values["username"])

    def change(self, subject: Subject) -> User | None:
        """The new name; nothing when it is the name already."""
        username = subject.values["username"]
        if username == subject.target.username:
            return None
        return attrs.evolve(subject.target, username=username, version=subject.target.version + 1)

    def audit_action(self, target: User) -> str:
        """`PUT /auth/users/{userId}/rename`."""
        return f"PUT /auth/users/{target.id}/rename"


RENAME_USER: Final = Declaration[SignedUserMutation](
    name="RenameUser",
    method="PUT",
    path="/auth/users/{userId}/rename",
    operation_id="renameUser",
    outcome="renamed",
    summary="Rename a user of the caller's org.",
    permissions=Permissions(
        Entry(
            (
                Requirement("Auth:Users:Update"),
                Requirement("Auth:Types:Employee", UserKind.CUSTOMER_EMPLOYEE),
                Requirement("Auth:Types:EndUser", UserKind.END_USER),
            )
        )
    ),
    signed=True,
    body=Body((Field(name="username", required=True, max_length=254),), required=True),
    answer=USER,
    build=signed_user_mutation(Rename()),
)
