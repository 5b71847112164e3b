"""`open_storage`: from a path, URL or libpq keyword string to the storage ports, options
stripped before the driver sees them, numbers in ASCII digits, passwords never shown."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from adapters.storage.memory import MemoryChallengeStore, MemoryStore
from adapters.storage.postgres import PostgresReplayGuard, PostgresStore
from adapters.storage.redis import RedisChallengeStore, RedisReplayGuard
from adapters.storage.sqlite import SqliteReplayGuard, SqliteSigningKeyStore, SqliteStore
from adapters.storage.urls import StorageStartError, _opening, database_kind, open_storage
from archive_core.errors import StorageUnavailable
from tests.services import PgSchema, RedisPrefix


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_plain_path_is_a_sqlite_file_with_its_replay_file_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    with open_storage(path) as storage:
        assert isinstance(storage.uow_factory, SqliteStore)
        assert isinstance(storage.replay_guard, SqliteReplayGuard)
        assert isinstance(storage.signing_keys, SqliteSigningKeyStore)
    assert path.exists()
    assert Path(f"{path}-replay").exists()


def test_sqlite_urls_follow_the_three_and_four_slash_convention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_storage("sqlite:///relative.db") as storage:
        assert isinstance(storage.uow_factory, SqliteStore)
    assert (tmp_path / "relative.db").exists()
    absolute = tmp_path / "sub" / "absolute.db"
    absolute.parent.mkdir()
    with open_storage(f"sqlite:///{absolute}") as storage:
        assert isinstance(storage.uow_factory, SqliteStore)
        assert storage.uow_factory.path == str(absolute)
    assert absolute.exists()


def test_sqlite_options_reach_the_adapter(tmp_path: Path) -> None:
    replay = tmp_path / "elsewhere" / "replay.db"
    replay.parent.mkdir()
    url = f"sqlite:///{tmp_path}/opts.db?synchronous=NORMAL&busy_timeout=1.5&replay={replay}"
    with open_storage(url) as storage:
        store = storage.uow_factory
        assert isinstance(store, SqliteStore)
        assert store.database.synchronous == "NORMAL"
        assert store.database.busy_timeout == 1.5
    assert replay.exists()
    assert not Path(f"{tmp_path}/opts.db-replay").exists()


def test_bad_urls_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="scheme"):
        open_storage("mysql://db/app")
    with pytest.raises(ValueError, match="no host"):
        open_storage("sqlite://host/file.db")
    with pytest.raises(ValueError, match="file path"):
        open_storage("sqlite://")
    with pytest.raises(ValueError, match="scheme"):
        open_storage(tmp_path / "x.db", replay_url="memcached://cache")


def test_memory_is_for_tests_and_demos() -> None:
    with open_storage("memory:") as storage:
        assert isinstance(storage.uow_factory, MemoryStore)
        assert isinstance(storage.challenges, MemoryChallengeStore)


def test_postgresql_urls_name_a_schema_and_strip_our_options(
    pg_schema: PgSchema, redis_prefix: RedisPrefix
) -> None:
    url = f"{pg_schema.url}&pool_size=2&timeout=5&purge_every=10"
    with open_storage(url) as storage:
        store = storage.uow_factory
        assert isinstance(store, PostgresStore)
        assert store.schema == pg_schema.schema
        assert store.purge_every == 10
        assert isinstance(storage.replay_guard, PostgresReplayGuard)
    alias = pg_schema.url.replace("postgresql://", "postgres://", 1)
    with open_storage(alias, replay_url=redis_prefix.replay_url) as storage:
        assert isinstance(storage.uow_factory, PostgresStore)
        assert isinstance(storage.challenges, RedisChallengeStore)
        assert isinstance(storage.replay_guard, RedisReplayGuard)


def test_challenges_and_nonces_can_move_to_redis_or_to_a_file(
    tmp_path: Path, redis_prefix: RedisPrefix
) -> None:
    with open_storage(tmp_path / "a.db", replay_url=redis_prefix.replay_url) as storage:
        assert isinstance(storage.challenges, RedisChallengeStore)
    assert not Path(f"{tmp_path}/a.db-replay").exists()
    with open_storage("memory:", replay_url=str(tmp_path / "replay.db")) as storage:
        assert isinstance(storage.uow_factory, MemoryStore)
        assert isinstance(storage.replay_guard, SqliteReplayGuard)


def test_close_is_idempotent_and_a_failed_open_closes_what_it_opened(tmp_path: Path) -> None:
    storage = open_storage(tmp_path / "c.db")
    storage.close()
    storage.close()
    blocker = tmp_path / "blocked-replay"
    blocker.mkdir()  # a folder where the replay file should be
    with pytest.raises(
        StorageUnavailable, match=r"cannot open SQLite at .*blocked-replay: "
    ) as caught:
        open_storage(tmp_path / "d.db", replay_url=str(blocker))
    assert caught.value.driver_error == "OperationalError"
    assert "CANTOPEN" in str(caught.value.__cause__)
    assert os.path.exists(tmp_path / "d.db")


def test_a_libpq_keyword_string_is_postgresql_with_our_options_as_keywords(
    pg_schema: PgSchema, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where a SQLite file named after the string would appear
    parts = urlsplit(pg_schema.dsn)
    keywords = (
        f"host={parts.hostname} port={parts.port or 5432} user='{parts.username}' "
        f"dbname={parts.path.lstrip('/')} schema={pg_schema.schema} pool_size=2 "
        "application_name=keyword-test"
    )
    assert database_kind(keywords) == "postgresql"
    with open_storage(keywords) as storage:
        store = storage.uow_factory
        assert isinstance(store, PostgresStore)
        assert store.schema == pg_schema.schema
        with store.pool.connection() as conn:
            name = conn.execute("SELECT current_setting('application_name')").fetchone()
        assert name == ("keyword-test",)
    assert list(tmp_path.iterdir()) == []


def test_a_multi_host_url_reaches_the_driver_unchanged(pg_schema: PgSchema) -> None:
    parts = urlsplit(pg_schema.dsn)
    down = _closed_port()  # the first host refuses: libpq moves on to the second
    hosts = f"127.0.0.1:{down},{parts.hostname}:{parts.port or 5432}"
    url = (
        f"postgresql://{parts.username}@{hosts}{parts.path}"
        f"?target_session_attrs=any&schema={pg_schema.schema}"
    )
    with open_storage(url) as storage:
        assert isinstance(storage.uow_factory, PostgresStore)
        assert storage.uow_factory.schema == pg_schema.schema


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///a.db?purge_every=٣", "the URL option purge_every must be a whole number"),
        ("sqlite:///a.db?busy_timeout=nan", "the URL option busy_timeout must be a number"),
        ("sqlite:///a.db?busy_timeout=1e3", "the URL option busy_timeout must be a number"),
        ("postgresql://u@h/d?pool_size=1_0", "the URL option pool_size must be a whole number"),
        ("postgresql://u@h/d?pool_size=0", "the URL option pool_size must be a whole number"),
        ("postgresql://u@h/d?timeout=inf", "the URL option timeout must be a number"),
        ("host=h purge_every=+1", "the URL option purge_every must be a whole number"),
    ],
)
def test_numeric_options_take_ascii_digits_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=message):
        open_storage(url)
    assert list(tmp_path.iterdir()) == []


def test_database_kind() -> None:
    assert database_kind("postgres://u@h/d") == "postgresql"
    assert database_kind("dbname=d") == "postgresql"
    assert database_kind("memory:") == "memory"
    assert database_kind("./dbname=d.db") == "sqlite"
    with pytest.raises(ValueError, match="scheme 'mysql'"):
        database_kind("mysql://h/d")


def test_a_driver_message_never_shows_a_password() -> None:
    failure = StorageUnavailable("postgres", store="postgresql", driver_error="X")
    failure.__cause__ = RuntimeError('invalid value: "S3cr3t%21" (S3cr3t!)')
    with (
        pytest.raises(StorageStartError) as caught,
        _opening("PostgreSQL", "u@h:5432/d", secrets=("S3cr3t%21", "S3cr3t!")),
    ):
        raise failure
    assert str(caught.value) == 'cannot reach PostgreSQL at u@h:5432/d: invalid value: "***" (***)'
