"""`serve --workers 2`: the official SDK, the replay race across workers, readiness that
follows Redis down and back up, metrics summed over the workers, a dead worker reported
and replaced, SIGTERM stopping everything with status 0, configuration from variables,
workers that exit when their supervisor is killed, workers added and removed."""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.e2e.conftest import ROOT, Served, cli_json
from tests.e2e.test_sdk import _b64, _sdk, _signed_token, _user
from tests.services import PgSchema, RedisPrefix, cli_environment

_READY = re.compile(r"archive-core serving on (http://\S+) \((\d+) workers?\)")
_METRICS = re.compile(r"archive-core metrics on (http://\S+)/metrics")


def _start(*args: str, env: dict[str, str] | None = None) -> tuple[Served, str]:
    """`archive-core serve --port 0 ARGS`; the server and the lines printed until ready."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-u", "-m", "adapters.entrypoints.cli", "serve", "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=cli_environment({"PYTHONUNBUFFERED": "1", **(env or {})}),
    )
    assert process.stdout is not None
    seen: list[str] = []
    for line in process.stdout:
        seen.append(line)
        match = _READY.search(line)
        if match:
            return Served(process, match.group(1)), "".join(seen)
    process.kill()
    process.wait()
    raise AssertionError("serve did not start:\n" + "".join(seen))


@pytest.fixture
def workers() -> Iterator[Any]:
    """A factory of multi-worker `serve` processes, all stopped after the test."""
    started: list[Served] = []

    def factory(*args: str, env: dict[str, str] | None = None) -> tuple[Served, str]:
        served, seen = _start(*args, env=env)
        started.append(served)
        return served, seen

    yield factory
    for served in started:
        if served.process.poll() is None:
            served.stop()


def _children(pid: int) -> set[int]:
    """The worker processes of a supervisor (spawned interpreters, not the resource tracker)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"spawn_main" in command:
            found.add(int(entry.name))
    return found


def _wait_for(condition: Any, what: str, tries: int = 300) -> None:
    # Waiting for a state, not measuring: bounded so a broken server fails the test.
    for _ in range(tries):
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_official_sdk_against_two_workers(tmp_path: Path, workers: Any) -> None:
    db = str(tmp_path / "sdk.db")
    admin = cli_json("bootstrap", "--db", db)
    targets = [_user(db, admin["orgId"], f"user{i}@example.com") for i in range(4)]
    served, seen = workers("--db", db, "--workers", "2")
    assert "(2 workers)" in seen
    client = _sdk(served.url, admin)
    for target in targets:  # consecutive requests land on both workers
        archived = client.auth.delete_user(target["userId"])
        assert (archived["userId"], archived["isActive"]) == (target["userId"], False)
    audit = cli_json("audit", "--db", db, "--verify")
    assert audit["ok"] is True
    assert len(audit["records"]) == 4


def _race(url: str, admin: dict[str, Any], db: str) -> list[int]:
    target = _user(db, admin["orgId"], "raced@example.com")
    path = f"/auth/users/{target['userId']}"
    token = _signed_token(url, admin, "DELETE", path, "")
    headers = {"Authorization": f"Bearer {admin['authToken']}", "X-DFNS-USERACTION": token}

    def fire(_: int) -> tuple[int, str]:
        with httpx.Client(timeout=30) as fresh:  # a connection of its own: any worker
            answer = fresh.delete(f"{url}{path}", headers=headers)
        return answer.status_code, answer.json().get("error", {}).get("message", "")

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(fire, range(16)))
    assert {message for status, message in results if status != 200} == {
        "user action has already been used"
    }
    return [status for status, _ in results]


def test_one_token_raced_over_two_workers_on_sqlite(tmp_path: Path, workers: Any) -> None:
    db = str(tmp_path / "race.db")
    admin = cli_json("bootstrap", "--db", db)
    served, _ = workers("--db", db, "--workers", "2")
    assert _race(served.url, admin, db).count(200) == 1


def test_one_token_raced_over_two_workers_on_postgresql_and_redis(
    pg_schema: PgSchema, redis_prefix: RedisPrefix, workers: Any
) -> None:
    admin = cli_json("bootstrap", "--db", pg_schema.url)
    served, _ = workers("--db", pg_schema.url, "--redis", redis_prefix.replay_url, "--workers", "2")
    assert _race(served.url, admin, pg_schema.url).count(200) == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql+redis"])
def test_one_nonce_raced_over_two_workers(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest, workers: Any
) -> None:
    if backend == "sqlite":
        db, extra = str(tmp_path / "nonce.db"), []
    else:
        pg: PgSchema = request.getfixturevalue("pg_schema")
        cache: RedisPrefix = request.getfixturevalue("redis_prefix")
        db, extra = pg.url, ["--redis", cache.replay_url]
    admin = cli_json("bootstrap", "--db", db)
    served, _ = workers("--db", db, *extra, "--workers", "2", "--require-nonce")
    document = {"uuid": f"race-{uuid.uuid4()}", "date": datetime.now(UTC).isoformat()}
    headers = {
        "Authorization": f"Bearer {admin['authToken']}",
        "X-DFNS-NONCE": _b64(json.dumps(document).encode()),
    }

    def fire(_: int) -> tuple[int, str]:
        with httpx.Client(timeout=30) as fresh:  # a connection of its own: any worker
            answer = fresh.get(f"{served.url}/auth/users/{admin['userId']}", headers=headers)
        return answer.status_code, answer.json().get("error", {}).get("message", "")

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(fire, range(16)))
    assert [status for status, _ in results].count(200) == 1
    assert {message for status, message in results if status != 200} == {
        "request nonce has already been used"
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _redis_server(port: int) -> subprocess.Popen[bytes]:
    """A throwaway Redis on loopback (never the shared one), up when this returns."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    process = subprocess.Popen(  # noqa: S603 - the redis-server binary found on PATH
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    try:
        _wait_for(answers, "the throwaway Redis")
    finally:
        client.close()
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait(timeout=30)


def test_readyz_follows_redis_down_and_back(tmp_path: Path, workers: Any) -> None:
    port = _free_port()
    cache = _redis_server(port)
    try:
        served, seen = workers(
            "--db",
            str(tmp_path / "ready.db"),
            "--redis",
            f"redis://127.0.0.1:{port}/0",
            "--workers",
            "2",
            "--metrics-port",
            "0",
        )
        match = _METRICS.search(seen)
        assert match is not None
        ready = httpx.get(f"{served.url}/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "stores": {"sqlite": "ok", "redis": "ok"}}
        assert httpx.get(f"{served.url}/healthz").json() == {"status": "ok"}

        _stop(cache)
        for _ in range(4):  # whichever worker answers
            down = httpx.get(f"{served.url}/readyz", headers={"Connection": "close"})
            assert down.status_code == 503
            assert down.json()["failing"] == ["redis"]
            assert down.json()["stores"] == {"sqlite": "ok", "redis": "unavailable"}
        assert httpx.get(f"{served.url}/healthz").status_code == 200
        scraped = httpx.get(match.group(1) + "/metrics").text
        assert 'archive_core_store_errors_total{store="redis"} 4.0' in scraped
        assert (
            'archive_core_http_requests_total{method="GET",route="/readyz",status="503"} 4.0'
            in scraped
        )

        cache = _redis_server(port)
        _wait_for(
            lambda: all(
                httpx.get(f"{served.url}/readyz", headers={"Connection": "close"}).status_code
                == 200
                for _ in range(4)
            ),
            "/readyz to recover",
        )
    finally:
        _stop(cache)


@pytest.mark.parametrize("count", [2, 1])
def test_metrics_show_an_archive_summed_over_the_workers(
    tmp_path: Path, workers: Any, count: int
) -> None:
    db = str(tmp_path / "metrics.db")
    admin = cli_json("bootstrap", "--db", db)
    target = _user(db, admin["orgId"], "counted@example.com")
    served, seen = workers("--db", db, "--workers", str(count), "--metrics-port", "0")
    match = _METRICS.search(seen)
    assert match is not None
    metrics_url = match.group(1) + "/metrics"
    assert httpx.get(f"{served.url}/metrics").status_code == 404  # not on the API port

    path = f"/auth/users/{target['userId']}"
    token = _signed_token(served.url, admin, "DELETE", path, "")
    auth = {"Authorization": f"Bearer {admin['authToken']}"}
    done = httpx.delete(f"{served.url}{path}", headers={**auth, "X-DFNS-USERACTION": token})
    assert done.status_code == 200
    replayed = httpx.delete(f"{served.url}{path}", headers={**auth, "X-DFNS-USERACTION": token})
    assert replayed.status_code == 400

    text = httpx.get(metrics_url).text
    samples = dict(
        line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    route = 'method="DELETE",route="/auth/users/{userId}"'
    assert (
        float(samples['archive_core_decisions_total{operation="archive_user",outcome="archived"}'])
        == 1
    )
    assert (
        float(
            samples[
                'archive_core_decisions_total{operation="archive_user",outcome="user_action_used"}'
            ]
        )
        == 1
    )
    assert (
        float(
            samples[
                'archive_core_decisions_total{operation="init_user_action",outcome="challenge_issued"}'
            ]
        )
        == 1
    )
    assert float(samples[f'archive_core_http_requests_total{{{route},status="200"}}']) == 1
    assert float(samples[f"archive_core_http_request_duration_seconds_count{{{route}}}"]) == 2
    if count > 1:  # each worker's process figures, from the supervisor
        assert float(samples["archive_core_workers"]) == 2
        assert 'archive_core_worker_resident_memory_bytes{worker="2"}' in samples
    assert "process_cpu_seconds_total" in samples
    for secret in (target["userId"], admin["userId"], admin["authToken"], token):
        assert secret not in text
    status, _ = served.stop()
    assert status == 0


def test_a_dead_worker_is_reported_and_replaced_and_sigterm_stops_all(
    tmp_path: Path, workers: Any
) -> None:
    db = str(tmp_path / "die.db")
    admin = cli_json("bootstrap", "--db", db)
    served, _ = workers("--db", db, "--workers", "2")
    supervisor = served.process.pid
    before = _children(supervisor)
    assert len(before) == 2
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    _wait_for(lambda: len(_children(supervisor) - {victim}) == 2, "a replacement worker")
    after = _children(supervisor)
    auth = {"Authorization": f"Bearer {admin['authToken']}"}
    for _ in range(4):
        answer = httpx.get(
            f"{served.url}/auth/users/{admin['userId']}", headers={**auth, "Connection": "close"}
        )
        assert answer.status_code == 200

    status, output = served.stop()
    assert status == 0
    assert f"(pid {victim}) exited with status -9; starting a replacement" in output
    assert "archive-core stopped" in output
    assert not any(Path(f"/proc/{pid}").exists() for pid in after)


def test_configuration_from_the_environment(tmp_path: Path, workers: Any) -> None:
    db = str(tmp_path / "env.db")
    admin = cli_json("bootstrap", "--db", db)
    served, seen = workers(
        env={
            "ARCHIVE_CORE_DB": db,
            "ARCHIVE_CORE_WORKERS": "2",
            "ARCHIVE_CORE_LOG_FORMAT": "json",
            "ARCHIVE_CORE_LOG_LEVEL": "info",
        }
    )
    assert "(2 workers)" in seen
    answer = httpx.get(
        f"{served.url}/auth/users/{admin['userId']}",
        headers={"Authorization": f"Bearer {admin['authToken']}", "X-Request-Id": "env-test-1"},
    )
    assert answer.status_code == 200
    assert answer.headers["x-request-id"] == "env-test-1"
    status, output = served.stop()
    assert status == 0
    lines = [line for line in output.splitlines() if '"request_id": "env-test-1"' in line]
    assert len(lines) == 1 and '"route": "get_user"' in lines[0] and '"status": 200' in lines[0]
    assert admin["authToken"] not in output


def _gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for whoever adopted it counts)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


# The longest a worker may outlive its supervisor; it stops at once, as on SIGTERM.
ORPHAN_LIMIT_SECONDS = 10


def test_workers_exit_when_their_supervisor_is_killed(tmp_path: Path, workers: Any) -> None:
    db = str(tmp_path / "orphans.db")
    served, _ = workers("--db", db, "--workers", "2")
    supervisor = served.process.pid
    pids = _children(supervisor)
    assert len(pids) == 2
    os.kill(supervisor, signal.SIGKILL)
    served.process.wait(timeout=30)
    _wait_for(
        lambda: all(_gone(pid) for pid in pids),
        "the workers to exit",
        tries=ORPHAN_LIMIT_SECONDS * 10,
    )
    # The port is free again: a new supervisor takes it, and only its workers answer.
    port = served.url.rpartition(":")[2]
    again, _ = workers("--db", db, "--workers", "2", "--port", port)
    assert again.url == served.url
    for _ in range(8):
        answer = httpx.get(f"{again.url}/healthz", headers={"Connection": "close"})
        assert answer.status_code == 200


def test_a_worker_added_and_removed_keeps_every_connection_answered(
    tmp_path: Path, workers: Any
) -> None:
    served, _ = workers("--db", str(tmp_path / "scale.db"), "--workers", "2")
    supervisor = served.process.pid

    def all_answered() -> bool:
        return all(
            httpx.get(f"{served.url}/healthz", headers={"Connection": "close"}).status_code == 200
            for _ in range(12)
        )

    os.kill(supervisor, signal.SIGTTIN)
    _wait_for(lambda: len(_children(supervisor)) == 3, "a third worker")
    _wait_for(all_answered, "the third worker to serve")
    os.kill(supervisor, signal.SIGTTOU)
    _wait_for(lambda: len(_children(supervisor)) == 2, "a worker fewer")
    # The removed worker's socket is closed with it: no connection waits on it in vain.
    for _ in range(12):
        answer = httpx.get(f"{served.url}/healthz", headers={"Connection": "close"}, timeout=5)
        assert answer.status_code == 200
    status, _ = served.stop()
    assert status == 0


# A process whose child runs the portable watcher (in a thread, as a worker does), then
# waits to be killed.
_WATCHER = """
import os, signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", '''
import os, signal, sys, threading, time
from adapters.entrypoints.serving import watch_parent
def stop(signum, frame):
    open(sys.argv[1], "w").write("SIGTERM")
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
parent = os.getppid()  # before the pid is printed: the parent is killed once it is
threading.Thread(target=watch_parent, args=(parent,), kwargs={"every": 0.05}).start()
print(os.getpid(), flush=True)
time.sleep(60)
''', sys.argv[1]], stdout=subprocess.PIPE, text=True)
print(child.stdout.readline().strip(), flush=True)
time.sleep(60)
"""


def test_the_portable_watcher_stops_a_worker_whose_parent_died(tmp_path: Path) -> None:
    mark = tmp_path / "stopped"
    parent = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", _WATCHER, str(mark)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert not _gone(child)
    parent.kill()
    parent.wait(timeout=30)
    _wait_for(lambda: _gone(child), "the orphan to stop", tries=ORPHAN_LIMIT_SECONDS * 10)
    assert mark.read_text() == "SIGTERM"
