"""`workers_rps_ratio`: requests/s of `archive-core serve --workers 2` ÷ `--workers 1`.

`GET /auth/users/{id}` with a bearer token, on loopback, both servers on one SQLite file
(WAL), started side by side and loaded in alternating rounds with the same generator as
`http_rps_ratio` (wrk, one thread, 16 connections; a Python client when wrk is absent).
The figure is the median of the per-round ratios. The load generator shares the machine
with the workers, so on 2 cores the ceiling is below 2. Goal: ≥ 1.5.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from adapters.wiring.bootstrap import build
from adapters.wiring.operations import bootstrap_org
from archive_core.entities import TokenKind
from benchmarks.http import _python_load, _wrk
from benchmarks.timing import Figure

__all__ = ["GOAL", "run"]

GOAL = 1.5
COUNTS = (1, 2)
_READY = re.compile(r"archive-core serving on http://([0-9.]+):(\d+)")


class _Serve:
    """`archive-core serve --workers N` on a free loopback port."""

    def __init__(self, db: str, workers: int, user_id: str, token: str) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "adapters.entrypoints.cli",
                "serve",
                "--db",
                db,
                "--port",
                "0",
                "--workers",
                str(workers),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            match = _READY.search(line)
            if match:
                self.port = int(match.group(2))
                break
        else:
            self.stop()
            raise RuntimeError(f"serve --workers {workers} did not start")
        self.path = f"/auth/users/{user_id}"
        self.token = token

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def run(*, quick: bool, tiny: bool = False) -> dict[str, Any]:
    """Start both servers, load them in alternating rounds, report medians."""
    rounds = 1 if tiny else 4 if quick else 9
    seconds = 0.5 if tiny else 2.0 if quick else 5.0
    load: Any = _wrk if shutil.which("wrk") else _python_load
    samples: dict[int, list[float]] = {count: [] for count in COUNTS}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "workers.db")
        with build(db_url=db) as deployment:
            admin, _ = bootstrap_org(deployment)
            token = deployment.bearer_tokens.issue(
                admin.user,
                now=deployment.clock.now(),
                ttl=timedelta(hours=2),
                token_kind=TokenKind.LOGIN,
            )
        servers: dict[int, _Serve] = {}
        try:
            for count in COUNTS:
                servers[count] = _Serve(db, count, admin.user.id, token)
            for server in servers.values():  # warm-up
                load(server, seconds / 2)
            for index in range(rounds):
                # Alternate which goes first, so neither always follows the other's load.
                order = COUNTS if index % 2 == 0 else tuple(reversed(COUNTS))
                for count in order:
                    samples[count].append(load(servers[count], seconds))
                    time.sleep(0.2)
        finally:
            for server in servers.values():
                server.stop()
    ratios = [two / one for one, two in zip(samples[1], samples[2], strict=True)]

    def figure(values: list[float], unit: str) -> dict[str, Any]:
        return Figure(statistics.median(values), min(values), max(values), unit).to_dict()

    return {
        "workers_rps_ratio": statistics.median(ratios),
        "figures": {
            "workers_rps_1": figure(samples[1], "req/s"),
            "workers_rps_2": figure(samples[2], "req/s"),
            "workers_rps_ratio": figure(ratios, "×"),
            "workers_load_generator": {"name": "wrk" if load is _wrk else "python"},
            # The machine's 1-minute load average before and after: other jobs share it.
            "workers_load_average": {"before": load_before, "after": os.getloadavg()[0]},
        },
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
