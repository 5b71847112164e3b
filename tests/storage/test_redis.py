"""What only the Redis replay store promises: every key expires by itself (retention),
prefixes isolate deployments, and every Redis error is StorageUnavailable."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from adapters.storage.redis import RedisChallengeStore, RedisReplayGuard, open_redis
from adapters.testing.contracts import samples
from adapters.testing.contracts.samples import T0
from archive_core.errors import StorageUnavailable
from archive_core.ids import UserId
from tests.services import RedisPrefix

OWNER = UserId("us-owner-test")
CLOSED_PORT = "redis://127.0.0.1:1/0"


@pytest.fixture
def client(redis_prefix: RedisPrefix) -> Iterator[redis.Redis]:
    opened = open_redis(redis_prefix.url)
    try:
        yield opened
    finally:
        opened.close()


def test_every_key_expires_by_itself_after_its_lifetime(
    client: redis.Redis, redis_prefix: RedisPrefix
) -> None:
    """Retention without purge: each key carries a TTL no longer than the entry's
    lifetime (+1 ms), so under steady load Redis holds at most (rate times lifetime) keys."""
    challenges = RedisChallengeStore(client, prefix=redis_prefix.prefix)
    guard = RedisReplayGuard(client, prefix=redis_prefix.prefix)
    lifetimes = [timedelta(seconds=s) for s in (1, 60, 300)]
    for lifetime in lifetimes:
        challenges.put(samples.challenge(OWNER, ttl=lifetime))
        assert guard.first_use(f"nonce:{lifetime}", expires_at=T0 + lifetime, now=T0)
    names = list(client.scan_iter(match=redis_prefix.prefix + "*"))
    assert len(names) == 2 * len(lifetimes)
    longest = max(lifetimes) / timedelta(milliseconds=1) + 1
    for name in names:
        ttl = client.pttl(name)
        assert 0 < ttl <= longest


def test_prefixes_keep_deployments_apart(client: redis.Redis, redis_prefix: RedisPrefix) -> None:
    mine = RedisReplayGuard(client, prefix=redis_prefix.prefix + "a:")
    theirs = RedisReplayGuard(client, prefix=redis_prefix.prefix + "b:")
    assert mine.first_use("nonce:same", expires_at=T0 + timedelta(minutes=5), now=T0)
    assert theirs.first_use("nonce:same", expires_at=T0 + timedelta(minutes=5), now=T0)
    assert mine.count() == theirs.count() == 1


def test_an_unreachable_server_is_unavailable() -> None:
    with pytest.raises(StorageUnavailable, match="ConnectionError") as caught:
        open_redis(CLOSED_PORT, timeout=1)
    assert (caught.value.store, caught.value.driver_error) == ("redis", "ConnectionError")
    offline = redis.Redis.from_url(CLOSED_PORT, socket_connect_timeout=1)
    challenges = RedisChallengeStore(offline)
    guard = RedisReplayGuard(offline)
    with pytest.raises(StorageUnavailable):
        challenges.put(samples.challenge(OWNER))
    with pytest.raises(StorageUnavailable):
        challenges.take("0" * 64, user_id=OWNER, now=T0)
    with pytest.raises(StorageUnavailable):
        guard.first_use("nonce:x", expires_at=T0 + timedelta(minutes=5), now=T0)


def test_foreign_data_under_the_prefix_is_unavailable_not_a_crash(
    client: redis.Redis, redis_prefix: RedisPrefix
) -> None:
    challenges = RedisChallengeStore(client, prefix=redis_prefix.prefix)
    guard = RedisReplayGuard(client, prefix=redis_prefix.prefix)
    client.rpush(redis_prefix.prefix + "challenge:" + "0" * 64, "someone else's list")
    client.rpush(redis_prefix.prefix + "replay:nonce:x", "someone else's list")
    with pytest.raises(StorageUnavailable, match="ResponseError"):
        challenges.take("0" * 64, user_id=OWNER, now=T0)
    with pytest.raises(StorageUnavailable, match="ResponseError"):
        # SET NX finds the key; the script's GET then meets the wrong type
        guard.first_use("nonce:x", expires_at=T0 + timedelta(minutes=5), now=T0)
