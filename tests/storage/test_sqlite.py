"""What only the SQLite adapter promises: its pragmas, its lock, its durability, its file,
its error translation, and index-only reads on the archive path."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import stat
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import pytest

from adapters.storage.sqlite import SqliteReplayStore, SqliteStore, translate_error
from adapters.testing.contracts import samples
from adapters.testing.contracts.samples import T0
from adapters.testing.world import ARCHIVE_OPS, World
from archive_core.errors import StorageUnavailable
from archive_core.ids import UserId
from archive_core.use_cases import ARCHIVE_USER


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    with SqliteStore(tmp_path / "store.db") as opened:
        yield opened


def _pragma(store: SqliteStore, name: str) -> Any:
    conn = store.database.acquire()
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        store.database.release(conn)


# --------------------------------------------------------------------------- pragmas, lock


def test_connections_use_wal_foreign_keys_a_busy_timeout_and_full_sync(
    store: SqliteStore,
) -> None:
    assert _pragma(store, "journal_mode") == "wal"
    assert _pragma(store, "foreign_keys") == 1
    assert _pragma(store, "busy_timeout") == 5000
    assert _pragma(store, "synchronous") == 2  # FULL


def test_normal_sync_can_be_chosen_and_off_cannot(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "normal.db", synchronous="normal") as normal:
        assert _pragma(normal, "synchronous") == 1
    with pytest.raises(ValueError, match="synchronous"):
        SqliteStore(tmp_path / "off.db", synchronous="OFF")


def test_an_in_memory_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file path"):
        SqliteStore(":memory:")


def test_a_unit_of_work_holds_the_write_lock_from_entry_to_exit(store: SqliteStore) -> None:
    other = sqlite3.connect(store.path, timeout=0, isolation_level=None)
    try:
        with store(), pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_repositories_refuse_work_outside_their_unit_of_work(store: SqliteStore) -> None:
    with store() as uow:
        users = uow.users
        assert users.get(UserId("us-x")) is None
        other_thread = ThreadPoolExecutor(1)
        with pytest.raises(RuntimeError, match="outside"):
            other_thread.submit(users.get, UserId("us-x")).result()
        other_thread.shutdown()
    with pytest.raises(RuntimeError, match="outside"):
        users.get(UserId("us-x"))
    with pytest.raises(RuntimeError, match="outside"):
        uow.commit()


def test_the_file_is_readable_by_its_owner_only(store: SqliteStore) -> None:
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600


def test_burning_a_nonce_inside_a_unit_of_work_neither_waits_nor_rolls_back(
    tmp_path: Path, store: SqliteStore
) -> None:
    with SqliteReplayStore(tmp_path / "store.db-replay", busy_timeout=0) as replay:
        with store() as uow:
            uow.users.add(samples.user(samples.org_id()))
            # the unit holds the main file's write lock; the replay file is another file
            assert replay.replay_guard.first_use("nonce:x", expires_at=T0, now=T0)
            opened = samples.challenge(UserId("us-owner"))
            replay.challenges.put(opened)
            assert replay.challenges.take(opened.key, user_id=opened.user_id, now=T0) == opened
        assert not replay.replay_guard.first_use("nonce:x", expires_at=T0, now=T0)


# --------------------------------------------------------------------------- durability


def _commit_then_wait(path: str, user_id: str, done: Any) -> None:
    store = SqliteStore(path)
    org = samples.org_id()
    with store() as uow:
        uow.users.add(samples.user(org, id=UserId(user_id)))
        uow.commit()
    done.set()
    signal.pause()  # killed here, without closing anything


def test_a_commit_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "durable.db"
    written = samples.user(samples.org_id())
    with SqliteStore(path) as store, store() as uow:
        uow.users.add(written)
        uow.commit()
    with SqliteStore(path) as reopened, reopened() as uow:
        assert uow.users.get(written.id) == written


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_commit_survives_the_process_being_killed_right_after(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    SqliteStore(path).close()  # created and migrated
    context = multiprocessing.get_context("spawn")
    done = context.Event()
    child = context.Process(target=_commit_then_wait, args=(str(path), "us-durable-test", done))
    child.start()
    try:
        assert done.wait(timeout=120)
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.join(timeout=30)
    with SqliteStore(path) as reopened, reopened() as uow:
        assert uow.users.get(UserId("us-durable-test")) is not None


# --------------------------------------------------------------------------- errors


def test_a_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database file, not at all" * 100)
    with pytest.raises(StorageUnavailable, match="NOTADB") as caught:
        SqliteStore(path)
    assert (caught.value.store, caught.value.driver_error) == ("sqlite", "DatabaseError")


def test_a_path_in_a_missing_folder_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StorageUnavailable) as caught:
        SqliteStore(tmp_path / "missing" / "store.db")
    assert caught.value.store == "sqlite"


def test_a_file_busy_past_the_timeout_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    with SqliteStore(path, busy_timeout=0.05) as store:
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            with pytest.raises(StorageUnavailable, match="BUSY"), store():
                pass
        finally:
            holder.close()
        with store() as uow:  # and it serves again once the lock is gone
            assert uow.users.get(UserId("us-x")) is None


def test_a_full_disk_is_unavailable_and_rolls_back(store: SqliteStore) -> None:
    conn = store.database.acquire()
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.execute(f"PRAGMA max_page_count = {pages}")
    store.database.release(conn)  # the next unit of work gets this very connection
    org = samples.org_id()

    def fill() -> None:
        with store() as uow:
            for _ in range(200):
                uow.users.add(samples.user(org, username="x" * 2000))

    with pytest.raises(StorageUnavailable, match="FULL"):
        fill()
    assert store.row_counts()["users"] == 0


def test_a_closed_store_is_unavailable(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "closed.db")
    store.close()
    with pytest.raises(StorageUnavailable, match="closed"), store():
        pass


def test_sql_and_programming_errors_surface_unchanged() -> None:
    conn = sqlite3.connect(":memory:")
    with pytest.raises(sqlite3.OperationalError) as syntax:
        conn.execute("SELEC 1")
    conn.close()
    with pytest.raises(sqlite3.ProgrammingError) as closed:
        conn.execute("SELECT 1")
    assert translate_error(syntax.value) is syntax.value
    assert translate_error(closed.value) is closed.value


def test_the_audit_log_is_append_only(store: SqliteStore) -> None:
    org = samples.org_id()
    with store() as uow:
        uow.audit.append(samples.audit_record(org, None))
        uow.commit()
    raw = sqlite3.connect(store.path, isolation_level=None)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("UPDATE audit SET record = '{}'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("DELETE FROM audit")
    finally:
        raw.close()


# --------------------------------------------------------------------------- the archive path


_ALLOWED_PLAN_STEPS = (
    "SEARCH ",
    "SCAN CONSTANT ROW",
    "SCAN json_each VIRTUAL TABLE",
    "SCALAR SUBQUERY",
    "CORRELATED SCALAR SUBQUERY",
    "LIST SUBQUERY",
    "USE TEMP B-TREE FOR count(DISTINCT)",
)


def test_every_read_of_an_archive_is_an_index_search(tmp_path: Path) -> None:
    """The statements one archive runs (the lock-out guard's query included) read
    through indexes only — so their cost does not grow with the number of users."""
    store = SqliteStore(tmp_path / "plan.db")
    replay = SqliteReplayStore(tmp_path / "plan.db-replay")
    world = World(uow_factory=store, challenges=replay.challenges, replay_guard=replay.replay_guard)
    org = world.new_org()
    caller = world.actor(org, operations=ARCHIVE_OPS)
    world.actor(org, full_admin=True)
    target = world.actor(org, operations=ARCHIVE_OPS)
    request = world.archive_request(caller, target.id)
    statements: list[str] = []
    store.set_trace(statements.append)
    world.call(ARCHIVE_USER, request, target.id)
    store.set_trace(None)
    conn = store.database.acquire()
    try:
        kinds = set()
        for statement in statements:
            if statement.split()[0].upper() in ("BEGIN", "COMMIT", "ROLLBACK"):
                continue
            kinds.add(statement.split()[0].upper())
            for step in conn.execute("EXPLAIN QUERY PLAN " + statement):
                detail: str = step[3]
                assert detail.startswith(_ALLOWED_PLAN_STEPS), (statement, detail)
        assert kinds == {"SELECT", "UPDATE", "INSERT"}
        assert any("permission_operations" in s for s in statements)  # the guard ran
    finally:
        store.database.release(conn)
        store.close()
        replay.close()


# --------------------------------------------------------------------------- reading units


def test_a_reading_unit_takes_no_write_lock_and_sees_what_was_committed(
    store: SqliteStore,
) -> None:
    who = samples.user(samples.org_id())
    with store() as uow:
        uow.users.add(who)
        uow.commit()
    holder = sqlite3.connect(store.path, timeout=0, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process writing
        with store.reading() as reader:  # neither waits for it nor blocks it
            assert reader.users.get(who.id) == who
            holder.execute("UPDATE users SET version = version WHERE id = ?", (who.id,))
        holder.execute("COMMIT")
        with store.reading():
            holder.execute("BEGIN IMMEDIATE")  # a writer can start beside a reader
            holder.execute("ROLLBACK")
    finally:
        holder.close()


def test_a_reading_unit_cannot_write_and_its_connection_writes_again_afterwards(
    store: SqliteStore,
) -> None:
    who = samples.user(samples.org_id())
    with pytest.raises(StorageUnavailable, match="READONLY"), store.reading() as reader:
        reader.users.add(who)
    with store() as uow:  # the same pooled connection, back to read-write
        assert uow.users.get(who.id) is None
        uow.users.add(who)
        uow.commit()
    with store.reading() as reader:
        assert reader.users.get(who.id) == who


def test_readers_in_many_threads_run_beside_a_unit_that_holds_the_write_lock(
    tmp_path: Path,
) -> None:
    with SqliteStore(tmp_path / "r.db", busy_timeout=0.05) as store:
        who = samples.user(samples.org_id())
        with store() as uow:
            uow.users.add(who)
            uow.commit()
        with store() as writer:  # holds the write lock for the whole block
            writer.users.get(who.id)

            def read(_: int) -> bool:
                with store.reading() as reader:
                    return reader.users.get(who.id) == who

            with ThreadPoolExecutor(4) as pool:
                assert all(pool.map(read, range(8)))


def test_a_reader_reads_again_only_what_changed_since(store: SqliteStore) -> None:
    """A reading unit's connection remembers the rows it read while the file's
    `data_version` holds: the same read again runs no statement but its transaction's
    own; a commit by another connection (another process here, or another unit of
    this store) or by a writing unit on the same connection is seen at the next read."""
    who = samples.user(samples.org_id())
    with store() as uow:
        uow.users.add(who)
        uow.commit()
    with store.reading() as reader:
        assert reader.users.get(who.id) == who
    statements: list[str] = []
    store.set_trace(statements.append)
    with store.reading() as reader:
        assert reader.users.get(who.id) == who
    store.set_trace(None)
    assert statements == ["BEGIN DEFERRED", "PRAGMA data_version", "ROLLBACK"]

    other = sqlite3.connect(store.path, isolation_level=None)
    try:
        other.execute("UPDATE users SET is_active = 0 WHERE id = ?", (who.id,))
    finally:
        other.close()
    with store.reading() as reader:
        seen = reader.users.get(who.id)
        assert seen is not None
        assert not seen.is_active

    with store() as uow:  # the same pooled connection, writing
        uow.users.update(
            attrs.evolve(seen, is_active=True, version=seen.version + 1),
            expected_version=seen.version,
        )
        uow.commit()
    with store.reading() as reader:
        again = reader.users.get(who.id)
        assert again is not None
        assert again.is_active


def test_a_reading_unit_never_waits_for_another_reader(store: SqliteStore) -> None:
    """The reference server reads on its event loop while a reader in a worker thread
    may be burning a nonce: a reading unit takes no lock of the process either."""
    who = samples.user(samples.org_id())
    with store() as uow:
        uow.users.add(who)
        uow.commit()
    seen: list[bool] = []

    def read() -> None:
        with store.reading() as reader:
            seen.append(reader.users.get(who.id) == who)

    with store.reading() as holder:  # held open for the whole block
        assert holder.users.get(who.id) == who
        other = threading.Thread(target=read)
        other.start()
        other.join(timeout=10)
        assert not other.is_alive(), "a reader waited for another"
    assert seen == [True]
