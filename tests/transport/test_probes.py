"""`GET /healthz` and `GET /readyz`: no authentication, no data; readiness names the store
that does not answer, and a hung store costs a probe its timeout, not a thread each."""

from __future__ import annotations

import threading
from pathlib import Path

import attrs
import pytest

from adapters.observability.health import Readiness, StoreCheck, store_names
from adapters.testing.world import World
from adapters.transport.http import HttpHandler
from adapters.wiring.bootstrap import build
from archive_core.errors import StorageUnavailable


def _handler(readiness: Readiness | None) -> HttpHandler:
    return HttpHandler(attrs.evolve(World().deployment, readiness=readiness))


def _ok() -> None:
    return None


def _down() -> None:
    raise StorageUnavailable("redis: ConnectionError")


def test_healthz_answers_without_credentials() -> None:
    answer = _handler(None).handle("GET", "/healthz", [], b"")
    assert (answer.status, answer.body) == (200, b'{"status":"ok"}')


def test_probes_allow_only_get() -> None:
    for path in ("/healthz", "/readyz"):
        answer = _handler(None).handle("POST", path, [], b"")
        assert answer.status == 405
        assert ("allow", "GET") in answer.headers


def test_readyz_without_stores_is_ready() -> None:
    answer = _handler(None).handle("GET", "/readyz", [], b"")
    assert (answer.status, answer.body) == (200, b'{"status":"ready","stores":{}}')


def test_readyz_names_the_failing_store() -> None:
    failures: list[str] = []
    readiness = Readiness(
        [StoreCheck("postgresql", _ok), StoreCheck("redis", _down)], on_failure=failures.append
    )
    answer = _handler(readiness).handle("GET", "/readyz", [], b"")
    assert answer.status == 503
    assert answer.body == (
        b'{"status":"unavailable","stores":{"postgresql":"ok","redis":"unavailable"},'
        b'"failing":["redis"]}'
    )
    assert failures == ["redis"]


def test_a_hung_store_is_reported_and_never_probed_twice_at_once() -> None:
    release = threading.Event()
    calls: list[int] = []

    def hung() -> None:
        calls.append(1)
        release.wait(30)

    readiness = Readiness([StoreCheck("sqlite", hung)], timeout=0.05)
    try:
        first = readiness.check()
        second = readiness.check()
        assert first.failing == second.failing == ("sqlite",)
        assert len(calls) == 1
    finally:
        release.set()


def test_a_recovered_store_is_ready_again() -> None:
    state = {"up": False}

    def flaky() -> None:
        if not state["up"]:
            raise StorageUnavailable("sqlite: locked")

    readiness = Readiness([StoreCheck("sqlite", flaky)])
    assert not readiness.check().ready
    state["up"] = True
    assert readiness.check().ready


def test_a_deployment_checks_its_real_stores(tmp_path: Path) -> None:
    db = str(tmp_path / "ready.db")
    with build(db_url=db) as deployment:
        handler = HttpHandler(deployment)
        answer = handler.handle("GET", "/readyz", [], b"")
    assert answer.status == 200
    assert answer.body == b'{"status":"ready","stores":{"sqlite":"ok","sqlite-replay":"ok"}}'
    # closed storage: the same probe now fails, naming both stores
    assert handler.handle("GET", "/readyz", [], b"").status == 503


@pytest.mark.parametrize(
    ("db_url", "replay_url", "names"),
    [
        ("archive.db", None, ("sqlite", "sqlite-replay")),
        ("sqlite:///a.db", "sqlite:///r.db", ("sqlite", "sqlite-replay")),
        ("postgresql://u@h/d", None, ("postgresql", "postgresql-replay")),
        ("postgres://u@h/d", "redis://h:6379/0", ("postgresql", "redis")),
        ("memory:", None, ("memory", "memory-replay")),
        ("archive.db", "rediss://h/0", ("sqlite", "redis")),
    ],
)
def test_store_names(db_url: str, replay_url: str | None, names: tuple[str, str]) -> None:
    assert store_names(db_url, replay_url) == names
