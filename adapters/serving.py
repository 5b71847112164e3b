"""`archive-core serve`: one process, or a supervisor and N worker processes on one port.

With `workers == 1` the server runs in the calling process, as it always has. With more,
uvicorn's own supervisor (`uvicorn.supervisors.Multiprocess`) does the work: the
supervisor binds the socket once and *spawns* each worker (a fresh interpreter, nothing
inherited), every worker accepts on the shared socket, a worker that dies is reported
(`archive_core.serve`, WARNING) and replaced, and SIGTERM/SIGINT stop every worker
gracefully (requests in flight finish) before the supervisor exits with status 0.

What is built where:

- the supervisor opens the store once before any worker starts, so migrations (and the
  creation of SQLite's files) never race, then closes it again;
- each worker builds its own deployment (connections, pools, signing key rings) in the
  worker factory `worker_app`, after the spawn: nothing that holds a connection or a
  lock crosses a process boundary. Signing keys, challenges, nonces and grants live in
  the shared store, so any worker verifies what another issued;
- the metrics listener (`--metrics-port`) runs in the supervisor (with one worker, in
  the server's process), never on the API port.
"""

from __future__ import annotations

import functools
import logging
import logging.config
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable
from typing import Final, TextIO

import attrs
import uvicorn
import uvicorn.config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from adapters.bootstrap import Deployment, build
from adapters.logs import log_config
from adapters.server import ReadyServer, uvicorn_config
from adapters.transport.asgi import AsgiApplication
from adapters.transport.observed import ObservedApplication, RequestObserver
from archive_core.config import Policy

__all__ = ["ServeSettings", "serve", "worker_app"]

log: Final = logging.getLogger("archive_core.serve")
# uvicorn's exit status of a worker that failed before serving (a broken app or bind).
_STARTUP_FAILURE: Final = int(getattr(uvicorn.config, "STARTUP_FAILURE", 3))
_WORKER_READY_TIMEOUT: Final = 60.0


@attrs.frozen(kw_only=True)
class ServeSettings:
    """Everything a worker needs to build its deployment (pickled into each worker)."""

    db_url: str
    replay_url: str | None = None
    policy: Policy = attrs.field(factory=Policy)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    log_format: str = "text"
    log_level: str = "warning"


def _observed(
    deployment: Deployment, observer: RequestObserver | None, *, close: bool
) -> ObservedApplication:
    readiness = deployment.service.readiness
    store_error = getattr(observer, "store_error", None)
    if readiness is not None and store_error is not None:
        readiness.on_failure = store_error
    return ObservedApplication(
        AsgiApplication(deployment.service),
        observer=observer,
        on_shutdown=deployment.close if close else None,
    )


def worker_app(settings: ServeSettings) -> ObservedApplication:
    """The application of one worker process: its own deployment, closed at shutdown."""
    observer: RequestObserver | None = None
    if settings.metrics_port is not None:
        from adapters.metrics import PrometheusMetrics  # noqa: PLC0415 - the [metrics] extra

        # PROMETHEUS_MULTIPROC_DIR is set: values go to this worker's files.
        observer = PrometheusMetrics(registry=None)
    deployment = build(
        db_url=settings.db_url, replay_url=settings.replay_url, policy=settings.policy
    )
    return _observed(deployment, observer, close=True)


def _configure(config: uvicorn.Config, settings: ServeSettings) -> None:
    """The reference settings (`uvicorn_config`) plus this run's logging."""
    config.log_config = log_config(settings.log_format, settings.log_level)
    config.log_level = settings.log_level
    config.configure_logging()


def serve(settings: ServeSettings, out: TextIO) -> int:
    """Run until SIGTERM/SIGINT; 0 once every process has stopped cleanly."""
    if settings.workers == 1:
        return _serve_one(settings, out)
    return _serve_many(settings, out)


def _ready_message(out: TextIO, host: str, port: int, workers: int) -> None:
    out.write(f"archive-core serving on http://{host}:{port} ({workers} worker")
    out.write("s)\n" if workers > 1 else ")\n")
    out.flush()


def _metrics_message(out: TextIO, host: str, port: int) -> None:
    out.write(f"archive-core metrics on http://{host}:{port}/metrics\n")
    out.flush()


def _serve_one(settings: ServeSettings, out: TextIO) -> int:
    stop_metrics: Callable[[], None] = lambda: None  # noqa: E731 - replaced when metrics run
    observer: RequestObserver | None = None
    if settings.metrics_port is not None:
        from adapters.metrics import (  # noqa: PLC0415 - the [metrics] extra
            PrometheusMetrics,
            single_process_registry,
            start_metrics_server,
        )

        registry = single_process_registry()
        observer = PrometheusMetrics(registry)
        server, port = start_metrics_server(
            registry, host=settings.metrics_host, port=settings.metrics_port
        )
        stop_metrics = server.shutdown
        _metrics_message(out, settings.metrics_host, port)
    try:
        with build(
            db_url=settings.db_url, replay_url=settings.replay_url, policy=settings.policy
        ) as deployment:
            config = uvicorn_config(deployment.service, host=settings.host, port=settings.port)
            config.app = _observed(deployment, observer, close=False)
            _configure(config, settings)
            api = ReadyServer(
                config, lambda host, port: _ready_message(out, host, port, settings.workers)
            )
            # uvicorn turns SIGINT/SIGTERM into a graceful shutdown (requests in flight
            # finish), then re-raises the signal to whatever handler was there before: with
            # this one in place, that ends the command normally instead of killing it.
            for stop_signal in (signal.SIGINT, signal.SIGTERM):
                signal.signal(stop_signal, lambda signum, frame: None)
            api.run()
    finally:
        stop_metrics()
    return 0


class _Supervisor(Multiprocess):
    """uvicorn's supervisor, reporting each worker that dies before it is replaced, and
    announcing readiness once every worker serves."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self.on_ready: Callable[[], None] = lambda: None

    def init_processes(self) -> None:
        super().init_processes()
        for process in self.processes:
            process.wait_until_ready(_WORKER_READY_TIMEOUT, self.should_exit)
        if not self.should_exit.is_set():
            self.on_ready()

    def pids(self) -> list[int]:
        """The process ids of the current workers."""
        return [p.pid for p in self.processes if p.pid is not None]

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for index, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung or gone: make sure it is gone
            process.join()
            if process.exitcode == _STARTUP_FAILURE:
                log.error("worker %d (pid %s) failed to start; stopping", index + 1, process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.warning(
                "worker %d (pid %s) exited with status %s; starting a replacement",
                index + 1,
                process.pid,
                process.exitcode,
            )
            replacement = Process(self.config, self.sockets)
            replacement.start()
            self.processes[index] = replacement


def _serve_many(settings: ServeSettings, out: TextIO) -> int:
    # The store is opened once here so that migrations run before any worker starts.
    with build(
        db_url=settings.db_url, replay_url=settings.replay_url, policy=settings.policy
    ) as deployment:
        config = uvicorn_config(deployment.service, host=settings.host, port=settings.port)
    config.app = functools.partial(worker_app, settings)
    config.factory = True
    config.workers = settings.workers
    _configure(config, settings)
    metrics_dir: str | None = None
    stop_metrics: Callable[[], None] = lambda: None  # noqa: E731 - replaced when metrics run
    listener = config.bind_socket()
    try:
        if settings.metrics_port is not None:
            # A fresh directory per run, set before any worker starts (they inherit it).
            metrics_dir = tempfile.mkdtemp(prefix="archive-core-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        supervisor = _Supervisor(config, [listener])
        host, port = listener.getsockname()[:2]
        supervisor.on_ready = lambda: _ready_message(out, host, port, settings.workers)
        if settings.metrics_port is not None and metrics_dir is not None:
            from adapters.metrics import (  # noqa: PLC0415 - the [metrics] extra
                multiprocess_registry,
                start_metrics_server,
            )

            server, metrics_port = start_metrics_server(
                multiprocess_registry(metrics_dir, supervisor.pids),
                host=settings.metrics_host,
                port=settings.metrics_port,
            )
            stop_metrics = server.shutdown
            _metrics_message(out, settings.metrics_host, metrics_port)
        supervisor.run()
    finally:
        stop_metrics()
        listener.close()
        if metrics_dir is not None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0
