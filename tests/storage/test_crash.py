"""Crash safety of the SQLite adapter: a process archiving users through the archive
handler is killed with SIGKILL at 10 random moments; after each kill the file is intact
and the archive's three writes (token consumed, user archived, audit record) are all or
nothing.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from adapters.storage.sqlite import SqliteStore
from archive_core.audit import verify_audit_chain
from tests.storage.crash_worker import archive_forever

KILLS = 10
SEED = 20260101


def _check(path: Path) -> int:
    """The invariants after a crash; returns how many users are archived."""
    for name in (path, Path(f"{path}-replay")):
        conn = sqlite3.connect(name)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        finally:
            conn.close()
    with SqliteStore(path) as store:
        conn = sqlite3.connect(path)
        try:
            archived = {
                row[0] for row in conn.execute("SELECT id FROM users WHERE archived_at IS NOT NULL")
            }
            audited = Counter(row[0] for row in conn.execute("SELECT target_id FROM audit"))
            (used,) = conn.execute(
                "SELECT COUNT(*) FROM user_actions WHERE used_at IS NOT NULL"
            ).fetchone()
        finally:
            conn.close()
        # every archived user has exactly one audit record, and every record its user
        assert set(audited) == archived
        assert set(audited.values()) <= {1}
        # every consumed token archived someone (nothing purges here: the clock stands still)
        assert used == len(archived)
        with store() as uow:
            records = uow.audit.records()
        assert verify_audit_chain(records).ok
        assert {r.target_id for r in records} == archived
    return len(archived)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_archives_are_all_or_nothing_across_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    context = multiprocessing.get_context("spawn")
    moments = random.Random(SEED)  # noqa: S311 - reproducible kill moments, not a secret
    archived = 0
    for kill in range(KILLS):
        ready = context.Event()
        child = context.Process(target=archive_forever, args=(str(path), SEED + kill, ready))
        child.start()
        try:
            assert ready.wait(timeout=120), "the child never archived anyone"
            time.sleep(moments.uniform(0.0, 0.3))  # a random moment, not an assertion
            assert child.pid is not None
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.join(timeout=30)
            if child.is_alive():
                child.kill()
        assert child.exitcode == -signal.SIGKILL
        now_archived = _check(path)
        assert now_archived > archived  # every child archived at least once before dying
        archived = now_archived
