"""PostgreSQL high availability under `archive-core serve`: a primary with a synchronous
standby (two PostgreSQL clusters made on this machine, `tests/replication.py`), servers
on the multi-host URL, signed archives from several clients.

- The failover: the primary crashes (`pg_ctl stop -m immediate`), the standby is
  promoted, the clients go on. Every archive answered 200 is on the new primary with
  its audit record, no user action token is used twice, the audit chain verifies, every
  other answer is a 503 or a refusal (never a 500), `/readyz` is 503 while no primary
  answers, and the time until writes and `/readyz` recover is measured and bounded.
  Rejoin strategy: the promoted node runs without a synchronous standby (as Patroni does
  outside strict synchronous mode) until the old primary, never started again as it
  was, is rewound with `pg_rewind` and rejoins as its synchronous standby.
- The bounded commit: with the standby gone, a commit waits on it; the server answers
  503 once `--commit-timeout` runs out, and what it answered 503 for is either kept
  (the standby comes back: a retry is refused as used) or never happened (a failover to
  the standby that never received it: a retry succeeds). Nothing answered 200 is ever
  missing from the standby.

The clusters need the PostgreSQL server binaries (and, as root, the `postgres` user):
without them the tests skip, or fail when ARCHIVE_CORE_REQUIRE_SERVICES=1 (CI).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

import attrs
import httpx
import pytest

from adapters.client import KeySigner, init_body
from adapters.wiring.bootstrap import build
from adapters.wiring.operations import NewUser, bootstrap_org, check_audit, create_user
from archive_core.entities import UserKind
from archive_core.ids import OrgId, UserId
from tests.e2e.conftest import Served
from tests.replication import ReplicatedPostgres, replication_problem
from tests.services import REQUIRE_ENV, RedisPrefix, services_required

#: How long a request waits for a pooled connection before its 503 (the URL's `timeout`).
POOL_TIMEOUT: Final = 2
#: `serve --commit-timeout` in these tests, seconds.
COMMIT_TIMEOUT: Final = 1.0
#: How long the failover leaves the clients without a primary (what a failure detector
#: takes), seconds.
NO_PRIMARY: Final = 3.0
#: The recovery bounds asserted after the promotion (docs/operations.md states the
#: figures measured; these leave room for a busy CI machine), seconds.
WRITES_RESUME_WITHIN: Final = 8.0
READY_WITHIN: Final = 8.0
USED: Final = "user action has already been used"


@pytest.fixture
def pair() -> Iterator[ReplicatedPostgres]:
    """A primary and its synchronous standby, removed after the test."""
    problem = replication_problem()
    if problem is not None:
        message = f"no PostgreSQL primary/standby pair can be made here: {problem}"
        if services_required():
            pytest.fail(f"{message} — {REQUIRE_ENV}=1 requires it", pytrace=False)
        pytest.skip(message)
    with ReplicatedPostgres.create() as created:
        yield created


# --------------------------------------------------------------------------- clients


@attrs.frozen
class Org:
    """An org's admin (the client's signer and bearer token) and the users to archive."""

    admin: NewUser
    targets: tuple[UserId, ...]

    @property
    def org_id(self) -> OrgId:
        return self.admin.user.org_id


def _provision(url: str, *, orgs: int, targets: int) -> list[Org]:
    with build(db_url=url) as deployment:
        made = []
        for _ in range(orgs):
            admin = bootstrap_org(deployment).admin
            org_id = admin.user.org_id
            users = tuple(
                create_user(deployment, org_id, f"t{n}@example.com", UserKind.END_USER).user.id
                for n in range(targets)
            )
            made.append(Org(admin, users))
        return made


def _provision_one(url: str, org: Org) -> tuple[UserId, ...]:
    with build(db_url=url) as deployment:
        user = create_user(deployment, org.org_id, "late@example.com", UserKind.END_USER)
        return (user.user.id,)


@attrs.frozen
class Answer:
    """One HTTP answer a client got."""

    step: str
    status: int
    code: str
    message: str
    started: float
    ended: float


@attrs.frozen
class Outcome:
    """What became of one archive: answered 200, refused (its token already used: an
    earlier attempt answered 503 did commit), or left undone."""

    target: UserId
    acknowledged: bool
    refusal: str = ""


class Archiver:
    """One client: an org's admin archiving its users over HTTP, each archive a signed
    user action (init, the challenge signed, complete), retried the way a client should:
    a 503 during the user action starts it again, a 503 of the archive sends the same
    request again, alternating between the servers."""

    def __init__(self, org: Org, urls: Sequence[str]) -> None:
        credential = org.admin.credential
        assert credential is not None and org.admin.private_key_pem is not None
        self.org = org
        self.urls = tuple(urls)
        self.signer = KeySigner(credential.cred_id, org.admin.private_key_pem)
        self.http = httpx.Client(
            headers={"Authorization": f"Bearer {org.admin.auth_token}"}, timeout=30
        )
        self.answers: list[Answer] = []
        self.outcomes: list[Outcome] = []

    def call(self, step: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request, its answer recorded."""
        started = time.monotonic()
        response = self.http.request(method, url, **kwargs)
        error = response.json().get("error", {}) if response.status_code != 200 else {}
        self.answers.append(
            Answer(
                step,
                response.status_code,
                str(error.get("code", "")),
                str(error.get("message", "")),
                started,
                time.monotonic(),
            )
        )
        return response

    def user_action(self, base: str, path: str) -> str | None:
        """A user action token for `DELETE path` (init, sign, complete), or None on a 503."""
        init = self.call(
            "init", "POST", f"{base}/auth/action/init", content=init_body("DELETE", path)
        )
        if init.status_code != 200:
            return None
        completed = self.call(
            "complete",
            "POST",
            f"{base}/auth/action",
            content=self.signer.complete_body(init.json()),
        )
        return str(completed.json()["userAction"]) if completed.status_code == 200 else None

    def archive(self, target: UserId, *, until: float) -> Outcome:
        path = f"/auth/users/{target}"
        token: str | None = None
        for attempt in itertools.count():
            if time.monotonic() > until:
                return Outcome(target, acknowledged=False, refusal="gave up")
            base = self.urls[attempt % len(self.urls)]
            if token is None:
                token = self.user_action(base, path)
                if token is None:
                    time.sleep(0.05)
                    continue
            deleted = self.call(
                "archive", "DELETE", base + path, headers={"X-DFNS-USERACTION": token}
            )
            if deleted.status_code == 200:
                return Outcome(target, acknowledged=True)
            if deleted.status_code != 503:
                return Outcome(target, acknowledged=False, refusal=self.answers[-1].message)
            time.sleep(0.05)
        raise AssertionError("unreachable")

    def run(self, *, until: float, hold: threading.Event | None = None, reserve: int = 0) -> None:
        """Archive every target; the last `reserve` ones only once `hold` is set (so that
        some archives are sure to come after it)."""
        targets = self.org.targets
        try:
            for n, target in enumerate(targets):
                if hold is not None and len(targets) - n <= reserve:
                    hold.wait(timeout=max(0.0, until - time.monotonic()))
                self.outcomes.append(self.archive(target, until=until))
        finally:
            self.http.close()


class ReadinessWatch:
    """`GET /readyz` of one server, polled in a thread: each answer and when."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[tuple[float, float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                status = client.get(f"{self.url}/readyz").status_code
                self.answers.append((started, time.monotonic(), status))
                time.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _serve_on(pair: ReplicatedPostgres, serve: Any, *extra: str) -> Served:
    served: Served = serve(
        "--db", f"{pair.url}&timeout={POOL_TIMEOUT}",
        "--commit-timeout", str(COMMIT_TIMEOUT),
        "--log-level", "error",
        *extra,
    )  # fmt: skip
    return served


def _archive_records(url: str, orgs: Sequence[Org]) -> dict[OrgId, list[tuple[UserId, str]]]:
    """Each org's archive records on the server at `url`: (target, user action id)."""
    with build(db_url=url) as deployment, deployment.storage.uow_factory() as uow:
        return {
            org.org_id: [
                (record.target_id, record.user_action_id)
                for record in uow.audit.records(org.org_id)
                if record.action.startswith("DELETE /auth/users/")
            ]
            for org in orgs
        }


def _audit_verifies(url: str) -> bool:
    with build(db_url=url) as deployment:
        return check_audit(deployment).ok


# --------------------------------------------------------------------------- the failover


def test_a_failover_loses_no_acknowledged_archive_and_answers_no_500(
    pair: ReplicatedPostgres, redis_prefix: RedisPrefix, serve: Any
) -> None:
    old, new = pair.primary, pair.standby
    orgs = _provision(pair.url, orgs=3, targets=12)
    servers = [_serve_on(pair, serve, "--redis", redis_prefix.replay_url) for _ in range(2)]
    urls = [served.url for served in servers]
    clients = [Archiver(org, urls[n % 2 :] + urls[: n % 2]) for n, org in enumerate(orgs)]
    watch = ReadinessWatch(urls[0])
    until = time.monotonic() + 120
    failed_over = threading.Event()
    with ThreadPoolExecutor(len(clients)) as pool:
        running = [
            pool.submit(client.run, until=until, hold=failed_over, reserve=4) for client in clients
        ]
        pair.wait_for(
            lambda: sum(o.acknowledged for c in clients for o in c.outcomes) >= 6,
            "archives before the failover",
        )
        stopped = time.monotonic()
        pair.stop(old, mode="immediate")
        time.sleep(NO_PRIMARY)
        promoted = time.monotonic()  # from the request on: the new primary may answer
        pair.promote(new)
        failed_over.set()
        for future in running:
            future.result()
    watch.stop()

    answers = [answer for client in clients for answer in client.answers]
    outcomes = {o.target: o for client in clients for o in client.outcomes}
    # Every other answer is a clear 503 or a refusal of a used token; never a 500.
    assert [a for a in answers if a.status >= 500 and a.status != 503] == []
    assert {(a.status, a.code) for a in answers if a.status == 503} <= {(503, "unavailable")}
    assert {(a.step, a.message) for a in answers if a.status not in (200, 503)} <= {
        ("archive", USED)
    }
    assert any(a.status == 503 for a in answers), "the failover was not seen by any client"
    assert [o for o in outcomes.values() if not o.acknowledged and o.refusal != USED] == []
    acknowledged = {target for target, o in outcomes.items() if o.acknowledged}
    assert len(outcomes) == 36

    # On the new primary: every archive answered 200 is there with its audit record;
    # each target archived once, each user action used once; the chain verifies.
    records = _archive_records(new.dsn, orgs)
    targets = [target for org in orgs for target, _ in records[org.org_id]]
    actions = [action for org in orgs for _, action in records[org.org_id]]
    assert acknowledged <= set(targets)
    assert sorted(targets) == sorted(outcomes)  # a used token's archive is there too
    assert len(set(actions)) == len(actions) == len(targets)
    assert _audit_verifies(new.dsn)

    # Recovery: writes and /readyz, measured from the promotion's request.
    assert (
        sum(a.status == 200 and a.step == "archive" and a.started > promoted for a in answers) >= 12
    )
    resumed = min(
        a.ended for a in answers if a.step == "archive" and a.status == 200 and a.ended > promoted
    )
    ready = min(ended for _, ended, status in watch.answers if status == 200 and ended > promoted)
    without_primary = [
        status
        for started, ended, status in watch.answers
        if started > stopped + 0.2 and ended < promoted
    ]
    assert without_primary and set(without_primary) == {503}
    print(
        f"failover: {len(acknowledged)} of {len(outcomes)} archives answered 200, "
        f"{sum(a.status == 503 for a in answers)} answers 503; writes resumed "
        f"{resumed - promoted:.2f} s and /readyz 200 {ready - promoted:.2f} s after the "
        f"promotion ({NO_PRIMARY} s without a primary)"
    )
    assert resumed - promoted < WRITES_RESUME_WITHIN
    assert ready - promoted < READY_WITHIN

    # The old primary rejoins only rewound (it holds nothing the new one lacks that
    # any client was told of), as the new primary's synchronous standby.
    assert pair.sync_state(new, old) is None
    pair.rewind(old, source=new)
    pair.make_synchronous(new, old)
    late = Archiver(Org(orgs[0].admin, _provision_one(pair.url, orgs[0])), urls)
    late.run(until=time.monotonic() + 30)
    assert [o.acknowledged for o in late.outcomes] == [True]
    with pair.connect(new) as primary, pair.connect(old) as standby:
        head = primary.execute("SELECT pg_current_wal_lsn()").fetchone()
        assert head is not None
        pair.wait_for(
            lambda: (
                standby.execute(
                    "SELECT pg_is_in_recovery() AND pg_last_wal_replay_lsn() >= %s::pg_lsn",
                    (str(head[0]),),
                ).fetchone()
                == (True,)
            ),
            "the rejoined standby to replay the new primary's last commit",
        )


# --------------------------------------------------------------------------- bounded commits


def test_a_commit_waiting_on_a_gone_standby_is_answered_503_within_its_bound(
    pair: ReplicatedPostgres, serve: Any
) -> None:
    primary, standby = pair.primary, pair.standby
    (org,) = _provision(pair.url, orgs=1, targets=3)
    # The keyword form, from the environment; challenges and nonces in PostgreSQL too.
    served = serve(
        "--log-level",
        "error",
        env={
            "ARCHIVE_CORE_DB": f"{pair.keywords} timeout={POOL_TIMEOUT}",
            "ARCHIVE_CORE_COMMIT_TIMEOUT": str(COMMIT_TIMEOUT),
        },
    )
    client = Archiver(org, [served.url])
    first, second, third = org.targets
    tokens = {t: client.user_action(served.url, f"/auth/users/{t}") for t in org.targets}
    assert None not in tokens.values()

    def archive(target: UserId) -> tuple[int, str, float]:
        started = time.monotonic()
        answer = client.call(
            "archive",
            "DELETE",
            f"{served.url}/auth/users/{target}",
            headers={"X-DFNS-USERACTION": tokens[target]},
        )
        return answer.status_code, client.answers[-1].message, time.monotonic() - started

    def within_bound(waited: float) -> bool:
        # the bound, the watchdog's slack, a busy machine; never the 30 s a client gives up
        return COMMIT_TIMEOUT <= waited < COMMIT_TIMEOUT + 3.0

    assert archive(first)[0] == 200

    # The standby gone: the archive's commit waits on it, and is answered 503 in time;
    # so is opening a user action (its challenge is an autocommit statement).
    pair.stop(standby)
    status, message, waited = archive(second)
    assert (status, message) == (503, "Service Unavailable")
    assert within_bound(waited), waited
    started = time.monotonic()
    opened = client.http.post(
        f"{served.url}/auth/action/init", content=init_body("DELETE", f"/auth/users/{third}")
    )
    assert opened.status_code == 503
    assert within_bound(time.monotonic() - started)
    # /readyz reads: it does not see a missing standby (pg_stat_replication does).
    assert client.http.get(f"{served.url}/readyz").status_code == 200

    # The standby comes back: what was answered 503 stands (it committed on the primary
    # and now reaches the standby); the same request again is refused, never done twice.
    pair.start(standby)
    pair.wait_for(lambda: pair.sync_state(primary, standby) == "sync", "the standby in sync")
    assert archive(second)[:2] == (400, USED)

    # The standby gone again, then the primary lost and the standby promoted: what was
    # answered 503 never reached it, so it never happened, and the same request succeeds.
    pair.stop(standby)
    assert archive(third)[:2] == (503, "Service Unavailable")
    pair.stop(primary, mode="immediate")
    pair.start(standby)
    pair.promote(standby)
    pair.wait_for(lambda: archive(third)[0] == 200, "the retry on the promoted standby")

    records = _archive_records(standby.dsn, [org])[org.org_id]
    assert sorted(target for target, _ in records) == sorted(org.targets)
    assert len({action for _, action in records}) == 3
    assert _audit_verifies(standby.dsn)


# --------------------------------------------------------------------------- readiness


def test_readyz_is_503_while_only_a_standby_answers(
    pair: ReplicatedPostgres, redis_prefix: RedisPrefix
) -> None:
    """Without `target_session_attrs=read-write` the pool may reach the standby, which
    answers reads: /readyz asks for a server that takes writes."""
    url = f"postgresql://postgres@127.0.0.1:{pair.primary.port},127.0.0.1:{pair.standby.port}"
    with build(
        db_url=f"{url}/postgres?timeout={POOL_TIMEOUT}", replay_url=redis_prefix.replay_url
    ) as deployment:
        readiness = deployment.readiness
        assert readiness is not None
        assert readiness.check().stores == {"postgresql": True, "redis": True}
        pair.stop(pair.primary, mode="immediate")
        pair.wait_for(
            lambda: readiness.check().failing == ("postgresql",), "/readyz to fail on a standby"
        )
        pair.promote(pair.standby)
        pair.wait_for(lambda: readiness.check().ready, "/readyz once the standby is promoted")
