"""Fixtures of the adapter tests: a PostgreSQL schema or Redis prefix per test."""

from tests.services import pg_schema, redis_prefix

__all__ = ["pg_schema", "redis_prefix"]
