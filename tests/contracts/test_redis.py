"""The Redis adapter against the ChallengeStore and ReplayGuard suites (a prefix per test)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import cast

import pytest
import redis

from adapters.storage.redis import RedisChallengeStore, RedisReplayGuard, open_redis
from adapters.testing.contracts import ChallengeStoreContract, ReplayGuardContract
from archive_core.ports import ChallengeStore, ReplayGuard
from tests.services import RedisPrefix


def _place(request: pytest.FixtureRequest) -> RedisPrefix:
    return cast(RedisPrefix, request.getfixturevalue("redis_prefix"))


def _every_key_expires_within(client: redis.Redis, prefix: str, lifetime: timedelta) -> bool:
    limit = lifetime / timedelta(milliseconds=1) + 1
    ttls = [client.pttl(name) for name in client.scan_iter(match=prefix + "*")]
    return bool(ttls) and all(0 < ttl <= limit for ttl in ttls)


class TestRedisChallengeStore(ChallengeStoreContract):
    expires_by_itself = True

    @contextmanager
    def open(self, request: pytest.FixtureRequest) -> Iterator[RedisChallengeStore]:
        place = _place(request)
        client = open_redis(place.url)
        self.client, self.prefix = client, place.prefix
        try:
            yield RedisChallengeStore(client, prefix=place.prefix)
        finally:
            client.close()

    def stored(self, store: ChallengeStore) -> int:
        return cast(RedisChallengeStore, store).count()

    def forgotten_within(self, store: ChallengeStore, lifetime: timedelta) -> bool:
        return _every_key_expires_within(self.client, self.prefix, lifetime)


class TestRedisReplayGuard(ReplayGuardContract):
    expires_by_itself = True

    @contextmanager
    def open(self, request: pytest.FixtureRequest) -> Iterator[RedisReplayGuard]:
        place = _place(request)
        client = open_redis(place.url)
        self.client, self.prefix = client, place.prefix
        try:
            yield RedisReplayGuard(client, prefix=place.prefix)
        finally:
            client.close()

    def stored(self, guard: ReplayGuard) -> int:
        return cast(RedisReplayGuard, guard).count()

    def forgotten_within(self, guard: ReplayGuard, lifetime: timedelta) -> bool:
        return _every_key_expires_within(self.client, self.prefix, lifetime)
