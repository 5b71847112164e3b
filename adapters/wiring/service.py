"""The use cases a transport serves, in one bundle (built by the composition root)."""

from __future__ import annotations

import attrs

from adapters.observability.health import Readiness
from archive_core.use_cases import (
    ActivateUser,
    ArchiveUser,
    CompleteUserAction,
    DeactivateUser,
    GetUser,
    InitUserAction,
)

__all__ = ["Service"]


@attrs.frozen(kw_only=True)
class Service:
    """What the HTTP transports (ASGI, WSGI, framework embeddings) call."""

    init_user_action: InitUserAction
    complete_user_action: CompleteUserAction
    archive_user: ArchiveUser
    get_user: GetUser
    deactivate_user: DeactivateUser
    activate_user: ActivateUser
    #: the store checks behind `GET /readyz` (None: no store to check, always ready)
    readiness: Readiness | None = None
