"""The first steps of a read that needs no signature (SPEC §4's order without step 3).

Headers (400) → authentication (401) → the operation's unconditional permission (403)
→ the declared query (400). A read runs in a reading unit of work where the factory
offers one (`ReadingUnitOfWorkFactory`: no write lock), a plain unit otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Self

import attrs

from archive_core.access import Gate, Screening
from archive_core.declarations import Declaration, Wiring
from archive_core.entities import Principal
from archive_core.errors import ArchiveCoreError, Catalogue
from archive_core.fields import Values
from archive_core.permissions import PermissionMatrix, authorize, denial_message
from archive_core.ports import ReadingUnitOfWorkFactory, UnitOfWork, UnitOfWorkFactory
from archive_core.requests import Request
from archive_core.use_cases.signed_mutation import parse_values

__all__ = ["Read", "ReadAccess"]


@attrs.frozen(kw_only=True)
class ReadAccess:
    """What a read needs to admit its caller: the gate, the units of work, the matrix in
    force and its own declaration (its name in the matrix, its query)."""

    gate: Gate
    uow_factory: UnitOfWorkFactory
    matrix: PermissionMatrix
    declaration: Declaration[Any]
    #: starts the read's unit of work (a reading one where the factory offers it)
    begin: Callable[[], UnitOfWork] = attrs.field(init=False)

    @begin.default
    def _reading_if_offered(self) -> Callable[[], UnitOfWork]:
        factory = self.uow_factory
        if isinstance(factory, ReadingUnitOfWorkFactory):
            return factory.reading
        return factory

    @classmethod
    def wired(cls, wiring: Wiring, declaration: Declaration[Any]) -> ReadAccess:
        """The access of `declaration`, built from a deployment's wiring."""
        return cls(
            gate=wiring.gate,
            uow_factory=wiring.uow_factory,
            matrix=wiring.matrix,
            declaration=declaration,
        )

    def screen(self, request: Request) -> Screening:
        """Steps 1 and 2 before any unit of work: headers and the bearer token."""
        return self.gate.screen(request.headers)

    def admit(
        self, uow: UnitOfWork, screening: Screening, request: Request
    ) -> tuple[Principal, Values]:
        """Step 2 in `uow` (the caller loaded, active, in its org), the operation's
        permission (403 naming what is missing), then its declared query and body."""
        principal = self.gate.admit(uow, screening)
        decision = authorize(
            self.matrix,
            self.declaration.name,
            granted=principal.grants.operations,
            full_admin=principal.grants.full_admin,
            target_kind=None,
            caller_kind=principal.user.kind,
        )
        if not decision.allowed:
            raise ArchiveCoreError(
                Catalogue.PERMISSION_DENIED,
                message=denial_message(principal.user.kind, principal.user.id, decision.missing),
                reason="permission_missing",
            )
        return principal, parse_values(self.declaration, request)

    @contextmanager
    def admitted(self, request: Request) -> Iterator[tuple[UnitOfWork, Principal, Values]]:
        """The read's unit of work once its caller is admitted (`screen`, then `admit`):
        the unit, the caller and the values of its query."""
        screening = self.screen(request)
        with self.begin() as uow:
            principal, values = self.admit(uow, screening, request)
            yield uow, principal, values


@attrs.frozen(kw_only=True)
class Read:
    """A read's use case: its access; a subclass answers (`__call__`)."""

    access: ReadAccess

    @classmethod
    def wired(cls, wiring: Wiring, declaration: Declaration[Any]) -> Self:
        """The use case of `declaration`, built from a deployment's wiring."""
        return cls(access=ReadAccess.wired(wiring, declaration))
