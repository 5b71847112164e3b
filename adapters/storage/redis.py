"""Redis replay store: request nonces and open challenges shared by every instance.

The user action token's single use stays in the transactional store (atomic with
the archive and its audit record); what lives here are the two replay checks that
happen before it and that a multi-instance deployment must share.

- **Nonces** (`RedisReplayGuard`): `SET key <expiry> NX PX <ttl>`: one round trip,
  and Redis guarantees exactly one `SET NX` wins. A key is remembered through its
  expiry; the value is that expiry by the clock port. When `SET NX` finds the key, a
  small script replaces it only if that expiry has passed by the clock port's `now`
  (the core's clock decides, not the Redis server's; in production the two agree
  and the script answers "replay").
- **Challenges** (`RedisChallengeStore`): `SET key <json> PX <ttl>`; `take` is a Lua
  script that deletes and returns the value only when it belongs to the caller. A
  plain `GETDEL` would burn another user's challenge; the script neither returns
  nor burns it. An expired challenge (by the clock port) is burnt and not returned.
- **Retention** is Redis's own: every key is written with a relative TTL (the entry's
  lifetime by the clock port), so Redis forgets it when it could no longer pass.
  `purge` is therefore a no-op that returns 0.
- **Keys** are `<prefix>challenge:<key>` and `<prefix>replay:<key>`; the prefix
  (default `archive-core:`) lets deployments and tests share one Redis.
- **Errors**: connection failures, time-outs, a read-only replica, out of memory,
  a key of the wrong type (someone else's data under our prefix) →
  `StorageUnavailable`.

Nothing happens at import time; the client connects on first use (`open_redis`
pings once so that a bad URL fails at start-up).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, Final, NoReturn

import redis
from redis.commands.core import Script

from adapters.storage.codec import challenge_from_json, challenge_to_json, micros
from archive_core.entities import Challenge
from archive_core.errors import StorageUnavailable
from archive_core.ids import UserId

__all__ = [
    "DEFAULT_PREFIX",
    "RedisChallengeStore",
    "RedisReplayGuard",
    "open_redis",
    "translate_error",
]

DEFAULT_PREFIX: Final = "archive-core:"

# KEYS[1] = the challenge key; ARGV[1] = the caller's user id.
_TAKE: Final = """
local value = redis.call('GET', KEYS[1])
if not value then return false end
if cjson.decode(value)['userId'] ~= ARGV[1] then return false end
redis.call('DEL', KEYS[1])
return value
"""

# KEYS[1] = the nonce key; ARGV = expiry (µs), now (µs), ttl (ms; 0 when already expired).
_REPLACE_EXPIRED: Final = """
local stored = redis.call('GET', KEYS[1])
if stored and tonumber(stored) >= tonumber(ARGV[2]) then return 0 end
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
else
  redis.call('DEL', KEYS[1])
end
return 1
"""


def translate_error(exc: redis.RedisError) -> StorageUnavailable:
    """Every Redis error means the replay store cannot answer now."""
    return StorageUnavailable(
        f"redis: {type(exc).__name__}", store="redis", driver_error=type(exc).__name__
    )


def _fail(exc: redis.RedisError) -> NoReturn:
    raise translate_error(exc) from exc


def _ttl_ms(lifetime: timedelta) -> int:
    """A relative TTL in whole milliseconds, rounded up (never forget early)."""
    return math.ceil(lifetime / timedelta(milliseconds=1))


def open_redis(url: str, *, timeout: float = 5.0) -> redis.Redis:
    """A client for `redis://…` / `rediss://…` / `unix://…`, checked with one PING."""
    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        client.ping()
    except redis.RedisError as exc:
        _fail(exc)
    return client


class RedisChallengeStore:
    """Open challenges; `take` is atomic and owner-only (a Lua script)."""

    def __init__(self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = client
        self._prefix = prefix + "challenge:"
        self._take: Script = client.register_script(_TAKE)

    def put(self, challenge: Challenge) -> None:
        """Store an open challenge for its lifetime (Redis forgets it then)."""
        ttl = max(1, _ttl_ms(challenge.expires_at - challenge.issued_at))
        try:
            self._client.set(self._prefix + challenge.key, challenge_to_json(challenge), px=ttl)
        except redis.RedisError as exc:
            _fail(exc)

    def take(self, key: str, *, user_id: UserId, now: datetime) -> Challenge | None:
        """Remove and return the caller's unexpired challenge; a foreign caller neither
        sees nor burns it; an expired one is burnt and not returned."""
        try:
            value: Any = self._take(keys=[self._prefix + key], args=[user_id])
        except redis.RedisError as exc:
            _fail(exc)
        if value is None:
            return None
        challenge = challenge_from_json(value)
        return challenge if now < challenge.expires_at else None

    def purge(self, *, now: datetime) -> int:
        """A no-op: every challenge carries a TTL and Redis expires it. Returns 0."""
        return 0

    def count(self) -> int:
        """How many keys are stored now (a SCAN: for tests and monitoring)."""
        return _count(self._client, self._prefix)


class RedisReplayGuard:
    """Request nonces, first use only: `SET NX PX`, exactly one winner."""

    def __init__(self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = client
        self._prefix = prefix + "replay:"
        self._replace: Script = client.register_script(_REPLACE_EXPIRED)

    def first_use(self, key: str, *, expires_at: datetime, now: datetime) -> bool:
        """Record `key` through `expires_at`; True only for its first use while remembered."""
        name = self._prefix + key
        expiry = micros(expires_at)
        # Remembered through `expires_at` inclusive: one millisecond more than the gap.
        ttl = _ttl_ms(expires_at - now) + 1 if expires_at >= now else 0
        try:
            if ttl > 0 and self._client.set(name, expiry, nx=True, px=ttl):
                return True
            return bool(self._replace(keys=[name], args=[expiry, micros(now), ttl]))
        except redis.RedisError as exc:
            _fail(exc)

    def purge(self, *, now: datetime) -> int:
        """A no-op: every nonce carries a TTL and Redis expires it. Returns 0."""
        return 0

    def count(self) -> int:
        """How many keys are stored now (a SCAN: for tests and monitoring)."""
        return _count(self._client, self._prefix)


def _count(client: redis.Redis, prefix: str) -> int:
    """Keys under a prefix (a SCAN: for tests and monitoring, not for hot paths)."""
    try:
        return sum(1 for _ in client.scan_iter(match=_glob_escape(prefix) + "*", count=1000))
    except redis.RedisError as exc:
        _fail(exc)


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
