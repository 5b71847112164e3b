"""Deadlines kept by one thread: what bounds a PostgreSQL COMMIT from outside the thread
that waits on it.

    watchdog = Watchdog(name="archive-core:commits")
    alarm = watchdog.arm(5.0, cancel)     # `cancel` runs in 5 s, unless…
    fired = alarm.disarm()                # … this came first; True when it had fired
    watchdog.close()

One thread serves every alarm of a watchdog, so arming one costs a heap push, not a
thread. The thread wakes at most once per `SLACK` seconds while alarms are pending and
runs each action that is due in a thread of its own (an action may block: a cancel
request to a server that does not answer), so an alarm fires between its deadline and
`SLACK` seconds after it. An alarm fires at most once; `disarm` and the firing decide
under one lock, so exactly one of "disarmed in time" and "fired" is true.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import Final

__all__ = ["SLACK", "Alarm", "Watchdog"]

#: How late an alarm may fire, in seconds: due alarms are gathered per wake-up.
SLACK: Final = 0.05

_ARMED: Final = 0
_DISARMED: Final = 1
_FIRED: Final = 2


class Alarm:
    """One armed deadline of a `Watchdog`."""

    __slots__ = ("_action", "_state", "_watchdog")

    def __init__(self, watchdog: Watchdog, action: Callable[[], None]) -> None:
        self._watchdog = watchdog
        self._action = action
        self._state = _ARMED

    def disarm(self) -> bool:
        """Stop the alarm; True when it had already fired (its action ran or runs)."""
        with self._watchdog._lock:
            if self._state == _ARMED:
                self._state = _DISARMED
            return self._state == _FIRED


class Watchdog:
    """Runs each armed action once its deadline passes, unless disarmed first."""

    def __init__(self, *, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._due: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    def arm(self, seconds: float, action: Callable[[], None]) -> Alarm:
        """An alarm that runs `action` in `seconds` (in a thread of its own)."""
        alarm = Alarm(self, action)
        deadline = time.monotonic() + seconds
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the watchdog {self.name} is closed")
            earliest = self._due[0][0] if self._due else None
            heapq.heappush(self._due, (deadline, next(self._order), alarm))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            elif earliest is None or deadline < earliest:
                self._wake.notify()
        return alarm

    def close(self) -> None:
        """Stop the thread; pending alarms never fire (idempotent)."""
        with self._lock:
            self._closed = True
            self._due.clear()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                due = self._next_due()
                if due is None:
                    return
            for action in due:
                threading.Thread(target=action, name=f"{self.name}:fired", daemon=True).start()

    def _next_due(self) -> list[Callable[[], None]] | None:
        """Wait (holding the condition) until some alarms are due; their actions, each
        alarm marked fired. None once the watchdog is closed."""
        while not self._closed:
            if not self._due:
                self._wake.wait()
                continue
            now = time.monotonic()
            if self._due[0][0] > now:
                self._wake.wait(self._due[0][0] - now + SLACK)
                continue
            actions = []
            while self._due and self._due[0][0] <= now:
                alarm = heapq.heappop(self._due)[2]
                if alarm._state == _ARMED:
                    alarm._state = _FIRED
                    actions.append(alarm._action)
            if actions:
                return actions
        return None
