"""The PostgreSQL adapter against every contract suite (a schema per test)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import pytest

from adapters.storage.postgres import PostgresChallengeStore, PostgresReplayGuard, PostgresStore
from adapters.testing.contracts import (
    ChallengeStoreContract,
    ReplayGuardContract,
    SigningKeyStoreContract,
    UnitOfWorkContract,
)
from archive_core.ports import ChallengeStore, ReplayGuard, SigningKeyStore, UnitOfWorkFactory
from tests.services import PgSchema

PURGE_EVERY = 50


@contextmanager
def _store(request: pytest.FixtureRequest) -> Iterator[PostgresStore]:
    place = cast(PgSchema, request.getfixturevalue("pg_schema"))
    with PostgresStore(place.dsn, schema=place.schema, purge_every=PURGE_EVERY) as store:
        yield store


class TestPostgresUnitOfWork(UnitOfWorkContract):
    serialised = False
    purge_every = PURGE_EVERY

    @contextmanager
    def open(self, request: pytest.FixtureRequest) -> Iterator[PostgresStore]:
        with _store(request) as store:
            yield store

    def stored_user_actions(self, factory: UnitOfWorkFactory) -> int:
        return cast(PostgresStore, factory).row_counts()["user_actions"]


class TestPostgresChallengeStore(ChallengeStoreContract):
    purge_every = PURGE_EVERY

    @contextmanager
    def open(self, request: pytest.FixtureRequest) -> Iterator[ChallengeStore]:
        with _store(request) as store:
            yield store.challenges

    def stored(self, store: ChallengeStore) -> int:
        return cast(PostgresChallengeStore, store).count()


class TestPostgresReplayGuard(ReplayGuardContract):
    purge_every = PURGE_EVERY

    @contextmanager
    def open(self, request: pytest.FixtureRequest) -> Iterator[ReplayGuard]:
        with _store(request) as store:
            yield store.replay_guard

    def stored(self, guard: ReplayGuard) -> int:
        return cast(PostgresReplayGuard, guard).count()


class TestPostgresSigningKeyStore(SigningKeyStoreContract):
    @contextmanager
    def open(self, request: pytest.FixtureRequest) -> Iterator[SigningKeyStore]:
        with _store(request) as store:
            yield store.signing_keys
