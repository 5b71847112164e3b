"""What only the PostgreSQL adapter promises: its error translation (each on a real server
error), its per-org lock against the lock-out guard's write skew, its isolation level,
its pool, and its append-only audit table."""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from adapters.storage.postgres import (
    _SEVER_AFTER,
    RECONNECT_WINDOW,
    PostgresStore,
    PostgresUnitOfWork,
    translate_error,
)
from adapters.storage.watchdog import SLACK
from adapters.testing.contracts import samples
from adapters.testing.contracts.samples import ARCHIVE_OPS, T0
from adapters.testing.contracts.unit_of_work import THREADS, committed, race, store
from adapters.testing.world import World
from archive_core.entities import UserKind
from archive_core.errors import (
    AlreadyExists,
    ArchiveCoreError,
    ConcurrencyConflict,
    StorageUnavailable,
)
from archive_core.ids import OrgId, UserId
from archive_core.ports import UnitOfWork
from tests.services import PgSchema


@pytest.fixture
def pg(pg_schema: PgSchema) -> Iterator[PostgresStore]:
    with PostgresStore(pg_schema.dsn, schema=pg_schema.schema) as opened:
        yield opened


def _raw(place: PgSchema) -> psycopg.Connection[tuple[object, ...]]:
    conn = psycopg.connect(place.dsn, autocommit=True)
    conn.execute(f"SET search_path TO {place.schema}")
    return conn


def _backend_pid(uow: PostgresUnitOfWork) -> int:
    # Fault injection needs the connection the unit of work holds.
    conn = uow._tx.conn
    assert conn is not None
    return conn.info.backend_pid


# --------------------------------------------------------------------------- errors


def test_an_unreachable_server_is_unavailable() -> None:
    with pytest.raises(StorageUnavailable) as caught:
        PostgresStore("postgresql://postgres@127.0.0.1:1/test?connect_timeout=1", timeout=1)
    assert caught.value.store == "postgresql"
    assert caught.value.driver_error == "OperationalError"


def test_an_exhausted_pool_is_unavailable(pg_schema: PgSchema) -> None:
    with PostgresStore(pg_schema.dsn, schema=pg_schema.schema, pool_size=1, timeout=0.2) as pg:
        with pg() as holding:
            holding.users.get(UserId("us-x"))
            with pytest.raises(StorageUnavailable), pg():
                pass
        with pg() as uow:
            assert uow.users.get(UserId("us-x")) is None


def test_a_connection_killed_mid_unit_is_unavailable_and_the_pool_recovers(
    pg: PostgresStore, pg_schema: PgSchema
) -> None:
    who = samples.user(samples.org_id())
    store(pg, who)
    admin = psycopg.connect(pg_schema.dsn, autocommit=True)

    def read_while_killed() -> None:
        with pg() as uow:
            uow.users.get(who.id)
            admin.execute("SELECT pg_terminate_backend(%s)", (_backend_pid(uow),))
            uow.users.get(who.id)

    try:
        with pytest.raises(StorageUnavailable):
            read_while_killed()
    finally:
        admin.close()
    with pg() as uow:
        assert uow.users.get(who.id) == who


def test_a_deadlock_is_a_conflict(pg: PostgresStore) -> None:
    org = samples.org_id()
    first, second = samples.user(org), samples.user(org)
    store(pg, first, second)
    barrier = threading.Barrier(2)

    def cross(i: int) -> str:
        order = (first, second) if i == 0 else (second, first)
        try:
            with pg() as uow:
                for step, who in enumerate(order):
                    uow.users.update(who, expected_version=1)
                    if step == 0:
                        barrier.wait()
                uow.commit()
        except ConcurrencyConflict:
            return "conflict"
        return "committed"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(cross, range(2)))
    assert outcomes == ["committed", "conflict"]


def test_serialization_failures_and_lock_timeouts_are_conflicts(pg_schema: PgSchema) -> None:
    PostgresStore(pg_schema.dsn, schema=pg_schema.schema).close()
    store_conn, other = _raw(pg_schema), _raw(pg_schema)
    try:
        store_conn.execute(
            "INSERT INTO applications (id, org_id, name, is_active) VALUES ('ap-1', 'or-1', 'a', true)"
        )
        store_conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        store_conn.execute("SELECT * FROM applications")
        other.execute("UPDATE applications SET name = 'b'")
        with pytest.raises(psycopg.errors.SerializationFailure) as serialization:
            store_conn.execute("UPDATE applications SET name = 'c'")
        store_conn.execute("ROLLBACK")
        other.execute("BEGIN")
        other.execute("SELECT * FROM applications FOR UPDATE")
        with pytest.raises(psycopg.errors.LockNotAvailable) as lock:
            store_conn.execute("SELECT * FROM applications FOR UPDATE NOWAIT")
        other.execute("ROLLBACK")
    finally:
        store_conn.close()
        other.close()
    assert isinstance(translate_error(serialization.value), ConcurrencyConflict)
    assert isinstance(translate_error(lock.value), ConcurrencyConflict)


def test_a_cancelled_statement_is_unavailable_and_sql_errors_surface_unchanged(
    pg_schema: PgSchema,
) -> None:
    conn = psycopg.connect(pg_schema.dsn, autocommit=True)
    try:
        conn.execute("SET statement_timeout = 1")
        with pytest.raises(psycopg.errors.QueryCanceled) as cancelled:
            conn.execute("SELECT pg_sleep(1)")
        with pytest.raises(psycopg.errors.SyntaxError) as syntax:
            conn.execute("SELEC 1")
    finally:
        conn.close()
    translated = translate_error(cancelled.value)
    assert isinstance(translated, StorageUnavailable)
    assert "57014" in str(translated)
    assert translate_error(syntax.value) is syntax.value


def test_the_audit_log_is_append_only(pg: PostgresStore, pg_schema: PgSchema) -> None:
    store(pg, samples.audit_record(samples.org_id(), None))
    raw = _raw(pg_schema)
    try:
        for statement in ("UPDATE audit SET record = '{}'", "DELETE FROM audit", "TRUNCATE audit"):
            with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="append-only"):
                raw.execute(statement)
    finally:
        raw.close()


# --------------------------------------------------------------------------- isolation, locks


def test_units_of_work_are_read_committed_whatever_the_server_default(
    pg_schema: PgSchema,
) -> None:
    dsn = f"{pg_schema.dsn}?options=-c%20default_transaction_isolation%3Dserializable"
    with PostgresStore(dsn, schema=pg_schema.schema) as pg, pg() as uow:
        assert uow._tx.one("SHOW transaction_isolation")[0] == "read committed"


def test_the_lockout_guard_takes_the_org_lock_so_the_last_two_admins_stay(
    pg: PostgresStore, pg_schema: PgSchema
) -> None:
    """The write skew, forced: A archives B; B's unit of work, started meanwhile, has
    read A as active. A commits only once B's guard query has either answered or is
    seen waiting for a lock: without the org lock B's query answers at once (A still
    active, so B archives A too — the bug); with it, B's query waits for A's commit
    and then sees B archived."""
    org = samples.org_id()
    granted = samples.permission(org)
    a, b = samples.user(org), samples.user(org)
    store(pg, granted, a, b, samples.assignment(granted, a), samples.assignment(granted, b))
    a_decided = threading.Event()
    b_has_read = threading.Event()
    b_answered = threading.Event()
    b_backend: list[int] = []

    def guard(uow: UnitOfWork, exclude: UserId) -> bool:
        return uow.users.has_other_active_holder(
            org,
            operations=frozenset(ARCHIVE_OPS),
            kinds=frozenset(UserKind),
            exclude=exclude,
            include_service_accounts=False,
        )

    def b_is_waiting_for_a_lock(observer: psycopg.Connection[tuple[object, ...]]) -> bool:
        row = observer.execute(
            "SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", (b_backend[0],)
        ).fetchone()
        return row is not None and row[0] == 1

    def a_archives_b() -> bool:
        observer = psycopg.connect(pg_schema.dsn, autocommit=True)
        try:
            with pg() as uow:
                target = uow.users.get(b.id)
                assert target is not None
                allowed = guard(uow, b.id)
                a_decided.set()
                assert b_has_read.wait(timeout=30)
                while not (b_answered.wait(0.01) or b_is_waiting_for_a_lock(observer)):
                    pass
                uow.users.update(target.archived(T0), expected_version=target.version)
                uow.commit()
                return allowed
        finally:
            observer.close()

    def b_archives_a() -> bool:
        assert a_decided.wait(timeout=30)
        with pg() as uow:
            target = uow.users.get(a.id)
            assert target is not None and target.is_active
            b_backend.append(_backend_pid(uow))
            b_has_read.set()
            allowed = guard(uow, a.id)
            b_answered.set()
            if not allowed:
                return False
            uow.users.update(target.archived(T0), expected_version=target.version)
            uow.commit()
            return True

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(a_archives_b)
        second = pool.submit(b_archives_a)
        assert first.result() is True
        assert second.result() is False
    with pg() as uow:
        still = uow.users.get(a.id)
        assert still is not None and still.is_active


def test_racing_appends_in_one_org_wait_their_turn_instead_of_conflicting(
    pg: PostgresStore,
) -> None:
    org = OrgId("or-one-busy-org")

    def append(_: int) -> None:
        committed(pg, lambda uow: uow.audit.append(samples.audit_record(org, uow.audit.head(org))))

    race(THREADS, append)  # no retry: a ConcurrencyConflict would fail the test
    with pg() as uow:
        assert [r.sequence for r in uow.audit.records(org)] == list(range(1, THREADS + 1))


@pytest.mark.parametrize("first_commits", [True, False])
def test_a_second_add_of_a_name_waits_for_the_first_unit_and_follows_its_outcome(
    pg: PostgresStore, first_commits: bool
) -> None:
    """The unique index's entry of an uncommitted add holds back a concurrent add of the
    same name (casefolded): it is refused once the first commits, stored if it rolls back."""
    org = samples.org_id()
    first = samples.user(org, username="Frank@example.co")
    second = samples.user(org, username="FRANK@EXAMPLE.CO")

    def add_second() -> bool:
        try:
            committed(pg, lambda uow: uow.users.add(second))
        except AlreadyExists:
            return False
        return True

    with ThreadPoolExecutor(1) as pool, pg() as uow:
        uow.users.add(first)
        waiting = pool.submit(add_second)
        with pytest.raises(TimeoutError):
            waiting.result(timeout=0.5)  # held back by the first unit's uncommitted row
        if first_commits:
            uow.commit()
        else:
            uow.rollback()
        assert waiting.result(timeout=30) is not first_commits
    with pg() as uow:
        assert (uow.users.get(first.id) is not None) is first_commits
        assert (uow.users.get(second.id) is not None) is not first_commits


def test_two_concurrent_creations_of_one_username_create_exactly_one(pg: PostgresStore) -> None:
    world = World(uow_factory=pg, challenges=pg.challenges, replay_guard=pg.replay_guard)
    for round_ in range(5):
        org = world.new_org()
        name = f"grace.{round_}@example.co"

        def create(i: int, org: OrgId = org, name: str = name) -> str:
            try:
                world.provisioning.create_user(
                    org, name.upper() if i else name, UserKind.CUSTOMER_EMPLOYEE
                )
            except ArchiveCoreError as exc:
                return exc.code
            return "created"

        assert sorted(race(2, create)) == ["created", "username_taken"]


def test_connections_dropped_while_pooled_fail_no_request(pg_schema: PgSchema) -> None:
    """A restart or failover drops every pooled connection; the next requests succeed."""
    with PostgresStore(pg_schema.dsn, schema=pg_schema.schema, pool_size=4) as pg:
        world = World(uow_factory=pg, challenges=pg.challenges, replay_guard=pg.replay_guard)
        org = world.new_org()
        admin = world.actor(org, operations=ARCHIVE_OPS)
        targets = [world.actor(org) for _ in range(8)]

        # Fill both pools with several connections: units of work held at once.
        barrier = threading.Barrier(4)

        def hold() -> None:
            with pg() as uow:
                uow.users.get(admin.user.id)
                pg.challenges.count()
                barrier.wait(timeout=30)

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: hold(), range(4)))

        admin_conn = psycopg.connect(pg_schema.dsn, autocommit=True)
        try:
            killed = admin_conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name LIKE %s",
                (f"archive-core:{pg_schema.schema}%",),
            ).fetchone()
        finally:
            admin_conn.close()
        assert killed is not None and killed[0] >= 4, killed

        unavailable = 0
        for target in targets:
            try:
                answer = world.archive_user(admin, target.id)
            except StorageUnavailable:
                unavailable += 1
            else:
                assert answer["isActive"] is False
        assert unavailable == 0


# --------------------------------------------------------------------------- bounded commits


class Relay:
    """A TCP relay to PostgreSQL that can go silent (`stalled`: nothing relayed either
    way) or down (`down()`: every connection cut, new ones refused, until `up()`)."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self.stalled = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._upstream)
            with self._lock:
                self._live |= {client, server}
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not self.stalled.is_set():
                    target.sendall(data)
        except OSError:
            pass
        finally:
            for side in (source, target):
                with contextlib.suppress(OSError):
                    side.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._live.discard(source)
            source.close()

    def down(self) -> None:
        """Refuse new connections and cut every open one (a server that went away)."""
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            live = list(self._live)
        for side in live:
            with contextlib.suppress(OSError):
                side.shutdown(socket.SHUT_RDWR)

    def up(self) -> None:
        """Accept connections again, on the same port."""
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def close(self) -> None:
        self.down()


@pytest.fixture
def relay(pg_schema: PgSchema) -> Iterator[Relay]:
    params = conninfo_to_dict(pg_schema.dsn)
    opened = Relay(str(params.get("host", "127.0.0.1")), int(str(params.get("port", 5432))))
    yield opened
    opened.close()


def _through(relay: Relay, place: PgSchema) -> str:
    # connect_timeout: new connections through a stalled relay give up (and the pool's
    # threads with them) before the pool is closed.
    return make_conninfo(place.dsn, host="127.0.0.1", port=relay.port, connect_timeout=2)


def _stored(place: PgSchema, user_id: UserId) -> bool:
    with _raw(place) as conn:
        return conn.execute("SELECT 1 FROM users WHERE id = %s", (user_id,)).fetchone() is not None


def test_the_commit_timeout_is_a_positive_number_of_seconds(pg_schema: PgSchema) -> None:
    for refused in (0, -1.0, math.nan):
        with pytest.raises(ValueError, match="commit_timeout must be a positive number of seconds"):
            PostgresStore(pg_schema.dsn, schema=pg_schema.schema, commit_timeout=refused)


def test_a_commit_the_server_warns_about_is_not_acknowledged_though_it_committed(
    pg: PostgresStore, pg_schema: PgSchema
) -> None:
    """As PostgreSQL does when a commit's wait for a synchronous standby is cancelled: a
    WARNING (told by its severity: its text depends on lc_messages) and success."""
    with _raw(pg_schema) as conn:
        conn.execute(
            "CREATE FUNCTION say() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF NEW.username LIKE 'warned%' THEN RAISE WARNING 'committed, not replicated';"
            " ELSE RAISE NOTICE 'nothing to worry about'; END IF; RETURN NULL; END $$"
        )
        conn.execute(
            "CREATE CONSTRAINT TRIGGER say AFTER INSERT ON users DEFERRABLE INITIALLY DEFERRED"
            " FOR EACH ROW EXECUTE FUNCTION say()"
        )
    org = samples.org_id()
    noticed = samples.user(org, username="noticed@example.co")
    store(pg, noticed)  # a NOTICE at commit: acknowledged
    warned = samples.user(org, username="warned@example.co")
    with pytest.raises(StorageUnavailable) as caught:
        store(pg, warned)
    assert caught.value.store == "postgresql"
    assert caught.value.driver_error == "CommitWarning"
    assert str(caught.value) == (
        "postgresql: CommitWarning (not acknowledged: the commit may not be replicated)"
    )
    assert _stored(pg_schema, warned.id)  # committed all the same: never answered 200
    with pg() as uow:  # the pool goes on
        assert uow.users.get(noticed.id) == noticed


def test_a_commit_that_gets_no_answer_is_cut_at_its_bound(
    pg_schema: PgSchema, relay: Relay
) -> None:
    """The server or the network goes silent during COMMIT: the cancel request gets no
    answer either, and a second later the connection is cut."""
    bound = 0.5
    with PostgresStore(
        _through(relay, pg_schema), schema=pg_schema.schema, commit_timeout=bound
    ) as pg:
        who = samples.user(samples.org_id())
        with pg() as uow:
            uow.users.add(who)
            relay.stalled.set()
            started = time.monotonic()
            with pytest.raises(StorageUnavailable) as caught:
                uow.commit()
            waited = time.monotonic() - started
        assert caught.value.driver_error == "CommitTimeout"
        assert bound <= waited < bound + _SEVER_AFTER + SLACK + 2.0  # + a busy machine
        assert not _stored(pg_schema, who.id)  # the COMMIT never reached the server
        relay.stalled.clear()
        store(pg, who)  # the cut connection was not pooled again
        assert _stored(pg_schema, who.id)


def test_an_autocommit_statement_the_server_warns_about_is_not_acknowledged(
    pg: PostgresStore, pg_schema: PgSchema
) -> None:
    """Nonces and challenges are autocommit statements: each is its own COMMIT, held to
    the same rule."""
    with _raw(pg_schema) as conn:
        conn.execute(
            "CREATE FUNCTION say() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF NEW.key LIKE 'warned%' THEN RAISE WARNING 'committed, not replicated';"
            " END IF; RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER say BEFORE INSERT ON nonces FOR EACH ROW EXECUTE FUNCTION say()"
        )
    expiry = T0 + timedelta(minutes=5)
    with pytest.raises(StorageUnavailable) as caught:
        pg.replay_guard.first_use("warned", expires_at=expiry, now=T0)
    assert caught.value.driver_error == "CommitWarning"
    assert pg.replay_guard.first_use("quiet", expires_at=expiry, now=T0)
    with _raw(pg_schema) as conn:  # burnt all the same: never answered as a first use
        assert conn.execute("SELECT key FROM nonces ORDER BY key").fetchall() == [
            ("quiet",),
            ("warned",),
        ]


def test_a_full_pool_reaches_a_server_back_after_an_outage_at_the_next_request(
    pg_schema: PgSchema, relay: Relay
) -> None:
    """After a restart or failover every pooled connection is lost. Retried with a
    growing back-off (1, 2, 4, 8 s…), a pool whose connections are all lost would reach
    the server that is back only at its next retry; retried for `RECONNECT_WINDOW` only,
    the next request that needs a connection tries at once."""
    with PostgresStore(
        _through(relay, pg_schema), schema=pg_schema.schema, pool_size=1, timeout=1
    ) as pg:
        who = samples.user(samples.org_id())
        store(pg, who)
        relay.down()
        with pytest.raises(StorageUnavailable), pg() as uow:
            uow.users.get(who.id)
        time.sleep(RECONNECT_WINDOW + 2)  # a back-off would wait 4 s now
        relay.up()
        started = time.monotonic()
        with PostgresStore(pg_schema.dsn, schema=pg_schema.schema) as direct, direct() as uow:
            assert uow.users.get(who.id) == who  # the server itself answers at once
        with pg() as uow:
            assert uow.users.get(who.id) == who
        assert time.monotonic() - started < 1.0
