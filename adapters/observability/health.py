"""Readiness: does every store of the deployment answer a trivial query in time?

    readiness = Readiness(store_checks(storage, clock, db_url=..., replay_url=...))
    report = readiness.check()        # at most `timeout` seconds (default 1 s)
    report.ready, report.failing      # True / ("redis",)

Each check runs in its own thread, so a store that hangs costs the caller `timeout`
seconds and no more. A check still running from an earlier probe is not started a
second time: the probe waits for the one in flight (and reports the store failing if it
does not finish in time), so a dead backend never piles up threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Final

import attrs

from adapters.storage.urls import Storage, database_kind
from archive_core.ids import UserId
from archive_core.ports import Clock

__all__ = ["Readiness", "ReadinessReport", "StoreCheck", "store_checks", "store_names"]

DEFAULT_TIMEOUT: Final = 1.0
# Looked up, never found: a read of the database and a no-op on the replay store.
_PROBE_USER: Final = UserId("us-readyz-probe-0000000000000000")
_PROBE_KEY: Final = "readyz-probe"


@attrs.frozen
class StoreCheck:
    """One store, by the name an operator knows it by, and its trivial query."""

    name: str
    query: Callable[[], None]


@attrs.frozen
class ReadinessReport:
    """Each store's name and whether it answered in time."""

    stores: Mapping[str, bool]

    @property
    def ready(self) -> bool:
        """True when every store answered."""
        return all(self.stores.values())

    @property
    def failing(self) -> tuple[str, ...]:
        """The stores that did not answer in time (or answered with an error)."""
        return tuple(name for name, ok in self.stores.items() if not ok)

    def to_json(self) -> dict[str, object]:
        """`{"status": "ready"|"unavailable", "stores": {name: "ok"|"unavailable"}, ...}`."""
        document: dict[str, object] = {
            "status": "ready" if self.ready else "unavailable",
            "stores": {n: "ok" if ok else "unavailable" for n, ok in self.stores.items()},
        }
        if not self.ready:
            document["failing"] = list(self.failing)
        return document


class Readiness:
    """Runs the store checks, each bounded by `timeout` seconds."""

    def __init__(
        self,
        checks: Sequence[StoreCheck],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.checks = tuple(checks)
        self.timeout = timeout
        #: called with a store's name each time its check fails (metrics)
        self.on_failure = on_failure
        self._lock = threading.Lock()
        self._in_flight: dict[str, Future[None]] = {}

    def check(self) -> ReadinessReport:
        """Every store's answer within `timeout` seconds in all."""
        deadline = time.monotonic() + self.timeout
        futures = {check.name: self._start(check) for check in self.checks}
        results: dict[str, bool] = {}
        for name, future in futures.items():
            try:
                future.result(timeout=max(0.0, deadline - time.monotonic()))
                ok = True
            except Exception:  # any error or the timeout: the store is not ready
                ok = False
            results[name] = ok
            if not ok and self.on_failure is not None:
                self.on_failure(name)
        return ReadinessReport(results)

    def _start(self, check: StoreCheck) -> Future[None]:
        with self._lock:
            running = self._in_flight.get(check.name)
            if running is not None and not running.done():
                return running
            future: Future[None] = Future()
            self._in_flight[check.name] = future

        def run() -> None:
            try:
                check.query()
            except BaseException as exc:  # handed to the waiting probe
                future.set_exception(exc)
            else:
                future.set_result(None)

        threading.Thread(target=run, name=f"readyz-{check.name}", daemon=True).start()
        return future


def store_names(db_url: str | None, replay_url: str | None) -> tuple[str, str]:
    """The names of the database and of the replay store (challenges, nonces) for a
    deployment's URLs: `sqlite`, `postgresql`, `memory`, `redis`; a replay store kept
    by the database's backend is `<backend>-replay`. Storage handed to `build` already
    opened (no URL) is `database` and `replay`."""
    if db_url is None:
        return "database", "replay"
    database = database_kind(db_url)
    if replay_url is None:
        return database, f"{database}-replay"
    if replay_url.lower().startswith(("redis:", "rediss:", "unix:")):
        return database, "redis"
    return database, "sqlite-replay"


def store_checks(
    storage: Storage, clock: Clock, *, db_url: str | None, replay_url: str | None
) -> list[StoreCheck]:
    """A read in a unit of work for the database, a no-op `take` for the replay store."""
    database, replay = store_names(db_url, replay_url)

    def read_database() -> None:
        with storage.uow_factory() as uow:
            uow.users.get(_PROBE_USER)

    def touch_replay_store() -> None:
        storage.challenges.take(_PROBE_KEY, user_id=_PROBE_USER, now=clock.now())

    return [StoreCheck(database, read_database), StoreCheck(replay, touch_replay_store)]
