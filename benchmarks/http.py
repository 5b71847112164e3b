"""`serve_rps_ratio` and `http_rps_ratio`: requests/s of `archive-core serve` as users run it.

`GET /auth/users/{id}` with a bearer token, on loopback, every server on one SQLite
file (WAL), each in its own process, started side by side and loaded in alternating
rounds (the order turns each round) with the same generator:

- `serve`: `archive-core serve --db FILE`, one worker: its HTTP stack, its protocol
  with the head bounds, its request-id layer and request log at its default level;
- `serve_metrics`: the same with `--metrics-port 0` (Prometheus metrics on);
- `fastapi`: the same service mounted in FastAPI (`archive_router`) on uvicorn;
- `fixed`: bare uvicorn answering a fixed JSON document.

The uvicorn peers run on the stack `serve` runs on (`installed_stack()`: httptools on
uvloop when installed, else h11 on asyncio), with uvicorn's own protocol for it.
`serve_rps_ratio` = serve ÷ fixed (goal ≥ 0.45), `http_rps_ratio` = serve ÷ fastapi
(goal ≥ 1.1): medians of the per-round ratios. The generator is `wrk` when installed
(one thread, 16 connections), else a Python keep-alive client with 16 threads, which
cannot drive bare uvicorn's rate on two cores: `serve_rps_ratio` measured with it is
reported as such and does not count against its goal.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from adapters.entrypoints.server import installed_stack
from adapters.wiring.bootstrap import build
from adapters.wiring.operations import bootstrap_org
from benchmarks.timing import Figure

__all__ = ["CONNECTIONS", "GOAL", "SERVE_GOAL", "Process", "Target", "run", "seed"]

GOAL = 1.1
SERVE_GOAL = 0.45
CONNECTIONS = 16
KINDS = ("serve", "serve_metrics", "fastapi", "fixed")
_READY = re.compile(r"serving on http://([0-9.]+):(\d+)")


class Target(Protocol):
    """What a load generator drives: a port, a path and the bearer token to send."""

    port: int
    path: str
    token: str


class Process:
    """A server process started with `command`; ready once it prints its address."""

    def __init__(self, command: Sequence[str], *, path: str, token: str) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            list(command),
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
            raise RuntimeError(f"{' '.join(command[2:])} did not start")
        self.path = path
        self.token = token

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def serve_command(db: str, *options: str) -> list[str]:
    """`archive-core serve` on a free loopback port, as a user starts it."""
    cli = [sys.executable, "-m", "adapters.entrypoints.cli"]
    return [*cli, "serve", "--db", db, "--port", "0", *options]


def seed(db: str) -> tuple[str, str]:
    """An org in the SQLite file `db`: its admin's user id and a bearer token (2 h)."""
    with build(db_url=db) as deployment:
        admin, _ = bootstrap_org(deployment)
        token = deployment.issue_bearer_token(admin.user.id, ttl=timedelta(hours=2))
    return admin.user.id, token


def _wrk(server: Target, seconds: float) -> float:
    wrk = shutil.which("wrk")
    assert wrk is not None
    result = subprocess.run(  # noqa: S603 - the wrk binary found on PATH
        [
            wrk,
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{max(1, round(seconds))}s",
            "-H",
            f"Authorization: Bearer {server.token}",
            f"http://127.0.0.1:{server.port}{server.path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"Requests/sec:\s+([0-9.]+)", result.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", result.stdout)
    if match is None or non2xx is not None:
        raise RuntimeError(f"wrk run failed:\n{result.stdout}")
    return float(match.group(1))


def _python_load(server: Target, seconds: float) -> float:
    stop = time.monotonic() + seconds
    counts = [0] * CONNECTIONS
    headers = {"Authorization": f"Bearer {server.token}"}

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        while time.monotonic() < stop:
            connection.request("GET", server.path, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"unexpected status {response.status}")
            counts[index] += 1
        connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - started)


def load_generator() -> tuple[str, Callable[[Target, float], float]]:
    """`wrk` when it is installed, else the Python client."""
    return ("wrk", _wrk) if shutil.which("wrk") else ("python", _python_load)


def _start(kind: str, db: str, user_id: str, token: str, stack: str) -> Process:
    path = f"/auth/users/{user_id}"
    if kind == "serve":
        return Process(serve_command(db), path=path, token=token)
    if kind == "serve_metrics":
        return Process(serve_command(db, "--metrics-port", "0"), path=path, token=token)
    peer = [sys.executable, "-m", "benchmarks.http_server", kind, db, stack]
    return Process(peer, path=path, token=token)


def figure(values: list[float], unit: str) -> dict[str, Any]:
    return Figure(statistics.median(values), min(values), max(values), unit).to_dict()


def run(*, quick: bool, tiny: bool = False) -> dict[str, Any]:
    """Start the servers, load them in alternating rounds, report medians."""
    rounds = 1 if tiny else 3 if quick else 7
    seconds = 0.5 if tiny else 2.0 if quick else 5.0
    generator, load = load_generator()
    stack = installed_stack()
    samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "http.db")
        user_id, token = seed(db)
        servers: dict[str, Process] = {}
        try:
            for kind in KINDS:
                servers[kind] = _start(kind, db, user_id, token, stack)
            for server in servers.values():  # warm-up
                load(server, seconds / 2)
            for index in range(rounds):
                order = KINDS if index % 2 == 0 else tuple(reversed(KINDS))
                for kind in order:
                    samples[kind].append(load(servers[kind], seconds))
        finally:
            for server in servers.values():
                server.stop()
    serve = samples["serve"]
    against_fastapi = [s / f for s, f in zip(serve, samples["fastapi"], strict=True)]
    against_fixed = [s / f for s, f in zip(serve, samples["fixed"], strict=True)]
    with_metrics = [m / f for m, f in zip(samples["serve_metrics"], samples["fixed"], strict=True)]
    result: dict[str, Any] = {
        "serve_rps_ratio": statistics.median(against_fixed),
        "http_rps_ratio": statistics.median(against_fastapi),
        "figures": {
            "http_rps_serve": figure(serve, "req/s"),
            "http_rps_serve_metrics": figure(samples["serve_metrics"], "req/s"),
            "http_rps_fastapi": figure(samples["fastapi"], "req/s"),
            "http_rps_uvicorn_fixed_json": figure(samples["fixed"], "req/s"),
            "serve_rps_ratio": figure(against_fixed, "×"),
            "serve_metrics_rps_ratio": figure(with_metrics, "×"),
            "http_rps_ratio": figure(against_fastapi, "×"),
            "http_stack": {"name": stack},
            "http_load_generator": {"name": generator},
            # The machine's 1-minute load average before and after: other jobs share it.
            "http_load_average": {"before": load_before, "after": os.getloadavg()[0]},
        },
    }
    if generator != "wrk":
        result["uncounted"] = ["serve_rps_ratio"]
    return result


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
