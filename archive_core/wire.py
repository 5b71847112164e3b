"""JSON shapes of the API's answers (SPEC §1.2, §3), built from domain values, and their
JSON schemas (for the OpenAPI document)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import methodcaller
from typing import Any, Final

import attrs

from archive_core.entities import AssignedPermission, User

__all__ = ["USER", "Schema", "user_to_wire"]


@attrs.frozen
class Schema:
    """A JSON schema with the name the OpenAPI document's components give it (an empty
    name: written in place), and the named schemas it refers to (`#/components/schemas/`)."""

    name: str
    schema: Mapping[str, Any]
    refers_to: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)


_STRING: Final = {"type": "string"}
_STRINGS: Final = {"type": "array", "items": _STRING}

#: The user as SPEC §1.2 shows it (`user_to_wire`).
USER: Final = Schema(
    "User",
    {
        "type": "object",
        "required": [
            "username",
            "userId",
            "kind",
            "credentialUuid",
            "orgId",
            "permissions",
            "scopes",
            "isActive",
            "isServiceAccount",
            "isRegistered",
            "permissionAssignments",
            "name",
            "isSSORequired",
        ],
        "additionalProperties": False,
        "properties": {
            "username": _STRING,
            "userId": _STRING,
            "kind": {"enum": ["CustomerEmployee", "EndUser"]},
            "credentialUuid": _STRING,
            "orgId": _STRING,
            "permissions": _STRINGS,
            "scopes": _STRINGS,
            "isActive": {"type": "boolean"},
            "isServiceAccount": {"type": "boolean"},
            "isRegistered": {"type": "boolean"},
            "name": {"type": "string", "description": "Display name; the username when none."},
            "isSSORequired": {"type": "boolean"},
            "permissionAssignments": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["permissionName", "permissionId", "assignmentId", "operations"],
                    "additionalProperties": False,
                    "properties": {
                        "permissionName": _STRING,
                        "permissionId": _STRING,
                        "assignmentId": _STRING,
                        "operations": _STRINGS,
                    },
                },
            },
        },
    },
)

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
        "isSSORequired": user.is_sso_required,
    }
