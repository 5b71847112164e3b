"""`archive-core serve`: one process, or a supervisor and N worker processes on one port.

With `workers == 1` the server runs in the calling process, as it always has. With more,
a supervisor built on uvicorn's (`uvicorn.supervisors.Multiprocess`) *spawns* each
worker (a fresh interpreter, nothing inherited); a worker that dies is reported
(`archive_core.serve`, WARNING) and replaced; SIGTERM/SIGINT stop every worker
gracefully (requests in flight finish) before the supervisor exits with status 0;
SIGHUP replaces the workers one by one.

On Linux each worker listens on a socket of its own bound to the same port with
`SO_REUSEPORT`, and the kernel spreads new connections over the workers. uvicorn's own
`--workers` shares one listening socket instead, and asyncio workers then take
connections in bursts: a pool of keep-alive connections opened at once lands on one
worker (measured: one worker at 99 % of the CPU time, the other idle). Elsewhere the
workers share one socket. The supervisor makes every socket before the first worker
starts, after proving the port free (`listening.py`: a port already in use is refused
with one line), and keeps them for its whole life: worker N always serves socket N,
and its replacement takes the same socket over (connections that arrive meanwhile
wait in that socket's queue).

A worker exits when its supervisor dies, even by SIGKILL: on Linux the kernel sends it
SIGTERM (`PR_SET_PDEATHSIG`), elsewhere a thread that watches its parent does, and the
worker stops as on any SIGTERM (requests in flight finish).

What is built where:

- the supervisor opens the store once before any worker starts, so migrations (and the
  creation of SQLite's files) never race, then closes it again;
- each worker builds its own deployment (connections, pools, signing key rings) in the
  worker factory `worker_app`, after the spawn: nothing that holds a connection or a
  lock crosses a process boundary. Signing keys, challenges, nonces and grants live in
  the shared store, so any worker verifies what another issued;
- the metrics listener (`--metrics-port`) runs in the supervisor (with one worker, in
  the server's process), never on the API port.

The API port is taken first, so a port in use is refused before the store is opened
(or migrated); then the store and the metrics port. Each failure is one line
(`CannotListen`, `StorageStartError`) and closes what was opened before it.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import logging.config
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, TextIO, cast

import attrs
import uvicorn
import uvicorn.config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from adapters.entrypoints.listening import (
    REUSE_PORT,
    listen,
    listening,
    worker_sockets,
)
from adapters.entrypoints.references import load_operation
from adapters.entrypoints.server import ReadyServer, uvicorn_config
from adapters.observability.logs import log_config
from adapters.transport.observed import AsgiApp, ObservedApplication, RequestObserver
from adapters.transport.port import Served
from adapters.transport.routes import RouteTable
from adapters.wiring.bootstrap import Deployment, build
from archive_core.config import Policy
from archive_core.operations import OPERATIONS

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["ServeSettings", "follow_parent", "serve", "watch_parent", "worker_app"]

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
    cors_origins: frozenset[str] = frozenset()
    #: PostgreSQL: seconds a commit may wait for a synchronous standby (None: the store's
    #: default, `postgres.DEFAULT_COMMIT_TIMEOUT`)
    commit_timeout: float | None = None
    #: `MODULE:NAME` of each embedder's declaration served beside the library's
    #: (`serve --operation`); each worker imports them itself
    operations: tuple[str, ...] = ()

    def build(self) -> Deployment:
        """The deployment these settings describe (its storage opened)."""
        return build(
            db_url=self.db_url,
            replay_url=self.replay_url,
            policy=self.policy,
            commit_timeout=self.commit_timeout,
            operations=(*OPERATIONS, *map(load_operation, self.operations)),
        )


def _reference_config(served: Served, settings: ServeSettings) -> uvicorn.Config:
    """The reference server's uvicorn settings (`uvicorn_config`: the application with
    every layer it puts around it, the protocol limits) with this run's logging.

    Logging is applied last: building a `uvicorn.Config` resets uvicorn's own loggers.
    """
    config = uvicorn_config(
        served, host=settings.host, port=settings.port, cors_origins=settings.cors_origins
    )
    config.log_config = log_config(settings.log_format, settings.log_level)
    config.log_level = settings.log_level
    config.configure_logging()
    return config


def _application(config: uvicorn.Config) -> AsgiApp:
    """The ASGI 3 application object `uvicorn_config` put in the settings."""
    app = config.app
    if isinstance(app, str | type) or not callable(app):
        raise TypeError("uvicorn_config must hold an ASGI 3 application object")
    return cast(AsgiApp, app)


def _observed(
    app: AsgiApp,
    deployment: Deployment,
    observer: RequestObserver | None,
    *,
    close: bool,
) -> ObservedApplication:
    """`app` (as `uvicorn_config` built it) inside the request-id and metrics layer."""
    readiness = deployment.readiness
    if readiness is not None and observer is not None:
        readiness.on_failure = observer.store_error
    return ObservedApplication(
        app,
        routes=RouteTable.served(deployment.endpoints),
        observer=observer,
        on_shutdown=deployment.close if close else None,
    )


def worker_app(settings: ServeSettings) -> ObservedApplication:
    """The application of one worker process: its own deployment, closed at shutdown."""
    observer: RequestObserver | None = None
    if settings.metrics_port is not None:
        from adapters.observability.metrics import PrometheusMetrics  # noqa: PLC0415 - the [metrics] extra

        # PROMETHEUS_MULTIPROC_DIR is set: values go to this worker's files.
        observer = PrometheusMetrics(registry=None)
    deployment = settings.build()
    app = _application(_reference_config(deployment, settings))
    return _observed(app, deployment, observer, close=True)


def serve(settings: ServeSettings, out: TextIO, err: TextIO | None = None) -> int:
    """Run until SIGTERM/SIGINT; 0 once every process has stopped cleanly, 2 when a
    worker could not start (one line on `err`, default stderr). A port in use is
    `CannotListen`, a store that cannot be opened `StorageStartError`."""
    if settings.workers == 1:
        return _serve_one(settings, out)
    return _serve_many(settings, out, err or sys.stderr)


def _ready_message(out: TextIO, host: str, port: int, workers: int) -> None:
    noun = "worker" if workers == 1 else "workers"
    out.write(f"archive-core serving on http://{host}:{port} ({workers} {noun})\n")
    out.flush()


def _metrics_message(out: TextIO, host: str, port: int) -> None:
    out.write(f"archive-core metrics on http://{host}:{port}/metrics\n")
    out.flush()


def _start_metrics(
    settings: ServeSettings, registry: CollectorRegistry, out: TextIO
) -> Callable[[], None]:
    """Serve `registry` on the metrics port; how to stop it."""
    from adapters.observability.metrics import start_metrics_server  # noqa: PLC0415 - the [metrics] extra

    host, port = settings.metrics_host, cast(int, settings.metrics_port)
    with listening(host, port, what="metrics port"):
        server, bound = start_metrics_server(registry, host=host, port=port)
    _metrics_message(out, host, bound)
    return server.shutdown


def _serve_one(settings: ServeSettings, out: TextIO) -> int:
    stop_metrics: Callable[[], None] = lambda: None  # noqa: E731 - replaced when metrics run
    observer: RequestObserver | None = None
    listener = listen(settings.host, settings.port)
    try:
        if settings.metrics_port is not None:
            from adapters.observability.metrics import (  # noqa: PLC0415 - the [metrics] extra
                PrometheusMetrics,
                single_process_registry,
            )

            registry = single_process_registry()
            observer = PrometheusMetrics(registry)
            stop_metrics = _start_metrics(settings, registry, out)
        with settings.build() as deployment:
            config = _reference_config(deployment, settings)
            config.app = _observed(_application(config), deployment, observer, close=False)
            api = ReadyServer(
                config, lambda host, port: _ready_message(out, host, port, settings.workers)
            )
            # uvicorn turns SIGINT/SIGTERM into a graceful shutdown (requests in flight
            # finish), then re-raises the signal to whatever handler was there before: with
            # this one in place, that ends the command normally instead of killing it.
            for stop_signal in (signal.SIGINT, signal.SIGTERM):
                signal.signal(stop_signal, lambda signum, frame: None)
            api.run(sockets=[listener])
    finally:
        stop_metrics()
        listener.close()
    return 0


# prctl(2): ask for a signal when the parent dies.
_PR_SET_PDEATHSIG: Final = 1
# How often the portable watcher looks at its parent.
_WATCH_EVERY: Final = 0.5


def watch_parent(parent: int, *, every: float = _WATCH_EVERY) -> None:
    """Send this process SIGTERM once its parent is no longer `parent` (it died, and the
    process was handed to another); for systems without `PR_SET_PDEATHSIG`."""
    while os.getppid() == parent:
        time.sleep(every)
    os.kill(os.getpid(), signal.SIGTERM)


def follow_parent(parent: int) -> bool:
    """Make this process get SIGTERM when `parent`, its parent, dies; False when it has
    died already (the request came too late to be delivered)."""
    requested = False
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        requested = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    if not requested:
        threading.Thread(
            target=watch_parent, args=(parent,), name="archive-core-parent", daemon=True
        ).start()
    # A parent that died before the request is not signalled: look once, now.
    return os.getppid() == parent


class _Worker(Process):
    """A uvicorn worker on its own listening socket (SO_REUSEPORT), or on the one the
    workers share, that stops when its supervisor dies."""

    def __init__(self, config: uvicorn.Config, listener: socket.socket) -> None:
        self.supervisor = os.getpid()
        super().__init__(config, [listener])

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # in the worker
        """Serve on the socket the supervisor made, for as long as the supervisor lives."""
        if follow_parent(self.supervisor):
            super().target(sockets)


class _Supervisor(Multiprocess):
    """uvicorn's supervisor with `_Worker`s: each worker that dies is reported, then
    replaced; readiness is announced once every worker serves.

    Why not one shared listening socket (uvicorn's own `--workers`): each asyncio worker
    accepts every pending connection it can when it wakes, so a burst of keep-alive
    connections (a load balancer's pool, a load generator) lands on one worker and the
    others idle. With a socket per worker the kernel spreads connections evenly. Worker
    `i` serves `sockets[i]` (or the one shared socket), replacements included.
    """

    def __init__(
        self, config: uvicorn.Config, sockets: list[socket.socket], address: tuple[str, int]
    ) -> None:
        super().__init__(config, sockets)
        self.address = address
        self.on_ready: Callable[[], None] = lambda: None
        #: a worker could not start (the configuration is broken): stop, status 2
        self.failed = False

    def _new_worker(self, index: int) -> _Worker:
        worker = _Worker(self.config, self.sockets[index % len(self.sockets)])
        worker.start()
        return worker

    def init_processes(self) -> None:
        self.processes = [self._new_worker(index) for index in range(self.processes_num)]
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
                self.failed = True
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
            self.processes[index] = self._new_worker(index)

    def restart_all(self) -> None:
        """SIGHUP: replace each worker in turn, the new one serving before the old stops."""
        for index, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._new_worker(index)
            if not new.wait_until_ready(_WORKER_READY_TIMEOUT, self.should_exit):
                new.kill()
                new.join()
                log.error("worker %d: its replacement did not start; keeping it", index + 1)
                return
            old.terminate()
            old.join()
            self.processes[index] = new

    def handle_ttin(self) -> None:
        """SIGTTIN: one more worker (on a socket of its own)."""
        if REUSE_PORT:
            self.sockets.append(listen(*self.address, join=True))
        self.processes_num += 1
        self.processes.append(self._new_worker(len(self.processes)))

    def handle_ttou(self) -> None:
        """SIGTTOU: one worker fewer (never none); its socket closes once it has stopped."""
        if self.processes_num <= 1:
            return
        self.processes_num -= 1
        process = self.processes.pop()
        process.terminate()
        process.join()
        if REUSE_PORT:
            self.sockets.pop().close()


def _serve_many(settings: ServeSettings, out: TextIO, err: TextIO) -> int:
    sockets = worker_sockets(settings.host, settings.port, settings.workers)
    host, port = sockets[0].getsockname()[:2]
    metrics_dir: str | None = None
    stop_metrics: Callable[[], None] = lambda: None  # noqa: E731 - replaced when metrics run
    try:
        # The store is opened once here so that migrations run before any worker starts.
        with settings.build() as deployment:
            config = _reference_config(deployment, settings)
        config.app = functools.partial(worker_app, settings)
        config.factory = True
        config.workers = settings.workers
        if settings.metrics_port is not None:
            # A fresh directory per run, set before any worker starts (they inherit it).
            metrics_dir = tempfile.mkdtemp(prefix="archive-core-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        supervisor = _Supervisor(config, sockets, (host, port))
        supervisor.on_ready = lambda: _ready_message(out, host, port, settings.workers)
        if settings.metrics_port is not None and metrics_dir is not None:
            from adapters.observability.metrics import multiprocess_registry  # noqa: PLC0415 - the [metrics] extra

            stop_metrics = _start_metrics(
                settings, multiprocess_registry(metrics_dir, supervisor.pids), out
            )
        supervisor.run()
        if supervisor.failed:
            err.write("archive-core: a worker failed to start (its log is above)\n")
            return 2
    finally:
        stop_metrics()
        for sock in sockets:
            sock.close()
        if metrics_dir is not None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0
