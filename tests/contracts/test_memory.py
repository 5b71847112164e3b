"""The in-memory adapter against every contract suite (it is their reference)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import pytest

from adapters.storage.memory import (
    PURGE_EVERY,
    MemoryChallengeStore,
    MemoryReplayGuard,
    MemorySigningKeyStore,
    MemoryStore,
)
from adapters.testing.contracts import (
    ChallengeStoreContract,
    ReplayGuardContract,
    SigningKeyStoreContract,
    UnitOfWorkContract,
)
from archive_core.ports import ChallengeStore, ReplayGuard, UnitOfWorkFactory


class TestMemoryUnitOfWork(UnitOfWorkContract):
    serialised = True
    purge_every = PURGE_EVERY

    @contextmanager
    def open(self, request: pytest.FixtureRequest) -> Iterator[MemoryStore]:
        yield MemoryStore()

    def stored_user_actions(self, factory: UnitOfWorkFactory) -> int:
        return len(cast(MemoryStore, factory).user_actions)


class TestMemoryChallengeStore(ChallengeStoreContract):
    purge_every = PURGE_EVERY

    @contextmanager
    def open(self, request: pytest.FixtureRequest) -> Iterator[MemoryChallengeStore]:
        yield MemoryChallengeStore()

    def stored(self, store: ChallengeStore) -> int:
        return len(cast(MemoryChallengeStore, store))


class TestMemoryReplayGuard(ReplayGuardContract):
    purge_every = PURGE_EVERY

    @contextmanager
    def open(self, request: pytest.FixtureRequest) -> Iterator[MemoryReplayGuard]:
        yield MemoryReplayGuard()

    def stored(self, guard: ReplayGuard) -> int:
        return len(cast(MemoryReplayGuard, guard))


class TestMemorySigningKeyStore(SigningKeyStoreContract):
    @contextmanager
    def open(self, request: pytest.FixtureRequest) -> Iterator[MemorySigningKeyStore]:
        yield MemorySigningKeyStore()
