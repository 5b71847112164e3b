"""The reference ASGI 3 application: no web framework, the shared `HttpHandler` inside.

Per request: route and framing checks on the event loop (cheap, no I/O), the body read
with the 64 KiB limit enforced while it streams in, then the synchronous use case: in a
bounded worker pool when it may wait on its stores (`Exchange.waits`, from
`Served.may_wait`), so a slow store never blocks the loop; on the loop otherwise,
where a thread hop would cost more than the whole use case (docs/http.md, "Threads").

    app = AsgiApplication(deployment)          # uvicorn module:app
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final
from urllib.parse import quote

from adapters.transport.http import (
    MAX_BODY,
    MAX_HEAD_BYTES,
    MAX_HEADER_LINES,
    HttpHandler,
    HttpResponse,
    StreamedResponse,
)
from adapters.transport.port import Served
from archive_core.requests import Headers, Request

__all__ = [
    "AsgiApplication",
    "Receive",
    "Scope",
    "Send",
    "header_pairs",
    "raw_target",
    "request_from_scope",
    "request_target",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log: Final = logging.getLogger("archive_core.http")

# Characters a path keeps unescaped when it has to be re-encoded (RFC 3986 pchar + "/").
PATH_SAFE: Final = "/:@!$&'()*+,;=-._~"


def raw_target(scope: Scope, *, prefix: str = "") -> str:
    """The request path as the client sent it (percent-encoding intact), minus the mount.

    `raw_path` when the server provides it, else `path` re-encoded. `root_path` (and an
    embedding's `prefix`) is removed when the path starts with it.
    """
    raw: bytes | None = scope.get("raw_path")
    root: str = scope.get("root_path", "")
    if raw is not None:
        text = raw.decode("latin-1")
        cut = text.find("?")
        if cut >= 0:
            text = text[:cut]
        if root:
            mount = quote(root.encode("utf-8", "surrogateescape"), safe=PATH_SAFE)
            if text.startswith(mount):
                text = text[len(mount) :]
    else:
        path: str = scope.get("path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        text = quote(path.encode("utf-8", "surrogateescape"), safe=PATH_SAFE)
    if prefix and text.startswith(prefix):
        text = text[len(prefix) :]
    return text


def request_target(scope: Scope, *, prefix: str = "") -> str:
    """`raw_target`, then `?` and the query string as sent when there is one."""
    path = raw_target(scope, prefix=prefix)
    query: bytes = scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


def header_pairs(scope: Scope) -> Iterator[tuple[str, str]]:
    """Every header as sent (repeated names kept), bytes read as latin-1: never a crash.

    Lazy: the handler's head bound stops decoding at the first pair past the limit.
    """
    return ((name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"])


def request_from_scope(
    scope: Scope, body: bytes, *, prefix: str = "", params: Mapping[str, str] | None = None
) -> Request:
    """The core's `Request` for an HTTP scope and its complete body, for an embedder that
    calls a handler itself: the method, the raw path (`raw_target`: percent-encoding
    intact, without `root_path` and `prefix`), every header as sent, the exact body
    bytes and the raw query string. `params` are the path's parameters when the caller
    knows them (a router finds them; none by default).

    The transport's own checks (the head bound, the body limit, the framing) are the
    caller's to make: this only translates.
    """
    query: bytes = scope.get("query_string", b"")
    return Request(
        scope["method"],
        raw_target(scope, prefix=prefix),
        Headers(header_pairs(scope)),
        body,
        {} if params is None else params,
        query.decode("latin-1"),
    )


def _encode_headers(response: HttpResponse | StreamedResponse) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers]


class AsgiApplication:
    """An ASGI 3 application serving a deployment's operations, `GET /openapi.json` and
    the probes.

    `max_workers` bounds the threads that run the synchronous use cases (default: the
    standard library's `min(32, cpu_count + 4)`).
    """

    def __init__(
        self,
        served: Served | None = None,
        *,
        handler: HttpHandler | None = None,
        max_body: int = MAX_BODY,
        max_head_bytes: int = MAX_HEAD_BYTES,
        max_header_lines: int = MAX_HEADER_LINES,
        max_workers: int | None = None,
    ) -> None:
        if handler is None:
            if served is None:
                raise TypeError("AsgiApplication needs a deployment or a handler")
            handler = HttpHandler(
                served,
                max_body=max_body,
                max_head_bytes=max_head_bytes,
                max_header_lines=max_header_lines,
            )
        self.handler = handler
        self._max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ ASGI entry
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            response, waits = await self._answer(scope, receive, "")
            if response is None:  # the client went away before the body was complete
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": _encode_headers(response),
                }
            )
            if isinstance(response, StreamedResponse):
                await self._stream(response.chunks, send, waits=waits)
            else:
                await send({"type": "http.response.body", "body": response.body})
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1003})

    async def respond(
        self, scope: Scope, receive: Receive, *, prefix: str = ""
    ) -> HttpResponse | StreamedResponse | None:
        """The answer to one HTTP request (None when the client disconnected first).

        Embeddings in ASGI frameworks call this with the framework's scope and receive.
        """
        response, _waits = await self._answer(scope, receive, prefix)
        return response

    # ------------------------------------------------------------------ internals
    async def _answer(
        self, scope: Scope, receive: Receive, prefix: str
    ) -> tuple[HttpResponse | StreamedResponse | None, bool]:
        """`respond`'s answer, and whether it was made in the worker pool."""
        handler = self.handler
        started = handler.begin(
            scope["method"], request_target(scope, prefix=prefix), header_pairs(scope)
        )
        if isinstance(started, HttpResponse):
            return started, False
        body = await _read_body(receive, started.limit)
        if body is None:
            return None, False
        if len(body) > started.limit:
            return handler.too_large(started), False
        if not started.waits:  # its stores never wait: a hop would cost more than it
            return handler.finish(started, body), False
        loop = asyncio.get_running_loop()
        # The use case's thread sees this request's context (its id, for the log records).
        context = contextvars.copy_context()
        response = await loop.run_in_executor(
            self._pool(), functools.partial(context.run, handler.finish, started, body)
        )
        return response, True

    async def _stream(self, chunks: Iterable[bytes], send: Send, *, waits: bool) -> None:
        """Send a streamed answer chunk by chunk; each is made where its handler ran (in
        the worker pool when it may wait: it may read a store). A failure after the head
        is sent can only cut the answer short."""
        loop = asyncio.get_running_loop()
        iterator = iter(chunks)
        context = contextvars.copy_context()
        try:
            while True:
                if waits:
                    chunk = await loop.run_in_executor(self._pool(), context.run, _next, iterator)
                else:
                    chunk = next(iterator, None)
                if chunk is None:
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if not waits:
                    # A turn of the loop between chunks made on it: the server's writes
                    # go out (the fast stack gathers a turn's writes into one) and its
                    # flow control can hold the next chunk back: memory stays flat.
                    await asyncio.sleep(0)
        except Exception as exc:  # the status is sent: log, and end the body short
            log.error("a streamed answer failed after its head: %s", type(exc).__name__)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        await send({"type": "http.response.body", "body": b""})

    def _pool(self) -> ThreadPoolExecutor:
        executor = self._executor
        if executor is None:
            executor = self._executor = ThreadPoolExecutor(
                max_workers=self._max_workers, thread_name_prefix="archive-core-http"
            )
        return executor

    def close(self) -> None:
        """Stop the worker threads (also done on lifespan shutdown); reusable afterwards."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._pool()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.get_running_loop().run_in_executor(None, self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return


def _next(iterator: Iterator[bytes]) -> bytes | None:
    """The next chunk of a streamed answer, None at its end."""
    return next(iterator, None)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """At most `limit + 1` bytes: reading stops as soon as the limit is passed."""
    message = await receive()
    if message["type"] != "http.request":
        return None
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False) or len(body) > limit:
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > limit or not message.get("more_body", False):
            return b"".join(chunks)
