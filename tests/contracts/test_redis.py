"""The Redis adapter against the ChallengeStore and ReplayGuard suites (a prefix per test)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import pytest

from adapters.storage.redis import RedisChallengeStore, RedisReplayGuard, open_redis
from archive_core.ports import ChallengeStore, ReplayGuard
from tests.contracts.challenge_store import ChallengeStoreContract
from tests.contracts.replay_guard import ReplayGuardContract
from tests.services import RedisPrefix


def _place(request: pytest.FixtureRequest) -> RedisPrefix:
    return cast(RedisPrefix, request.getfixturevalue("redis_prefix"))


class TestRedisChallengeStore(ChallengeStoreContract):
    purge_every = None

    @contextmanager
    def open(self, request: pytest.FixtureRequest) -> Iterator[RedisChallengeStore]:
        place = _place(request)
        client = open_redis(place.url)
        try:
            yield RedisChallengeStore(client, prefix=place.prefix)
        finally:
            client.close()

    def stored(self, store: ChallengeStore) -> int:
        return cast(RedisChallengeStore, store).count()


class TestRedisReplayGuard(ReplayGuardContract):
    purge_every = None

    @contextmanager
    def open(self, request: pytest.FixtureRequest) -> Iterator[RedisReplayGuard]:
        place = _place(request)
        client = open_redis(place.url)
        try:
            yield RedisReplayGuard(client, prefix=place.prefix)
        finally:
            client.close()

    def stored(self, guard: ReplayGuard) -> int:
        return cast(RedisReplayGuard, guard).count()
