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

from datetime import datetime
from typing import Final

import attrs

from archive_core.encoding import MalformedInput, parse_json_object
from archive_core.entities import User
from archive_core.errors import ArchiveCoreError, Catalogue
from archive_core.permissions import Operation
from archive_core.use_cases.signed_mutation import SignedUserMutation, Subject, UserMutation

__all__ = ["DEACTIVATE", "Deactivate", "DeactivateUser", "parse_deactivate_body"]

MAX_DEACTIVATE_BODY: Final = 1024


def parse_deactivate_body(body: bytes) -> bool:
    """The `force` flag of a deactivate body: absent body, `{}` or `{"force": bool}`."""
    if not body:
        return False
    try:
        document = parse_json_object(body, max_bytes=MAX_DEACTIVATE_BODY, max_depth=2)
    except MalformedInput as exc:
        raise ArchiveCoreError(Catalogue.JSON_MALFORMED, reason=exc.reason) from exc
    force = document.get("force", False)
    if not isinstance(force, bool) or any(key != "force" for key in document):
        raise ArchiveCoreError(
            Catalogue.BODY_INVALID,
            message="The request body is invalid: force must be a boolean (no other field).",
            reason="body_field",
        )
    return force


@attrs.frozen
class Deactivate:
    """Deactivate: the user can no longer act until it is activated again."""

    name: str = Operation.DEACTIVATE_USER
    done: str = "deactivated"
    empty_object_signed_empty: bool = True

    def check(self, subject: Subject) -> None:
        """Step 8: the body, not yourself, not a service account, the lock-out guard."""
        parse_deactivate_body(subject.request.body)
        if subject.target.id == subject.caller.user.id:
            raise ArchiveCoreError(Catalogue.SELF_DEACTIVATE, reason="self_deactivate")
        if subject.target.is_service_account:
            raise ArchiveCoreError(Catalogue.SERVICE_ACCOUNT_DEACTIVATE, reason="service_account")
        subject.guard_lockout(Operation.ACTIVATE_USER, Catalogue.LAST_ACTIVATOR)

    def change(self, target: User, *, now: datetime) -> User | None:
        """Inactive and cut off at `now`; nothing when it is inactive already."""
        return target.deactivated(now) if target.is_active else None

    def audit_action(self, target: User) -> str:
        """`PUT /auth/users/{userId}/deactivate`."""
        return f"PUT /auth/users/{target.id}/deactivate"


DEACTIVATE: Final[UserMutation] = Deactivate()


@attrs.frozen(kw_only=True)
class DeactivateUser(SignedUserMutation):
    """Deactivates one user, atomically with the token's consumption and the audit record."""

    mutation: UserMutation = DEACTIVATE
