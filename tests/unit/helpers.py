"""What the unit tests share: the testing kit's assertions, and a unit of work over the
in-memory store that a test changes one part of."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from adapters.storage.memory import MemoryUnitOfWork
from adapters.testing.assertions import refused, snapshot

__all__ = ["WrappedUnitOfWork", "refused", "snapshot"]


class WrappedUnitOfWork:
    """A `MemoryUnitOfWork` behind a wrapper: it begins, commits, rolls back and ends as
    the inner one, and its parts are the inner one's until a subclass replaces one."""

    users: Any
    audit: Any

    def __init__(self, inner: MemoryUnitOfWork) -> None:
        self._inner = inner
        self.users = inner.users
        self.credentials = inner.credentials
        self.applications = inner.applications
        self.permissions = inner.permissions
        self.user_actions = inner.user_actions
        self.audit = inner.audit

    def __enter__(self) -> Self:
        self._inner.__enter__()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._inner.__exit__(t, e, tb)

    def commit(self) -> None:
        self._inner.commit()

    def rollback(self) -> None:
        self._inner.rollback()
