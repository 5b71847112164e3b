"""JSON shapes of the API's answers (SPEC §1.2, §3), built from domain values."""

from __future__ import annotations

from collections.abc import Sequence
from operator import methodcaller
from typing import Any, Final

from archive_core.entities import AssignedPermission, User

__all__ = ["user_to_wire"]

_TO_WIRE: Final = methodcaller("to_wire")


def user_to_wire(user: User, assignments: Sequence[AssignedPermission]) -> dict[str, Any]:
    """The user as SPEC §1.2 shows it: the seed's eleven keys, camelCase, then `name` and
    `isSSORequired` of the current API. `assignments` are the effective ones
    (`Grants.assignments`). Users have no display name of their own here, so `name` is
    the username (what the API answers for a user without one)."""
    return {
        "username": user.username,
        "userId": user.id,
        "kind": user.kind._value_,  # (`.value` is a Python property: one less call)
        "credentialUuid": user.credential_uuid,
        "orgId": user.org_id,
        "permissions": [],
        "scopes": [],
        "isActive": user.is_active,
        "isServiceAccount": user.is_service_account,
        "isRegistered": user.is_registered,
        "permissionAssignments": list(map(_TO_WIRE, assignments)),
        "name": user.username,
        "isSSORequired": False,
    }
