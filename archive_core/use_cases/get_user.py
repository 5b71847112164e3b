"""`GET /auth/users/{userId}`: read a user of the caller's org (needs `Auth:Users:Read`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import attrs

from archive_core.access import Gate, Screening
from archive_core.declarations import TARGET_ERRORS, Declaration, Wiring
from archive_core.entities import Grants, Principal
from archive_core.errors import ArchiveCoreError, Catalogue
from archive_core.ids import UserId, is_canonical_id
from archive_core.permissions import (
    Entry,
    PermissionMatrix,
    Permissions,
    Requirement,
    authorize,
    denial_message,
)
from archive_core.ports import ReadingUnitOfWorkFactory, UnitOfWork, UnitOfWorkFactory
from archive_core.requests import Answer, Request
from archive_core.use_cases.signed_mutation import parse_values
from archive_core.wire import USER, user_to_wire

__all__ = ["GET_USER", "GetUser", "admit_reader", "reading"]


def reading(factory: UnitOfWorkFactory) -> Callable[[], UnitOfWork]:
    """How a read begins its unit of work: a reading unit where the factory offers one
    (a read needs no write lock), a plain one otherwise."""
    if isinstance(factory, ReadingUnitOfWorkFactory):
        return factory.reading
    return factory


def admit_reader(
    gate: Gate, uow: UnitOfWork, screening: Screening, matrix: PermissionMatrix, operation: str
) -> Principal:
    """A read's step 2 and its unconditional permission (403 naming what is missing)."""
    principal = gate.admit(uow, screening)
    decision = authorize(
        matrix,
        operation,
        granted=principal.grants.operations,
        full_admin=principal.grants.full_admin,
        target_kind=None,
    )
    if not decision.allowed:
        raise ArchiveCoreError(
            Catalogue.PERMISSION_DENIED,
            message=denial_message(principal.user.kind, principal.user.id, decision.missing),
            reason="permission_missing",
        )
    return principal


@attrs.frozen(kw_only=True)
class GetUser:
    """Headers → authentication → permission → id syntax → look-up (archived users are 404)."""

    gate: Gate
    uow_factory: UnitOfWorkFactory
    matrix: PermissionMatrix
    declaration: Declaration[GetUser]
    # A read needs no write lock: a reading unit where the factory offers one.
    _begin: Callable[[], UnitOfWork] = attrs.field(init=False)

    @_begin.default
    def _reading_if_offered(self) -> Callable[[], UnitOfWork]:
        return reading(self.uow_factory)

    @classmethod
    def wired(cls, wiring: Wiring, declaration: Declaration[GetUser]) -> GetUser:
        """The use case of `declaration`, built from a deployment's wiring."""
        return cls(
            gate=wiring.gate,
            uow_factory=wiring.uow_factory,
            matrix=wiring.matrix,
            declaration=declaration,
        )

    def __call__(self, request: Request) -> Answer:
        """Answer `GET /auth/users/{userId}`."""
        user_id = request.params.get("userId", "")
        screening = self.gate.screen(request.headers)
        with self._begin() as uow:
            principal = admit_reader(self.gate, uow, screening, self.matrix, self.declaration.name)
            parse_values(self.declaration, request)
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
