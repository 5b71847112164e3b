"""Running the reference ASGI application on uvicorn: in the foreground (`archive-core serve`)
or in a background thread (the demo and the tests), always on a port that is known once
the server is ready.

Two HTTP stacks (`STACKS`): uvicorn's fast one, httptools on uvloop, when both are
installed (the `server` extra: `pip install 'archive-core[server]'`), else h11 on
asyncio (`installed_stack`). The request head is bounded twice on each, with the same
numbers: the protocol refuses a head that passes 16 KiB while it is still incomplete
(`HeadBoundHttpToolsProtocol` in `fast_stack`, `HeadBoundH11Protocol` here, both
answering with the JSON 431 instead of uvicorn's plain-text 400), and
`HttpHandler.begin` refuses a complete head over the bounds, however it arrived.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any, Final, Self

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from adapters.transport.asgi import AsgiApplication
from adapters.transport.cors import CorsApplication
from adapters.transport.http import MAX_HEAD_BYTES, head_too_large
from adapters.transport.port import Served

__all__ = [
    "FAST_STACK",
    "PLAIN_STACK",
    "STACKS",
    "BackgroundServer",
    "HeadBoundH11Protocol",
    "ReadyServer",
    "installed_stack",
    "uvicorn_config",
]

#: httptools on uvloop (the `server` extra), and h11 on asyncio (always installed).
FAST_STACK: Final = "httptools"
PLAIN_STACK: Final = "h11"
#: Each stack's event loop, by the name uvicorn gives it.
STACKS: Final = {FAST_STACK: "uvloop", PLAIN_STACK: "asyncio"}


def installed_stack() -> str:
    """The fast stack when httptools and uvloop are both installed, else the plain one."""
    fast = all(importlib.util.find_spec(name) is not None for name in ("httptools", "uvloop"))
    return FAST_STACK if fast else PLAIN_STACK


def _protocol(stack: str) -> type[asyncio.Protocol]:
    if stack == PLAIN_STACK:
        return HeadBoundH11Protocol
    if stack == FAST_STACK:
        from adapters.entrypoints.fast_stack import (  # noqa: PLC0415 - the [server] extra
            HeadBoundHttpToolsProtocol,
        )

        return HeadBoundHttpToolsProtocol
    raise ValueError(f"no HTTP stack {stack!r}: one of {', '.join(STACKS)}")


class _HeadBoundConnection(h11.Connection):
    """An h11 server connection that remembers when it refused a head for its size."""

    head_too_large = False

    def next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as exc:
            # h11's only 431: the receive buffer passed max_incomplete_event_size.
            self.head_too_large = exc.error_status_hint == 431
            raise


class HeadBoundH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering an oversized head with the JSON 431 of the API."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.head_limit = config.h11_max_incomplete_event_size or MAX_HEAD_BYTES
        self.conn = _HeadBoundConnection(h11.SERVER, self.head_limit)

    def data_received(self, data: bytes) -> None:
        """Feed h11 at most one head's worth of bytes at a time.

        h11 only enforces its buffer limit on an *incomplete* head: a 240 KB head that
        arrives in one read would be parsed whole (tens of milliseconds on the event
        loop). In slices, the limit trips on the second slice, whatever the read size.
        """
        step = self.head_limit
        if len(data) <= step:
            super().data_received(data)
            return
        for start in range(0, len(data), step):
            if self.transport.is_closing() or self.conn.their_state is h11.ERROR:
                return
            super().data_received(data[start : start + step])

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a protocol error; the 431 case gets the API's error body."""
        conn = self.conn
        if not (isinstance(conn, _HeadBoundConnection) and conn.head_too_large):
            super().send_400_response(msg)
            return
        response = head_too_large()
        headers = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers
        ]
        headers.append((b"connection", b"close"))
        write = self.transport.write
        write(conn.send(h11.Response(status_code=response.status, headers=headers)) or b"")
        write(conn.send(h11.Data(data=response.body)) or b"")
        write(conn.send(h11.EndOfMessage()) or b"")
        self.transport.close()


def uvicorn_config(
    served: Served,
    *,
    host: str,
    port: int,
    max_head_bytes: int = MAX_HEAD_BYTES,
    cors_origins: Iterable[str] = (),
    stack: str | None = None,
) -> uvicorn.Config:
    """The uvicorn settings the reference server runs with, on `stack` (one of `STACKS`;
    by default `installed_stack()`). `cors_origins` (serve --cors-origin) wraps the
    application in CORS for those origins."""
    stack = installed_stack() if stack is None else stack
    protocol = _protocol(stack)
    origins = frozenset(cors_origins)
    plain = AsgiApplication(served, max_head_bytes=max_head_bytes)
    app = CorsApplication(plain, origins) if origins else plain
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        loop=STACKS[stack],
        # The head in progress may hold the whole bounded head and its blank line: a head
        # the handler accepts is never refused while it arrives, however it is split.
        h11_max_incomplete_event_size=max_head_bytes + len(b"\r\n"),
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
    """The reference server in a daemon thread, for the demo and the tests, on `stack`
    (by default the one `serve` runs on: `installed_stack()`).

    `with BackgroundServer(deployment) as server: server.url` — the server stops (cleanly,
    finishing requests in flight) when the block ends.
    """

    def __init__(
        self,
        served: Served,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        cors_origins: Iterable[str] = (),
        stack: str | None = None,
    ) -> None:
        self._ready = threading.Event()
        self._address: tuple[str, int] | None = None
        config = uvicorn_config(
            served, host=host, port=port, cors_origins=cors_origins, stack=stack
        )
        self._server = ReadyServer(config, self._set)
        self._thread = threading.Thread(target=self._run, name="archive-core-server", daemon=True)
        self._error: BaseException | None = None

    def _set(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._ready.set()

    def _run(self) -> None:
        try:
            with asyncio.Runner(loop_factory=self._server.config.get_loop_factory()) as runner:
                runner.run(self._server.serve())
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
