"""The watchdog that bounds PostgreSQL commits: an alarm fires once, after its deadline,
unless disarmed first, and exactly one of the two is true."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from adapters.storage.watchdog import SLACK, Watchdog

# Generous: the machine running the suite may be busy.
_PATIENCE = 10.0


@pytest.fixture
def watchdog() -> Iterator[Watchdog]:
    dog = Watchdog(name="test-watchdog")
    yield dog
    dog.close()


def test_an_alarm_fires_after_its_deadline_and_once(watchdog: Watchdog) -> None:
    fired: list[float] = []
    done = threading.Event()

    def action() -> None:
        fired.append(time.monotonic())
        done.set()

    armed = time.monotonic()
    alarm = watchdog.arm(0.2, action)
    assert done.wait(_PATIENCE)
    assert fired[0] - armed >= 0.2
    assert alarm.disarm() is True  # it had fired
    assert alarm.disarm() is True
    time.sleep(0.2 + SLACK)
    assert len(fired) == 1


def test_a_disarmed_alarm_never_fires(watchdog: Watchdog) -> None:
    fired = threading.Event()
    alarm = watchdog.arm(0.1, fired.set)
    assert alarm.disarm() is False
    assert alarm.disarm() is False
    later = threading.Event()
    watchdog.arm(0.3, later.set)  # a later alarm fires: the thread went past the first
    assert later.wait(_PATIENCE)
    assert not fired.is_set()


def test_an_earlier_alarm_armed_last_fires_first(watchdog: Watchdog) -> None:
    order: list[str] = []
    first = threading.Event()

    def early() -> None:
        order.append("early")
        first.set()

    watchdog.arm(30.0, lambda: order.append("late"))
    watchdog.arm(0.1, early)
    assert first.wait(_PATIENCE)
    assert order == ["early"]


def test_a_blocking_action_delays_no_other_alarm(watchdog: Watchdog) -> None:
    release = threading.Event()
    second = threading.Event()

    def block() -> None:
        release.wait(_PATIENCE)

    watchdog.arm(0.05, block)  # blocks until released
    started = time.monotonic()
    watchdog.arm(0.2, second.set)
    try:
        assert second.wait(_PATIENCE)
        assert time.monotonic() - started < _PATIENCE / 2
    finally:
        release.set()


def test_a_closed_watchdog_fires_nothing_and_arms_nothing() -> None:
    dog = Watchdog(name="closing")
    fired = threading.Event()
    dog.arm(0.1, fired.set)
    dog.close()
    dog.close()
    time.sleep(0.1 + 2 * SLACK)
    assert not fired.is_set()
    with pytest.raises(RuntimeError, match="the watchdog closing is closed"):
        dog.arm(1.0, fired.set)
