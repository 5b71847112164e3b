"""Running the reference ASGI application on uvicorn: in the foreground (`archive-core serve`)
or in a background thread (the demo and the tests), always on a port that is known once
the server is ready."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Self

import uvicorn

from adapters.service import Service
from adapters.transport.asgi import AsgiApplication
from adapters.transport.cors import CorsApplication

__all__ = ["BackgroundServer", "ReadyServer", "uvicorn_config"]


def uvicorn_config(
    service: Service, *, host: str, port: int, cors_origins: Iterable[str] = ()
) -> uvicorn.Config:
    """The uvicorn settings the reference server runs with (also used by the benchmarks).
    `cors_origins` (serve --cors-origin) wraps the application in CORS for those origins."""
    origins = frozenset(cors_origins)
    plain = AsgiApplication(service)
    app = CorsApplication(plain, origins) if origins else plain
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_level="warning",
        access_log=False,
        server_header=False,
        date_header=False,
    )


class ReadyServer(uvicorn.Server):
    """A uvicorn server that reports its bound address once it accepts connections."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[str, int], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start as uvicorn does, then call `on_ready(host, port)` with the real port."""
        await super().startup(sockets=sockets)
        if self.started:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            self._on_ready(str(host), int(port))


class BackgroundServer:
    """The reference server in a daemon thread, for the demo and the tests.

    `with BackgroundServer(service) as server: server.url` — the server stops (cleanly,
    finishing requests in flight) when the block ends.
    """

    def __init__(
        self,
        service: Service,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        cors_origins: Iterable[str] = (),
    ) -> None:
        self._ready = threading.Event()
        self._address: tuple[str, int] | None = None
        self._server = ReadyServer(
            uvicorn_config(service, host=host, port=port, cors_origins=cors_origins), self._set
        )
        self._thread = threading.Thread(target=self._run, name="archive-core-server", daemon=True)
        self._error: BaseException | None = None

    def _set(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._ready.set()

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve())
        except BaseException as exc:  # reported to the thread that waits for readiness
            self._error = exc
        finally:
            self._ready.set()

    @property
    def url(self) -> str:
        """`http://host:port` of the running server."""
        if self._address is None:
            raise RuntimeError("server is not running")
        host, port = self._address
        return f"http://{host}:{port}"

    def start(self, timeout: float = 30.0) -> None:
        """Start and wait until the server accepts connections."""
        self._thread.start()
        if not self._ready.wait(timeout) or self._address is None:
            raise RuntimeError("the server did not start") from self._error

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the server to finish and wait for its thread."""
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
