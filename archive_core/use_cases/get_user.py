"""`GET /auth/users/{userId}`: read a user of the caller's org (needs `Auth:Users:Read`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from archive_core.access import Gate
from archive_core.config import Policy
from archive_core.entities import Grants
from archive_core.errors import ArchiveCoreError, Catalogue
from archive_core.ids import UserId, is_canonical_id
from archive_core.permissions import Operation, authorize, denial_message
from archive_core.ports import ReadingUnitOfWorkFactory, UnitOfWork, UnitOfWorkFactory
from archive_core.requests import Request
from archive_core.wire import user_to_wire

__all__ = ["GetUser"]


@attrs.frozen(kw_only=True)
class GetUser:
    """Headers → authentication → permission → id syntax → look-up (archived users are 404)."""

    gate: Gate
    uow_factory: UnitOfWorkFactory
    policy: Policy
    # A read needs no write lock: a reading unit where the factory offers one.
    _begin: Callable[[], UnitOfWork] = attrs.field(init=False)

    @_begin.default
    def _reading_if_offered(self) -> Callable[[], UnitOfWork]:
        factory = self.uow_factory
        if isinstance(factory, ReadingUnitOfWorkFactory):
            return factory.reading
        return factory

    def __call__(self, request: Request, user_id: str) -> dict[str, Any]:
        """Answer `GET /auth/users/{userId}`."""
        screening = self.gate.screen(request.headers)
        with self._begin() as uow:
            principal = self.gate.admit(uow, screening)
            decision = authorize(
                self.policy.matrix,
                Operation.GET_USER,
                granted=principal.grants.operations,
                full_admin=principal.grants.full_admin,
                target_kind=None,
            )
            if not decision.allowed:
                raise ArchiveCoreError(
                    Catalogue.PERMISSION_DENIED,
                    message=denial_message(
                        principal.user.kind, principal.user.id, decision.missing
                    ),
                    reason="permission_missing",
                )
            if not is_canonical_id(user_id, "us"):
                raise ArchiveCoreError(Catalogue.USER_ID_MALFORMED, reason="user_id_malformed")
            target = uow.users.get(UserId(user_id))
            if target is None or target.org_id != principal.user.org_id or target.is_archived:
                raise ArchiveCoreError(Catalogue.TARGET_NOT_FOUND, reason="target_not_found")
            grants = Grants.of(uow.permissions.assignments_of(target.id), target.org_id)
        return user_to_wire(target, grants.assignments)
