"""Prometheus metrics of the reference server (`pip install 'archive-core[metrics]'`).

    metrics = PrometheusMetrics(registry)       # a RequestObserver for ObservedApplication

| Metric | Labels |
| --- | --- |
| `archive_core_http_requests_total` | `route` (the template), `method`, `status` |
| `archive_core_http_request_duration_seconds` (histogram) | `route`, `method` |
| `archive_core_decisions_total` | `operation`, `outcome` (`archived`, `permission_missing`, …) |
| `archive_core_store_errors_total` | `store` (`sqlite`, `postgresql`, `redis`, …) |

Label values come from fixed sets (routes, methods, statuses, the error catalogue's codes
and reasons, store names): never a user id, a token or a path parameter.

With several workers the values live in the client's multiprocess files
(`PROMETHEUS_MULTIPROC_DIR`, a fresh directory per run, set before the workers start);
the supervisor serves their sum, its own process metrics and each worker's CPU time,
resident memory and open files (`archive_core_worker_*`, label `worker`).

The listener (`start_metrics_server`) answers `GET` and `HEAD /metrics` only: any other
path is 404 and any other method on `/metrics` 405, with a fixed body that repeats
nothing of the request.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Final
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    make_wsgi_app,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

__all__ = [
    "PrometheusMetrics",
    "WorkerProcesses",
    "multiprocess_registry",
    "single_process_registry",
    "start_metrics_server",
]

LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class PrometheusMetrics:
    """Counts requests, latencies, decisions and store errors (`RequestObserver`)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.requests = Counter(
            "archive_core_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "archive_core_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.decisions = Counter(
            "archive_core_decisions",
            "Outcomes of the operations: the success outcome or the refusal's reason/code.",
            ["operation", "outcome"],
            registry=registry,
        )
        self.store_errors = Counter(
            "archive_core_store_errors",
            "Store failures seen by requests (503) and by readiness probes, by store.",
            ["store"],
            registry=registry,
        )

    def observe(
        self,
        *,
        route: str,
        method: str,
        status: int,
        seconds: float,
        operation: str | None,
        outcome: str | None,
        store_error: str | None,
    ) -> None:
        """Record one answered request."""
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)
        if operation is not None and outcome is not None:
            self.decisions.labels(operation, outcome).inc()
        if store_error is not None:
            self.store_errors.labels(store_error).inc()

    def store_error(self, store: str) -> None:
        """Record one failed readiness check of `store`."""
        self.store_errors.labels(store).inc()


def single_process_registry() -> CollectorRegistry:
    """A registry for one serving process, with its process, platform and GC metrics."""
    registry = CollectorRegistry()
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    return registry


class WorkerProcesses(Collector):
    """CPU time, resident memory and open files of each worker (read from `/proc`)."""

    def __init__(self, pids: Callable[[], Sequence[int]]) -> None:
        self._pids = pids
        self._ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def collect(self) -> Iterator[Metric]:
        """One sample per live worker and metric; a worker that just exited is skipped."""
        cpu = CounterMetricFamily(
            "archive_core_worker_cpu_seconds", "CPU time of each worker.", labels=["worker"]
        )
        memory = GaugeMetricFamily(
            "archive_core_worker_resident_memory_bytes",
            "Resident memory of each worker.",
            labels=["worker"],
        )
        files = GaugeMetricFamily(
            "archive_core_worker_open_fds",
            "Open file descriptors of each worker.",
            labels=["worker"],
        )
        alive = 0
        for index, pid in enumerate(self._pids(), start=1):
            try:
                with open(f"/proc/{pid}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
                open_files = len(os.listdir(f"/proc/{pid}/fd"))
            except OSError:
                continue
            alive += 1
            label = [str(index)]
            cpu.add_metric(label, (int(fields[11]) + int(fields[12])) / self._ticks)
            memory.add_metric(label, int(fields[21]) * self._page)
            files.add_metric(label, open_files)
        yield cpu
        yield memory
        yield files
        yield GaugeMetricFamily("archive_core_workers", "Worker processes alive.", value=alive)


def multiprocess_registry(directory: str, pids: Callable[[], Sequence[int]]) -> CollectorRegistry:
    """The supervisor's registry: the workers' summed values from `directory`, the
    supervisor's own process metrics and each worker's process figures."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]  # untyped upstream
    ProcessCollector(registry=registry)
    registry.register(WorkerProcesses(pids))
    return registry


_METRICS_PATH: Final = "/metrics"
_SERVED_METHODS: Final = ("GET", "HEAD")
_PLAIN: Final = ("Content-Type", "text/plain; charset=utf-8")


_Answer = tuple[str, list[tuple[str, str]], bytes]


def _scrape(exposition: WSGIApplication, environ: WSGIEnvironment) -> _Answer:
    """What `exposition` answers to a `GET` of `environ`'s path: status, headers, body."""
    started: list[tuple[str, list[tuple[str, str]]]] = []
    parts: list[bytes] = []

    def keep(
        status: str, headers: list[tuple[str, str]], exc_info: object = None, /
    ) -> Callable[[bytes], object]:
        started.append((status, headers))
        return parts.append

    parts.extend(exposition({**environ, "REQUEST_METHOD": "GET"}, keep))
    status, headers = started[-1]
    return status, headers, b"".join(parts)


def _metrics_only(exposition: WSGIApplication) -> WSGIApplication:
    """`exposition` (the client's WSGI app, which serves every path) at `GET` and `HEAD
    /metrics` only: 404 elsewhere, 405 for another method, each with a fixed body."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        answer: _Answer
        if environ.get("PATH_INFO") != _METRICS_PATH:
            answer = ("404 Not Found", [_PLAIN], b"404 Not Found\n")
        elif method not in _SERVED_METHODS:
            allow = ("Allow", ", ".join(_SERVED_METHODS))
            answer = ("405 Method Not Allowed", [_PLAIN, allow], b"405 Method Not Allowed\n")
        else:
            answer = _scrape(exposition, environ)
        status, headers, body = answer
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [b"" if method == "HEAD" else body]

    return app


class _QuietHandler(WSGIRequestHandler):
    """Writes no access line per scrape."""

    def log_message(self, format: str, *args: object) -> None:
        """Log nothing."""


def start_metrics_server(
    registry: CollectorRegistry, *, host: str, port: int
) -> tuple[WSGIServer, int]:
    """Serve `registry` at `http://host:port/metrics` (and nowhere else on the listener)
    in a daemon thread; the server and its real port."""
    family, _type, _proto, _name, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]

    class Listener(ThreadingWSGIServer):
        address_family = family  # the host's: an IPv6 host binds an IPv6 socket

    app = _metrics_only(make_wsgi_app(registry))
    server = make_server(str(address[0]), port, app, Listener, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, int(server.server_port)
