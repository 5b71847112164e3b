"""SQLite storage of an archive: adapter overhead over raw `sqlite3`, and flatness with scale.

Two figures (`run(quick=...)`, or `python benchmarks/sqlite_archive.py [--quick]`):

- `sqlite_time_ratio` — the storage part of one archive, driven through the SQLite unit
  of work exactly as the archive (`ARCHIVE_USER`'s handler) drives it (begin, caller,
  caller's assignments, token consumption, target, target's assignments, lock-out guard query for an
  archiver target, audit head, caller again, versioned update, audit append with its
  Merkle leaf — the left siblings it closes read at an odd index, its nodes written in
  one insert — commit)
  ÷ the very same SQL statements run through a raw `sqlite3` connection with the same pragmas
  (WAL, `synchronous=FULL`, foreign keys, busy timeout) and pre-built parameters. Each
  round's grants are issued (untimed) just before the round, as `CompleteUserAction`
  issues a grant moments before the archive that consumes it. Both
  run side by side on one file, in interleaved rounds; the ratio is of the medians of
  the per-archive latencies. Before timing, the benchmark traces one archive of each
  kind and checks that both ran the same statements in the same order. Goal ≤ 1.25.
- `p99_scale_ratio` — the p99 latency of a whole archive call (core included, crypto
  faked) with 1,000,000 users in the org ÷ the same with 1,000 (100,000 with
  `quick=True`). The two databases are archived from alternately, archive by archive,
  so machine noise hits both alike; the p99 is taken over all samples of a size (4,000,
  or 1,000 with `quick=True`), and the per-round ratios give the spread. Goal ≤ 1.5.

Seeding writes users, permissions and assignments with `executemany` in one transaction.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.storage.codec import audit_to_json
from adapters.storage.sqlite import SqliteReplayStore, SqliteStore
from adapters.testing.world import World  # the real use cases, crypto faked: storage measured
from archive_core import merkle
from archive_core.audit import GENESIS_HASH, AuditRecord, chain_record, leaf_data
from archive_core.entities import (
    FULL_ADMIN,
    CredentialKind,
    SignedEvidence,
    User,
    UserActionGrant,
    UserActionRecord,
    UserKind,
    UserState,
)
from archive_core.ids import CredentialUuid, OrgId, UserId
from archive_core.requests import Request
from archive_core.use_cases import ARCHIVE_USER
from archive_core.usernames import username_key
from benchmarks.timing import alternating_samples, p99, scale_figures

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ARCHIVE_OPS = ("Auth:Users:Update", "Auth:Types:Employee", "Auth:Types:EndUser")
#: What the lock-out guard asks of another archiver of an employee (preset `dfns`).
GUARD_OPS = frozenset({"Auth:Users:Update", "Auth:Types:Employee"})
GUARD_KINDS = frozenset(UserKind)
#: One seeded user in ARCHIVER_EVERY holds the archive operations (so the lock-out
#: guard's query runs for them and has holders to search through).
ARCHIVER_EVERY = 50

# The statements of one archive, as the adapter writes them (checked against a trace).
BEGIN = "BEGIN IMMEDIATE"
GET_USER = (
    "SELECT id, org_id, username, kind, credential_uuid, is_active, archived_at,"
    " is_service_account, is_registered, version, cut_off_at, is_sso_required,"
    " external_id FROM users WHERE id = ?"
)
ASSIGNMENTS = (
    "SELECT a.id, p.id, p.org_id, p.name, p.operations, p.is_archived"
    " FROM assignments AS a JOIN permissions AS p ON p.id = a.permission_id"
    " WHERE a.identity_id = ? ORDER BY a.seq"
)
CONSUME = (
    "UPDATE user_actions SET used_at = ? WHERE token_id = ? AND used_at IS NULL RETURNING record"
)
HOLDER = """
SELECT EXISTS (
    SELECT 1
    FROM permissions AS p
    JOIN assignments AS a ON a.permission_id = p.id
    JOIN users AS u ON u.id = a.identity_id
    WHERE p.org_id = :org AND p.name = :full_admin AND p.is_archived = 0
      AND u.org_id = :org AND u.id <> :exclude AND u.is_active = 1 AND u.archived_at IS NULL
      AND (:service_accounts OR u.is_service_account = 0)
      AND u.kind IN (SELECT value FROM json_each(:kinds))
) OR EXISTS (
    SELECT 1
    FROM permission_operations AS po
    JOIN permissions AS p ON p.id = po.permission_id
    JOIN assignments AS a ON a.permission_id = po.permission_id
    JOIN users AS u ON u.id = a.identity_id
    WHERE po.org_id = :org AND po.operation = :first AND p.org_id = :org AND p.is_archived = 0
      AND u.org_id = :org AND u.id <> :exclude AND u.is_active = 1 AND u.archived_at IS NULL
      AND (:service_accounts OR u.is_service_account = 0)
      AND u.kind IN (SELECT value FROM json_each(:kinds))
      AND (
        SELECT COUNT(DISTINCT po2.operation)
        FROM assignments AS a2
        JOIN permissions AS p2 ON p2.id = a2.permission_id
        JOIN permission_operations AS po2 ON po2.permission_id = a2.permission_id
        WHERE a2.identity_id = u.id AND p2.org_id = :org AND p2.is_archived = 0
          AND po2.operation IN (SELECT value FROM json_each(:operations))
      ) = :count
)"""
UPDATE_USER = (
    "UPDATE users SET org_id = ?, username = ?, kind = ?, credential_uuid = ?, is_active = ?,"
    " archived_at = ?, is_service_account = ?, is_registered = ?, version = ?,"
    " cut_off_at = ?, is_sso_required = ?, external_id = ?, username_key = ?"
    " WHERE id = ? AND version = ?"
)
HEAD = "SELECT record FROM audit WHERE org_id = ? ORDER BY sequence DESC LIMIT 1"
APPEND = (
    "INSERT INTO audit (org_id, sequence, id, hash, target_id, user_action_id,"
    " performed_at, record)"
    " SELECT ?, ?, ?, ?, ?, ?, ?, ?"
    " WHERE ? = 1 + COALESCE((SELECT MAX(sequence) FROM audit WHERE org_id = ?), 0)"
    " ON CONFLICT DO NOTHING"
)
# The record's leaf and the subtrees it completes: the left siblings read (one part per
# sibling, none for an even index), then every node written in one statement.
TREE_READ_PART = (
    "SELECT level, idx, hash FROM audit_tree WHERE org_id = ? AND level = ? AND idx = ?"
)
TREE_WRITE = "INSERT INTO audit_tree (org_id, level, idx, hash) VALUES "
COMMIT = "COMMIT"


# --------------------------------------------------------------------------- seeding


def _uid(prefix: str, n: int) -> str:
    return f"{prefix}-{n:010d}-{'bench'}"


def _seed_users(
    store: SqliteStore, org: OrgId, count: int, *, tag: str, archivers: bool = True
) -> list[UserId]:
    """`count` active employees of `org` (one in ARCHIVER_EVERY holding the archive
    operations through a permission of its own), in one transaction."""
    conn = store.database.acquire()
    try:
        conn.execute("PRAGMA synchronous=OFF")  # seeding only; restored below
        conn.execute("BEGIN IMMEDIATE")
        ids = [UserId(_uid(f"us-{tag}", n)) for n in range(count)]
        conn.executemany(
            "INSERT INTO users (id, org_id, username, kind, credential_uuid, is_active,"
            " archived_at, is_service_account, is_registered, version, username_key)"
            " VALUES (?, ?, ?, 'CustomerEmployee', ?, 1, NULL, 0, 1, 1, ?)",
            (
                (uid, org, f"{uid}@example.co", "cr" + uid[2:], username_key(f"{uid}@example.co"))
                for uid in ids
            ),
        )
        if archivers:
            holders = ids[::ARCHIVER_EVERY]
            conn.executemany(
                "INSERT INTO permissions (id, org_id, name, operations, is_archived)"
                " VALUES (?, ?, ?, ?, 0)",
                (
                    ("pm" + h[2:], org, "archivers", '["' + '","'.join(ARCHIVE_OPS) + '"]')
                    for h in holders
                ),
            )
            conn.executemany(
                "INSERT INTO permission_operations (permission_id, org_id, operation)"
                " VALUES (?, ?, ?)",
                (("pm" + h[2:], org, op) for h in holders for op in ARCHIVE_OPS),
            )
            conn.executemany(
                "INSERT INTO assignments (id, permission_id, identity_id, org_id)"
                " VALUES (?, ?, ?, ?)",
                (("as" + h[2:], "pm" + h[2:], h, org) for h in holders),
            )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute(f"PRAGMA synchronous={store.database.synchronous}")
    finally:
        store.database.release(conn)
    return ids


def _evidence() -> tuple[SignedEvidence, ...]:
    return (
        SignedEvidence(
            credential_uuid=CredentialUuid("cr-caller-bench"),
            credential_kind=CredentialKind.KEY,
            cred_id="cid-caller-bench",
            algorithm="ES256",
            public_key="-----BEGIN PUBLIC KEY-----\n" + "A" * 120 + "\n-----END PUBLIC KEY-----\n",
            client_data="eyJ0eXBlIjoia2V5LmdldCIsImNoYWxsZW5nZSI6IngifQ",
            signature="MEUCIQ" + "B" * 90,
        ),
    )


# --------------------------------------------------------------------------- time ratio


@dataclass
class _Side:
    """One side of the comparison: an org of its own in the shared file."""

    org: OrgId
    caller: UserId
    targets: list[UserId]
    tokens: list[str]
    archived: list[User]
    records: list[AuditRecord]
    archiver: list[bool]


def _prepare_side(store: SqliteStore, tag: str, count: int, order: Sequence[int]) -> _Side:
    """Seed one side; its audit records are chained in the order targets will be archived."""
    org = OrgId(f"or-{tag}-bench")
    ids = _seed_users(store, org, count + 1, tag=tag)
    caller, targets = ids[0], ids[1:]
    evidence = _evidence()
    tokens = [f"ua-{tag}-{i:08d}" for i in range(count)]
    archived: list[User] = []
    drafts: list[AuditRecord] = []
    archiver: list[bool] = []
    for i, target_id in enumerate(targets):
        before = User(
            id=target_id,
            org_id=org,
            username=f"{target_id}@example.co",
            kind=UserKind.CUSTOMER_EMPLOYEE,
            credential_uuid=CredentialUuid("cr" + target_id[2:]),
        )
        archived.append(before.archived(NOW))
        archiver.append((i + 1) % ARCHIVER_EVERY == 0)
        drafts.append(
            AuditRecord(
                id=f"au-{tag}-{i:08d}",
                org_id=org,
                sequence=0,
                action=f"DELETE /auth/users/{target_id}",
                user_action_id=tokens[i],
                actor_id=caller,
                actor_username=f"{caller}@example.co",
                actor_kind="CustomerEmployee",
                token_kind="Login",  # noqa: S106 - a token kind name, not a secret
                performed_at=NOW,
                evidence=evidence,
                permissions_required=("Auth:Users:Update", "Auth:Types:Employee"),
                permissions_matched=("Auth:Users:Update", "Auth:Types:Employee"),
                target_id=target_id,
                target_before=UserState(is_active=True, archived_at=None, version=1),
                target_after=UserState(is_active=False, archived_at=NOW, version=2),
                prev_hash=GENESIS_HASH,
                hash="",
            )
        )
    records = list(drafts)
    previous: AuditRecord | None = None
    for i in order:
        previous = records[i] = chain_record(drafts[i], previous)
    return _Side(org, caller, targets, tokens, archived, records, archiver)


def _issue(store: SqliteStore, side: _Side, indices: Sequence[int]) -> None:
    """Issue the grants of these archives (untimed), as `CompleteUserAction` does moments
    before the archive that consumes each one."""
    evidence = _evidence()
    with store() as uow:
        for i in indices:
            token = side.tokens[i]
            uow.user_actions.add(
                UserActionRecord(
                    grant=UserActionGrant(
                        token_id=token,
                        user_id=side.caller,
                        org_id=side.org,
                        credential_uuid=CredentialUuid("cr-caller-bench"),
                        method="DELETE",
                        path=f"/auth/users/{token}",
                        payload_sha256="e3b0c442" * 8,
                        issued_at=NOW,
                        expires_at=NOW + timedelta(days=1),
                    ),
                    evidence=evidence,
                )
            )
        uow.commit()


def _ours(store: SqliteStore, side: _Side, i: int) -> float:
    """One archive's storage work through the unit of work; seconds, begin to commit
    (from creating and entering the unit of work to `commit()` returning)."""
    target_id = side.targets[i]
    start = time.perf_counter()
    with store() as uow:
        uow.users.get(side.caller)
        uow.permissions.assignments_of(side.caller)
        uow.user_actions.consume(side.tokens[i], at=NOW)
        target = uow.users.get(target_id)
        uow.permissions.assignments_of(target_id)
        if side.archiver[i]:
            uow.users.has_other_active_holder(
                side.org,
                operations=GUARD_OPS,
                kinds=GUARD_KINDS,
                exclude=target_id,
                include_service_accounts=False,
            )
        assert target is not None
        uow.audit.head(side.org)
        uow.users.get(side.caller)  # the caller again, in the org's turn
        uow.users.update(side.archived[i], expected_version=target.version)
        uow.audit.append(side.records[i])
        uow.commit()
        elapsed = time.perf_counter() - start
    return elapsed


@dataclass
class _RawParams:
    """Every bound value of one raw archive, built before timing."""

    consume: tuple[Any, ...]
    target: tuple[Any, ...]
    holder: dict[str, Any] | None
    update: tuple[Any, ...]
    append: tuple[Any, ...]
    tree_read: tuple[str, tuple[Any, ...]] | None
    tree_write: tuple[str, tuple[Any, ...]]


def _tree_params(side: _Side) -> dict[int, tuple[tuple[str, tuple[Any, ...]] | None, Any]]:
    """Each record's tree statements with their parameters, by sequence (the tree built
    in memory in chain order, so the hashes written are the adapter's)."""
    nodes: dict[tuple[int, int], bytes] = {}
    params: dict[int, tuple[tuple[str, tuple[Any, ...]] | None, Any]] = {}
    for record in sorted(side.records, key=lambda r: r.sequence):
        index = record.sequence - 1
        reads = merkle.append_reads(index)
        leaf = merkle.leaf_hash(leaf_data(record))
        written = merkle.appended_subtrees(index, leaf, lambda lv, ix: nodes[lv, ix])
        for node in written:
            nodes[node.level, node.index] = node.hash
        read = None
        if reads:
            statement = " UNION ALL ".join([TREE_READ_PART] * len(reads))
            read = (statement, tuple(v for lv, ix in reads for v in (side.org, lv, ix)))
        write = (
            TREE_WRITE + ", ".join(["(?, ?, ?, ?)"] * len(written)),
            tuple(v for n in written for v in (side.org, n.level, n.index, n.hash)),
        )
        params[record.sequence] = (read, write)
    return params


def _raw_params(side: _Side) -> list[_RawParams]:
    params = []
    tree = _tree_params(side)
    for i, target_id in enumerate(side.targets):
        user = side.archived[i]
        record = side.records[i]
        holder = None
        if side.archiver[i]:
            holder = {
                "org": side.org,
                "exclude": target_id,
                "service_accounts": False,
                "kinds": '["CustomerEmployee", "EndUser"]',
                "first": "Auth:Types:Employee",
                "operations": '["Auth:Types:Employee", "Auth:Users:Update"]',
                "count": 2,
                "full_admin": FULL_ADMIN,
            }
        params.append(
            _RawParams(
                consume=(NOW.isoformat(), side.tokens[i]),
                target=(target_id,),
                holder=holder,
                update=(
                    user.org_id,
                    user.username,
                    user.kind.value,
                    user.credential_uuid,
                    False,
                    NOW.isoformat(),
                    False,
                    True,
                    2,
                    None,
                    False,
                    None,
                    username_key(user.username),
                    target_id,
                    1,
                ),
                append=(
                    record.org_id,
                    record.sequence,
                    record.id,
                    record.hash,
                    record.target_id,
                    record.user_action_id,
                    record.performed_at.isoformat(),
                    audit_to_json(record),
                    record.sequence,
                    record.org_id,
                ),
                tree_read=tree[record.sequence][0],
                tree_write=tree[record.sequence][1],
            )
        )
    return params


def _raw(conn: sqlite3.Connection, side: _Side, params: _RawParams) -> float:
    """The same statements on a raw connection; seconds, begin to commit."""
    caller = (side.caller,)
    org = (side.org,)
    start = time.perf_counter()
    conn.execute(BEGIN)
    conn.execute(GET_USER, caller).fetchone()
    conn.execute(ASSIGNMENTS, caller).fetchall()
    conn.execute(CONSUME, params.consume).fetchall()
    conn.execute(GET_USER, params.target).fetchone()
    conn.execute(ASSIGNMENTS, params.target).fetchall()
    if params.holder is not None:
        conn.execute(HOLDER, params.holder).fetchone()
    conn.execute(HEAD, org).fetchone()
    conn.execute(GET_USER, caller).fetchone()
    conn.execute(UPDATE_USER, params.update)
    conn.execute(APPEND, params.append)
    if params.tree_read is not None:
        conn.execute(*params.tree_read).fetchall()
    conn.execute(*params.tree_write)
    conn.execute(COMMIT)
    return time.perf_counter() - start


def _raw_connection(store: SqliteStore) -> sqlite3.Connection:
    conn = sqlite3.connect(store.path, timeout=store.database.busy_timeout, isolation_level=None)
    conn.execute(f"PRAGMA synchronous={store.database.synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={int(store.database.busy_timeout * 1000)}")
    return conn


_LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")


def _shape(statement: str) -> str:
    return " ".join(_LITERAL.sub("?", statement).split())


def _check_same_statements(
    store: SqliteStore,
    conn: sqlite3.Connection,
    ours: Callable[[], object],
    raw: Callable[[], object],
) -> None:
    """Trace one archive of each kind; both must run the same statements, in order."""
    traced_ours: list[str] = []
    traced_raw: list[str] = []
    store.set_trace(traced_ours.append)
    conn.set_trace_callback(traced_raw.append)
    try:
        ours()
        raw()
    finally:
        store.set_trace(None)
        conn.set_trace_callback(None)
    if [_shape(s) for s in traced_ours] != [_shape(s) for s in traced_raw]:
        raise AssertionError(f"different statements:\n{traced_ours}\n{traced_raw}")


def time_ratio(folder: Path, *, quick: bool, tiny: bool = False) -> dict[str, float]:
    """Adapter ÷ raw, medians of per-archive latencies, interleaved rounds."""
    rounds = 2 if tiny else 8 if quick else 20
    per_round = 10 if tiny else 40 if quick else 100
    # +2: the statement checks archive two of each, one of them the first archiver
    count = max(rounds * per_round + 2, ARCHIVER_EVERY + 1)
    k = ARCHIVER_EVERY - 1  # the first target holding the archive operations
    order = [0, k] + [i for i in range(1, count) if i != k]
    with SqliteStore(folder / "ratio.db") as store:
        ours_side = _prepare_side(store, "ours", count, order)
        raw_side = _prepare_side(store, "raw", count, order)
        raw_params = _raw_params(raw_side)
        for side in (ours_side, raw_side):
            _issue(store, side, [0, k])
        conn = _raw_connection(store)
        try:
            # warm-up and check: archive #0 of each side (an archiver comes later)
            _check_same_statements(
                store,
                conn,
                lambda: _ours(store, ours_side, 0),
                lambda: _raw(conn, raw_side, raw_params[0]),
            )
            # ... and an archiver target, so the guard query is compared too
            _check_same_statements(
                store,
                conn,
                lambda: _ours(store, ours_side, k),
                lambda: _raw(conn, raw_side, raw_params[k]),
            )
            ours_times: list[float] = []
            raw_times: list[float] = []
            round_ratios: list[float] = []
            for r in range(rounds):
                chunk = order[2 + r * per_round : 2 + (r + 1) * per_round]
                for side in (ours_side, raw_side):
                    _issue(store, side, chunk)
                a: list[float] = []
                b: list[float] = []
                gc.collect()
                gc.disable()
                try:
                    # alternate archive by archive, and which side goes first each round
                    for i in chunk:
                        if r % 2 == 0:
                            a.append(_ours(store, ours_side, i))
                            b.append(_raw(conn, raw_side, raw_params[i]))
                        else:
                            b.append(_raw(conn, raw_side, raw_params[i]))
                            a.append(_ours(store, ours_side, i))
                finally:
                    gc.enable()
                ours_times += a
                raw_times += b
                round_ratios.append(statistics.median(a) / statistics.median(b))
        finally:
            conn.close()
    ours_median = statistics.median(ours_times)
    raw_median = statistics.median(raw_times)
    return {
        "sqlite_time_ratio": ours_median / raw_median,
        "sqlite_time_ratio_round_min": min(round_ratios),
        "sqlite_time_ratio_round_max": max(round_ratios),
        "archive_storage_ours_median_us": ours_median * 1e6,
        "archive_storage_raw_median_us": raw_median * 1e6,
        "archive_storage_samples": float(len(ours_times)),
    }


# --------------------------------------------------------------------------- scale


@dataclass
class _Population:
    """A database of `size` users and what an archive in it needs."""

    world: Any
    caller: Any
    org: OrgId
    targets: list[UserId]
    store: SqliteStore


@contextmanager
def _population(folder: Path, size: int, tag: str) -> Iterator[_Population]:
    store = SqliteStore(folder / f"scale-{tag}.db")
    replay = SqliteReplayStore(folder / f"scale-{tag}.db-replay")
    try:
        world = World(
            uow_factory=store, challenges=replay.challenges, replay_guard=replay.replay_guard
        )
        org = OrgId(f"or-{tag}-scale")
        ids = _seed_users(store, org, size, tag=tag)
        caller = world.actor(org, operations=ARCHIVE_OPS)
        world.actor(org, full_admin=True)
        # 1,000 targets drawn at random over the whole id range (random pages); about
        # one in ARCHIVER_EVERY of them holds the archive operations, in both sizes
        chosen = random.Random(size).sample(ids, min(1000, len(ids)))  # noqa: S311 - sampling
        yield _Population(world, caller, org, chosen, store)
    finally:
        store.close()
        replay.close()


def _archive_once(population: _Population, target: UserId) -> float:
    """Seconds of one archive call (its token is obtained before timing)."""
    request: Request = population.world.archive_request(population.caller, target)
    start = time.perf_counter()
    population.world.call(ARCHIVE_USER, request, target)
    return time.perf_counter() - start


def _restore(population: _Population, targets: Sequence[UserId]) -> None:
    """Make archived targets active again (untimed), so that they can be archived again."""
    conn = population.store.database.acquire()
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "UPDATE users SET is_active = 1, archived_at = NULL WHERE id = ?",
            ((t,) for t in targets),
        )
        conn.execute("COMMIT")
    finally:
        population.store.database.release(conn)


_p99: Callable[[Sequence[float]], float] = p99


def scale_ratio(folder: Path, *, quick: bool, tiny: bool = False) -> dict[str, float]:
    """p99 of an archive with many users ÷ with 1,000, alternating between the two."""
    large = 2_000 if tiny else 100_000 if quick else 1_000_000
    rounds = 2 if tiny else 5 if quick else 10
    per_round = 20 if tiny else 200 if quick else 400
    started = time.perf_counter()
    with _population(folder, 1_000, "small") as small, _population(folder, large, "large") as big:
        seeded = time.perf_counter() - started
        count = len(small.targets)

        def chosen(r: int) -> list[int]:
            # Each round archives its own targets (round -1 warms caches and statements up).
            return [(r * per_round + j) % count for j in range(per_round)]

        def restore(r: int) -> None:
            _restore(small, [small.targets[j] for j in chosen(r)])
            _restore(big, [big.targets[j] for j in chosen(r)])

        small_rounds, big_rounds = alternating_samples(
            lambda r, j: _archive_once(small, small.targets[(r * per_round + j) % count]),
            lambda r, j: _archive_once(big, big.targets[(r * per_round + j) % count]),
            rounds=rounds,
            per_round=per_round,
            after_round=restore,
        )
    figures = scale_figures(small_rounds, big_rounds, ratio="p99_scale_ratio", what="archive")
    return {**figures, "users_large": float(large), "seed_seconds": seeded}


# --------------------------------------------------------------------------- entry points


def run(*, quick: bool, tiny: bool = False) -> dict[str, float]:
    """Both figures and their raw numbers (see the module docstring). `tiny` shrinks
    every size so that a test can check the benchmark runs (its figures mean nothing)."""
    with tempfile.TemporaryDirectory(prefix="archive-core-bench-") as folder:
        results = time_ratio(Path(folder), quick=quick, tiny=tiny)
        results.update(scale_ratio(Path(folder), quick=quick, tiny=tiny))
    return results


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: Sequence[str] | None = None) -> int:
    """Print the figures as a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 users and fewer rounds")
    parser.add_argument("--tiny", action="store_true", help="a smoke run: figures mean nothing")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    results = run(quick=args.quick, tiny=args.tiny)
    goals = {"sqlite_time_ratio": 1.25, "p99_scale_ratio": 1.5}
    print(f"machine: {_cpu_model()}, {os.cpu_count()} cpus, load {load:.2f} at start")
    print(f"python {platform.python_version()}, sqlite {sqlite3.sqlite_version}")
    print(f"{'figure':<34} {'value':>12}  goal")
    for name, value in results.items():
        goal = goals.get(name)
        mark = "" if goal is None else f"≤ {goal} {'ok' if value <= goal else 'MISSED'}"
        print(f"{name:<34} {value:>12.3f}  {mark}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
