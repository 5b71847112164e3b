"""Assertions shared by the unit tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from archive_core.errors import ArchiveCoreError, ErrorKind
from tests.world import World


def refused(
    kind: ErrorKind, call: Callable[[], Any], *, message: str | None = None
) -> ArchiveCoreError:
    """Run `call`, expect exactly this refusal (status, code, message)."""
    with pytest.raises(ArchiveCoreError) as caught:
        call()
    error = caught.value
    assert (error.status, error.code) == (kind.status, kind.code), repr(error)
    assert error.message == (message if message is not None else kind.message)
    return error


def snapshot(world: World) -> tuple[Any, ...]:
    """Everything an archive could change, to prove a refusal changed nothing."""
    store = world.store
    return (
        dict(store.users),
        {k: r.used_at for k, r in store.user_actions.items()},
        {k: list(v) for k, v in store.audit.items()},
        dict(store.credentials),
    )
