"""Versioned migrations: applied on open, once, each with its record, all or nothing;
a changed or unknown history is refused. The username migration (0003, 0004) on a
database that already holds duplicates."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
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
from adapters.storage.migrations.steps import Rename, UserRow, plan_renames, username_keys
from adapters.storage.postgres import PostgresStore
from adapters.storage.sqlite import SqliteDatabase, SqliteStore
from adapters.testing.contracts import samples
from archive_core.errors import AlreadyExists
from archive_core.ids import OrgId, UserId
from archive_core.ports import UnitOfWorkFactory
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
        versions = [m.version for m in migrations]
        assert versions[0] == 1
        assert versions == sorted(set(versions))
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


# --------------------------------------------------------------------------- usernames (0003, 0004)

ORG = "or-dup-org"
OTHER_ORG = "or-other-org"
ARCHIVED_AT = "2026-01-01T12:00:00+00:00"
#: A database from before the username rule: (id, org, username, is_active, archived).
OLD_USERS = (
    ("us-b", ORG, "Alice@x.io", True, False),  # active, lowest id of the active: keeps
    ("us-a", ORG, "ALICE@x.io", False, False),  # deactivated: renamed despite its id
    ("us-c", ORG, "alice@X.IO", True, False),  # active, a later id: renamed
    ("us-d", ORG, "alice@x.io", False, True),  # archived: never renamed
    ("us-e", OTHER_ORG, "alice@x.io", True, False),  # another org: keeps
    ("us-f", ORG, "Straße", True, False),
    ("us-g", ORG, "STRASSE", True, False),  # the same name under casefold: renamed
    ("us-h", ORG, "evil\n\x1b[32mname", True, False),  # the migration renames, never rejects
)
RENAMED = {
    "us-a": "ALICE@x.io (us-a)",
    "us-c": "alice@X.IO (us-c)",
    "us-g": "STRASSE (us-g)",
}
_INSERT_OLD_USER = (
    "INSERT INTO users (id, org_id, username, kind, credential_uuid, is_active, archived_at,"
    " is_service_account, is_registered, version) VALUES (?, ?, ?, 'EndUser', ?, ?, ?, ?, ?, 1)"
)


def _old_user_rows() -> list[tuple[object, ...]]:
    return [
        (id, org, name, f"cr-{id}", active, ARCHIVED_AT if archived else None, False, True)
        for id, org, name, active, archived in OLD_USERS
    ]


def _assert_usernames_migrated(
    factory: UnitOfWorkFactory, renames: list[tuple[object, ...]], log: str
) -> None:
    """Every old user kept, the later duplicates renamed (one version later) and recorded,
    the rule in force from now on, and the renames named in a warning."""
    with factory() as uow:
        for id, _, name, _, _ in OLD_USERS:
            user = uow.users.get(UserId(id))
            assert user is not None
            assert user.username == RENAMED.get(id, name)
            assert user.version == (2 if id in RENAMED else 1)
    assert sorted(renames) == sorted(
        (id, ORG, name, RENAMED[id]) for id, _, name, _, _ in OLD_USERS if id in RENAMED
    )
    assert "3 users" in log and "us-a, us-c, us-g" in log
    org = OrgId(ORG)
    for taken in ("ALICE@X.IO", "alice@x.io (US-A)", "strasse"):
        with factory() as uow, pytest.raises(AlreadyExists):
            uow.users.add(samples.user(org, username=taken))
    with factory() as uow:
        keeper = uow.users.get(UserId("us-b"))
        assert keeper is not None
        uow.users.update(keeper.archived(samples.T0), expected_version=1)
        uow.users.add(samples.user(org, username="alice@x.io"))  # freed by the archive
        uow.commit()


def test_sqlite_username_migration_renames_later_duplicates_and_loses_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "old.db"
    SqliteDatabase(path, migrations=load("sqlite")[:2]).close()
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executemany(_INSERT_OLD_USER, _old_user_rows())
    with caplog.at_level(logging.WARNING, logger="archive_core.storage"):
        store = SqliteStore(path)
    with store:
        renames = store.database.query("SELECT * FROM username_renames")
        _assert_usernames_migrated(store, renames, caplog.text)
    assert [row[0] for row in _sqlite_history(path)] == [m.version for m in load("sqlite")]


def test_postgres_username_migration_renames_later_duplicates_and_loses_nothing(
    pg_schema: PgSchema,
    raw: psycopg.Connection[tuple[object, ...]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    schema = pg_schema.schema
    PostgresStore(pg_schema.dsn, schema=schema, migrations=load("postgres")[:2]).close()
    raw.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    with raw.cursor() as cursor:
        cursor.executemany(_INSERT_OLD_USER.replace("?", "%s"), _old_user_rows())
    with caplog.at_level(logging.WARNING, logger="archive_core.storage"):
        store = PostgresStore(pg_schema.dsn, schema=schema)
    with store:
        renames = raw.execute("SELECT * FROM username_renames").fetchall()
        _assert_usernames_migrated(store, renames, caplog.text)
    assert _pg_history(raw, schema) == [m.version for m in load("postgres")]


def test_a_renamed_duplicate_takes_a_number_when_its_new_name_is_held_too() -> None:
    rows = [
        UserRow("us-1", ORG, "bob", True, False),
        UserRow("us-2", ORG, "BOB", True, False),
        UserRow("us-3", ORG, "bob (us-2)", True, False),
        UserRow("us-4", ORG, "Bob (US-2) 2", False, True),  # archived: holds nothing
    ]
    assert plan_renames(rows) == [Rename("us-2", ORG, "BOB", "BOB (us-2) 2")]


class _RecordedStep:
    """A `StepConnection` that answers one read and records the writes."""

    def __init__(self, rows: list[tuple[object, ...]]) -> None:
        self._rows = rows
        self.writes: list[tuple[str, list[tuple[object, ...]]]] = []

    def rows(self, sql: str, params: Sequence[object] = (), /) -> list[tuple[object, ...]]:
        return self._rows

    def run_many(self, sql: str, params: Sequence[tuple[object, ...]], /) -> None:
        self.writes.append((sql, list(params)))


def test_the_rename_warning_names_twenty_users_and_counts_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = _RecordedStep([(f"us-{i:02d}", ORG, "same", True, False) for i in range(26)])
    with caplog.at_level(logging.WARNING, logger="archive_core.storage"):
        username_keys(db)
    [warning] = caplog.messages
    assert "25 users" in warning
    assert warning.endswith(", ".join(f"us-{i:02d}" for i in range(1, 21)) + " and 5 more")
    [renamed, keyed, recorded] = (params for _, params in db.writes)
    assert (len(renamed), len(keyed), len(recorded)) == (25, 1, 25)
