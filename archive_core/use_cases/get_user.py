"""`GET /auth/users/{userId}`: read a user of the caller's org (needs `Auth:Users:Read`)."""

from __future__ import annotations

from typing import Final

import attrs

from archive_core.declarations import TARGET_ERRORS, Declaration
from archive_core.entities import Grants
from archive_core.errors import ArchiveCoreError, Catalogue
from archive_core.ids import UserId, is_canonical_id
from archive_core.permissions import Entry, Permissions, Requirement
from archive_core.requests import Answer, Request
from archive_core.use_cases.reading import Read
from archive_core.wire import USER, user_to_wire

__all__ = ["GET_USER", "GetUser"]


@attrs.frozen(kw_only=True)
class GetUser(Read):
    """Headers → authentication → permission → id syntax → look-up (archived users are 404)."""

    def __call__(self, request: Request) -> Answer:
        """Answer `GET /auth/users/{userId}`."""
        user_id = request.params.get("userId", "")
        with self.access.admitted(request) as (uow, principal, _values):
            if not is_canonical_id(user_id, "us"):
                raise ArchiveCoreError(Catalogue.USER_ID_MALFORMED, reason="user_id_malformed")
            target = uow.users.get(UserId(user_id))
            if target is None or target.org_id != principal.user.org_id or target.is_archived:
                raise ArchiveCoreError(Catalogue.TARGET_NOT_FOUND, reason="target_not_found")
            grants = Grants.of(uow.permissions.assignments_of(target.id), target.org_id)
        return Answer.json(user_to_wire(target, grants.assignments))


GET_USER: Final = Declaration[GetUser](
    name="GetUser",
    method="GET",
    path="/auth/users/{userId}",
    operation_id="getUser",
    outcome="read",
    summary="Read a user of the caller's org (needs Auth:Users:Read).",
    permissions=Permissions(Entry((Requirement("Auth:Users:Read"),))),
    answer=USER,
    errors=TARGET_ERRORS,
    answer_description="The user.",
    reads_only=True,
    build=GetUser.wired,
)
