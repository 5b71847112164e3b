"""Versioned migrations: applied on open, once, each with its record, all or nothing;
a changed or unknown history is refused."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from adapters.storage.migrations import (
    Migration,
    SchemaMismatch,
    load,
    split_sqlite,
)
from adapters.storage.postgres import PostgresStore
from adapters.storage.sqlite import SqliteDatabase, SqliteStore
from tests.services import PgSchema

FIRST = Migration(1, "first", "CREATE TABLE first (id INTEGER PRIMARY KEY);")
SECOND = Migration(2, "second", "CREATE TABLE second (id INTEGER PRIMARY KEY);")
BROKEN = Migration(
    2, "broken", "CREATE TABLE half_done (id INTEGER PRIMARY KEY);\nCREATE TABLE oops (;"
)


def _sqlite_history(path: Path) -> list[tuple[int, str, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
        ).fetchall()
    finally:
        conn.close()


def _sqlite_tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    finally:
        conn.close()


# --------------------------------------------------------------------------- the files


def test_every_backend_has_numbered_migrations() -> None:
    for backend in ("sqlite", "sqlite_replay", "postgres"):
        migrations = load(backend)
        assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    with pytest.raises(ValueError, match="unknown"):
        load("oracle")


def test_sqlite_scripts_split_into_whole_statements_triggers_included() -> None:
    script = """
-- a comment; with a semicolon
CREATE TABLE t (x);
CREATE TRIGGER t_guard BEFORE DELETE ON t
BEGIN
    SELECT RAISE(ABORT, 'no; never');
END;
"""
    statements = split_sqlite(script)
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    with pytest.raises(ValueError, match="incomplete"):
        split_sqlite("CREATE TABLE t (x)")


# --------------------------------------------------------------------------- SQLite


def test_sqlite_applies_and_records_every_migration_once(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    SqliteStore(path).close()
    history = _sqlite_history(path)
    expected = [(m.version, m.name, m.checksum) for m in load("sqlite")]
    assert history == expected
    SqliteStore(path).close()
    assert _sqlite_history(path) == expected
    assert {"users", "audit", "signing_keys"} <= _sqlite_tables(path)


def test_sqlite_upgrades_an_older_database(tmp_path: Path) -> None:
    path = tmp_path / "upgrade.db"
    SqliteDatabase(path, migrations=(FIRST,)).close()
    assert [row[0] for row in _sqlite_history(path)] == [1]
    SqliteDatabase(path, migrations=(FIRST, SECOND)).close()
    assert [row[0] for row in _sqlite_history(path)] == [1, 2]
    assert {"first", "second"} <= _sqlite_tables(path)


def test_a_failing_sqlite_migration_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    SqliteDatabase(path, migrations=(FIRST,)).close()
    with pytest.raises(sqlite3.OperationalError):
        SqliteDatabase(path, migrations=(FIRST, BROKEN))
    assert [row[0] for row in _sqlite_history(path)] == [1]
    assert "half_done" not in _sqlite_tables(path)


def test_sqlite_refuses_a_changed_or_newer_history(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    SqliteDatabase(path, migrations=(FIRST, SECOND)).close()
    edited = Migration(2, "second", SECOND.sql + "\n-- edited after release")
    with pytest.raises(SchemaMismatch, match="changed"):
        SqliteDatabase(path, migrations=(FIRST, edited))
    with pytest.raises(SchemaMismatch, match="newer"):
        SqliteDatabase(path, migrations=(FIRST,))


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def raw(pg_schema: PgSchema) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    conn = psycopg.connect(pg_schema.dsn, autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


def _pg_history(conn: psycopg.Connection[tuple[object, ...]], schema: str) -> list[object]:
    return [
        row[0]
        for row in conn.execute(
            sql.SQL("SELECT version FROM {}.schema_migrations ORDER BY version").format(
                sql.Identifier(schema)
            )
        ).fetchall()
    ]


def _pg_tables(conn: psycopg.Connection[tuple[object, ...]], schema: str) -> set[object]:
    return {
        row[0]
        for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
    }


def test_postgres_applies_records_and_upgrades(
    pg_schema: PgSchema, raw: psycopg.Connection[tuple[object, ...]]
) -> None:
    schema = pg_schema.schema
    PostgresStore(pg_schema.dsn, schema=schema, migrations=(FIRST,)).close()
    PostgresStore(pg_schema.dsn, schema=schema, migrations=(FIRST,)).close()
    assert _pg_history(raw, schema) == [1]
    PostgresStore(pg_schema.dsn, schema=schema, migrations=(FIRST, SECOND)).close()
    assert _pg_history(raw, schema) == [1, 2]
    assert {"first", "second", "schema_migrations"} <= _pg_tables(raw, schema)


def test_a_failing_postgres_migration_leaves_nothing_behind(
    pg_schema: PgSchema, raw: psycopg.Connection[tuple[object, ...]]
) -> None:
    schema = pg_schema.schema
    PostgresStore(pg_schema.dsn, schema=schema, migrations=(FIRST,)).close()
    with pytest.raises(psycopg.errors.SyntaxError):
        PostgresStore(pg_schema.dsn, schema=schema, migrations=(FIRST, BROKEN))
    assert _pg_history(raw, schema) == [1]
    assert "half_done" not in _pg_tables(raw, schema)


def test_postgres_refuses_a_changed_or_newer_history(pg_schema: PgSchema) -> None:
    schema = pg_schema.schema
    PostgresStore(pg_schema.dsn, schema=schema, migrations=(FIRST, SECOND)).close()
    edited = Migration(2, "second", SECOND.sql + "\n-- edited after release")
    with pytest.raises(SchemaMismatch, match="changed"):
        PostgresStore(pg_schema.dsn, schema=schema, migrations=(FIRST, edited))
    with pytest.raises(SchemaMismatch, match="newer"):
        PostgresStore(pg_schema.dsn, schema=schema, migrations=(FIRST,))


def test_concurrent_first_starts_migrate_once(
    pg_schema: PgSchema, raw: psycopg.Connection[tuple[object, ...]]
) -> None:
    def start(_: int) -> None:
        PostgresStore(pg_schema.dsn, schema=pg_schema.schema, pool_size=1).close()

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(start, range(6)))
    assert _pg_history(raw, pg_schema.schema) == [m.version for m in load("postgres")]
