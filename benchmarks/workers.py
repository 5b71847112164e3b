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
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.http import Process, figure, load_generator, seed, serve_command

__all__ = ["GOAL", "run"]

GOAL = 1.5
COUNTS = (1, 2)


def run(*, quick: bool, tiny: bool = False) -> dict[str, Any]:
    """Start both servers, load them in alternating rounds, report medians."""
    rounds = 1 if tiny else 4 if quick else 9
    seconds = 0.5 if tiny else 2.0 if quick else 5.0
    generator, load = load_generator()
    samples: dict[int, list[float]] = {count: [] for count in COUNTS}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "workers.db")
        user_id, token = seed(db)
        path = f"/auth/users/{user_id}"
        servers: dict[int, Process] = {}
        try:
            for count in COUNTS:
                command = serve_command(db, "--workers", str(count))
                servers[count] = Process(command, path=path, token=token)
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
    return {
        "workers_rps_ratio": statistics.median(ratios),
        "figures": {
            "workers_rps_1": figure(samples[1], "req/s"),
            "workers_rps_2": figure(samples[2], "req/s"),
            "workers_rps_ratio": figure(ratios, "×"),
            "workers_load_generator": {"name": generator},
            # The machine's 1-minute load average before and after: other jobs share it.
            "workers_load_average": {"before": load_before, "after": os.getloadavg()[0]},
        },
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
