"""The external services storage tests use: PostgreSQL and Redis.

One place decides what happens when a service is unreachable: the test is skipped
with the reason, or fails when `ARCHIVE_CORE_REQUIRE_SERVICES=1` (CI). Each test gets
its own PostgreSQL schema or Redis key prefix, removed afterwards, so runs never
collide. The fixtures are imported by `tests/contracts/conftest.py` and
`tests/storage/conftest.py`.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator, Mapping
from typing import Final, NoReturn

import attrs
import pytest

from adapters.entrypoints.environment import SERVE_VARIABLES

PG_DSN_ENV: Final = "ARCHIVE_CORE_PG_DSN"
REDIS_URL_ENV: Final = "ARCHIVE_CORE_REDIS_URL"
REQUIRE_ENV: Final = "ARCHIVE_CORE_REQUIRE_SERVICES"
DEFAULT_PG_DSN: Final = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL: Final = "redis://127.0.0.1:6379/0"


def pg_dsn() -> str:
    """The PostgreSQL DSN tests use."""
    return os.environ.get(PG_DSN_ENV) or DEFAULT_PG_DSN


def redis_url() -> str:
    """The Redis URL tests use."""
    return os.environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL


def cli_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of an `archive-core` process a test starts: this one's, without
    the variables the CLI reads as its own settings, plus `extra`. `REDIS_URL_ENV` is
    both where the tests find Redis and `serve`'s `--redis`: inherited, every server a
    test starts would put its challenges and nonces in Redis when CI sets it."""
    own = set(SERVE_VARIABLES.values())
    kept = {name: value for name, value in os.environ.items() if name not in own}
    return {**kept, **(extra or {})}


def services_required() -> bool:
    """True when an unreachable service must fail the run instead of skipping."""
    return os.environ.get(REQUIRE_ENV) == "1"


def unavailable(service: str, env: str, problem: str) -> NoReturn:
    """Skip (or, when services are required, fail) for an unreachable service."""
    message = f"{service} is unreachable ({problem}); set {env} or start the service"
    if services_required():
        pytest.fail(f"{message} — {REQUIRE_ENV}=1 requires it", pytrace=False)
    pytest.skip(message)


@functools.cache
def _pg_problem(dsn: str) -> str | None:
    import psycopg

    try:
        psycopg.connect(dsn, connect_timeout=3).close()
    except psycopg.Error as exc:
        return type(exc).__name__
    return None


@functools.cache
def _redis_problem(url: str) -> str | None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        return type(exc).__name__
    return None


def require_postgres() -> str:
    """The DSN, after checking PostgreSQL answers (skip or fail otherwise)."""
    dsn = pg_dsn()
    problem = _pg_problem(dsn)
    if problem is not None:
        unavailable("PostgreSQL", PG_DSN_ENV, problem)
    return dsn


def require_redis() -> str:
    """The URL, after checking Redis answers (skip or fail otherwise)."""
    url = redis_url()
    problem = _redis_problem(url)
    if problem is not None:
        unavailable("Redis", REDIS_URL_ENV, problem)
    return url


def unique_name(prefix: str) -> str:
    """A name no other test run uses."""
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def drop_schema(dsn: str, schema: str) -> None:
    """Remove a test's schema and everything in it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def delete_prefix(url: str, prefix: str) -> None:
    """Remove a test's Redis keys."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        names = list(client.scan_iter(match=prefix + "*", count=1000))
        if names:
            client.delete(*names)
    finally:
        client.close()


@attrs.frozen
class PgSchema:
    """A test's own schema in the test database."""

    dsn: str
    schema: str

    @property
    def url(self) -> str:
        """The `open_storage` URL of this schema."""
        separator = "&" if "?" in self.dsn else "?"
        return f"{self.dsn}{separator}schema={self.schema}"


@attrs.frozen
class RedisPrefix:
    """A test's own key prefix in the test Redis."""

    url: str
    prefix: str

    @property
    def replay_url(self) -> str:
        """The `open_storage(replay_url=…)` URL of this prefix."""
        separator = "&" if "?" in self.url else "?"
        return f"{self.url}{separator}prefix={self.prefix}"


@pytest.fixture
def pg_schema() -> Iterator[PgSchema]:
    """A fresh PostgreSQL schema, dropped after the test."""
    dsn = require_postgres()
    schema = unique_name("t_")
    try:
        yield PgSchema(dsn=dsn, schema=schema)
    finally:
        drop_schema(dsn, schema)


@pytest.fixture
def redis_prefix() -> Iterator[RedisPrefix]:
    """A fresh Redis key prefix, its keys deleted after the test."""
    url = require_redis()
    prefix = unique_name("archive-core-test:") + ":"
    try:
        yield RedisPrefix(url=url, prefix=prefix)
    finally:
        delete_prefix(url, prefix)
