"""The SQLite adapter against every contract suite (a file per test, FULL durability)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import pytest

from adapters.storage.sqlite import (
    SqliteChallengeStore,
    SqliteReplayGuard,
    SqliteReplayStore,
    SqliteSigningKeyStore,
    SqliteStore,
)
from adapters.testing.contracts import (
    ChallengeStoreContract,
    ReplayGuardContract,
    SigningKeyStoreContract,
    UnitOfWorkContract,
)
from archive_core.ports import ChallengeStore, ReplayGuard, UnitOfWorkFactory

PURGE_EVERY = 50


def _folder(request: pytest.FixtureRequest) -> Path:
    return cast(Path, request.getfixturevalue("tmp_path"))


class TestSqliteUnitOfWork(UnitOfWorkContract):
    serialised = True
    purge_every = PURGE_EVERY

    @contextmanager
    def open(self, request: pytest.FixtureRequest) -> Iterator[SqliteStore]:
        with SqliteStore(_folder(request) / "store.db", purge_every=PURGE_EVERY) as store:
            yield store

    def stored_user_actions(self, factory: UnitOfWorkFactory) -> int:
        return cast(SqliteStore, factory).row_counts()["user_actions"]


class TestSqliteChallengeStore(ChallengeStoreContract):
    purge_every = PURGE_EVERY

    @contextmanager
    def open(self, request: pytest.FixtureRequest) -> Iterator[SqliteChallengeStore]:
        with SqliteReplayStore(_folder(request) / "replay.db", purge_every=PURGE_EVERY) as store:
            yield store.challenges

    def stored(self, store: ChallengeStore) -> int:
        return cast(SqliteChallengeStore, store).count()


class TestSqliteReplayGuard(ReplayGuardContract):
    purge_every = PURGE_EVERY

    @contextmanager
    def open(self, request: pytest.FixtureRequest) -> Iterator[SqliteReplayGuard]:
        with SqliteReplayStore(_folder(request) / "replay.db", purge_every=PURGE_EVERY) as store:
            yield store.replay_guard

    def stored(self, guard: ReplayGuard) -> int:
        return cast(SqliteReplayGuard, guard).count()


class TestSqliteSigningKeyStore(SigningKeyStoreContract):
    @contextmanager
    def open(self, request: pytest.FixtureRequest) -> Iterator[SqliteSigningKeyStore]:
        with SqliteStore(_folder(request) / "store.db") as store:
            yield store.signing_keys
