"""`open_storage`: from a path or URL to the storage ports, options stripped before the
driver sees them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters.storage.memory import MemoryChallengeStore, MemoryStore
from adapters.storage.postgres import PostgresReplayGuard, PostgresStore
from adapters.storage.redis import RedisChallengeStore, RedisReplayGuard
from adapters.storage.sqlite import SqliteReplayGuard, SqliteSigningKeyStore, SqliteStore
from adapters.storage.urls import open_storage
from archive_core.errors import StorageUnavailable
from tests.services import PgSchema, RedisPrefix


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
