"""`http_rps_ratio`: requests/s of the reference ASGI app ÷ the same use case in FastAPI.

`GET /auth/users/{id}` with a bearer token, on loopback. Each app runs in its own
uvicorn process with the same settings; the load generator is `wrk` when it is
installed (one thread, 16 connections), else a Python keep-alive client with 16
threads — the same generator for both apps in one run. Rounds alternate the apps; the
figure is the median of the per-round ratios. Bare uvicorn answering a fixed JSON
document is measured beside them for context. Goal: ≥ 1.1 (higher is better).
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.timing import Figure

__all__ = ["GOAL", "run"]

GOAL = 1.1
CONNECTIONS = 16
KINDS = ("bare", "fastapi", "fixed")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Server:
    def __init__(self, kind: str, folder: Path) -> None:
        info = folder / f"{kind}.json"
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "benchmarks.http_server", kind, str(_free_port()), str(info)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not info.exists() or not info.read_text():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"the {kind} server did not start")
            time.sleep(0.05)
        details = json.loads(info.read_text())
        self.port = int(details["port"])
        self.path = f"/auth/users/{details['userId']}"
        self.token = str(details["token"])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _wrk(server: _Server, seconds: float) -> float:
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


def _python_load(server: _Server, seconds: float) -> float:
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


def run(*, quick: bool, tiny: bool = False) -> dict[str, Any]:
    """Start the three servers, load them in alternating rounds, report medians."""
    rounds = 1 if tiny else 3 if quick else 7
    seconds = 0.5 if tiny else 2.0 if quick else 5.0
    load = _wrk if shutil.which("wrk") else _python_load
    samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
    with tempfile.TemporaryDirectory() as folder:
        servers = {kind: _Server(kind, Path(folder)) for kind in KINDS}
        try:
            for server in servers.values():  # warm-up
                load(server, seconds / 2)
            for _ in range(rounds):
                for kind, server in servers.items():
                    samples[kind].append(load(server, seconds))
        finally:
            for server in servers.values():
                server.stop()
    ratios = [b / f for b, f in zip(samples["bare"], samples["fastapi"], strict=True)]

    def figure(values: list[float], unit: str) -> dict[str, Any]:
        return Figure(statistics.median(values), min(values), max(values), unit).to_dict()

    return {
        "http_rps_ratio": statistics.median(ratios),
        "figures": {
            "http_rps_bare_asgi": figure(samples["bare"], "req/s"),
            "http_rps_fastapi": figure(samples["fastapi"], "req/s"),
            "http_rps_uvicorn_fixed_json": figure(samples["fixed"], "req/s"),
            "http_rps_ratio": figure(ratios, "×"),
            "http_load_generator": {"name": "wrk" if load is _wrk else "python"},
        },
    }


if __name__ == "__main__":
    result = run(quick="--quick" in sys.argv)
    print(json.dumps(result, indent=2))
