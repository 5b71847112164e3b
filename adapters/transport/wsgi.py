"""The reference WSGI application: the same `HttpHandler`, behind PEP 3333.

    app = WsgiApplication(deployment)          # gunicorn module:app

Differences from ASGI that WSGI imposes (see docs/http.md): servers fold a repeated
header into one comma-joined value (which the core then refuses as malformed), and
the raw path is read from `REQUEST_URI`/`RAW_URI` when the server provides it, else
rebuilt from `PATH_INFO` (where `%2F` is already indistinguishable from `/`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import IO, Any, Final
from urllib.parse import quote, urlsplit

from adapters.transport.asgi import PATH_SAFE
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
    "WsgiApplication",
    "environ_headers",
    "raw_target",
    "request_from_environ",
    "request_target",
]

StartResponse = Callable[..., Any]
Environ = Mapping[str, Any]

_STATUS_LINES: Final = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}
_READ_CHUNK: Final = 16 * 1024


def raw_target(environ: Environ, *, prefix: str = "") -> str:
    """The request path as the client sent it (percent-encoding intact), minus the mount.

    `REQUEST_URI` or `RAW_URI` when present (uWSGI, gunicorn, Werkzeug), else
    `SCRIPT_NAME + PATH_INFO` re-encoded. `SCRIPT_NAME` and `prefix` are removed.
    """
    script = quote(environ.get("SCRIPT_NAME", "").encode("latin-1", "replace"), safe=PATH_SAFE)
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    text: str | None = None
    if isinstance(raw, str) and raw:
        if raw.startswith("/"):
            text = raw.partition("?")[0]
        else:  # absolute-form request target
            try:
                text = urlsplit(raw).path or None
            except ValueError:
                text = None
        if text is not None and script and text.startswith(script):
            text = text[len(script) :]
    if text is None:
        path_info = environ.get("PATH_INFO", "")
        text = quote(path_info.encode("latin-1", "replace"), safe=PATH_SAFE)
    if prefix and text.startswith(prefix):
        text = text[len(prefix) :]
    return text


def request_target(environ: Environ, *, prefix: str = "") -> str:
    """`raw_target`, then `?` and the query string as sent (`QUERY_STRING`) when there is one."""
    path = raw_target(environ, prefix=prefix)
    query = environ.get("QUERY_STRING", "")
    return f"{path}?{query}" if isinstance(query, str) and query else path


def environ_headers(environ: Environ) -> list[tuple[str, str]]:
    """The request headers of a WSGI environ (`HTTP_*`, `CONTENT_TYPE`, `CONTENT_LENGTH`)."""
    pairs = [
        (key[5:].replace("_", "-"), value)
        for key, value in environ.items()
        if key.startswith("HTTP_") and isinstance(value, str)
    ]
    for key, name in (("CONTENT_TYPE", "content-type"), ("CONTENT_LENGTH", "content-length")):
        value = environ.get(key)
        if isinstance(value, str) and value:
            pairs.append((name, value))
    return pairs


def request_from_environ(
    environ: Environ, body: bytes, *, prefix: str = "", params: Mapping[str, str] | None = None
) -> Request:
    """The core's `Request` for a WSGI environ and its complete body, for an embedder that
    calls a handler itself: the method, the raw path (`raw_target`: from `REQUEST_URI` or
    `RAW_URI` when the server keeps it, without `SCRIPT_NAME` and `prefix`), the headers
    (`environ_headers`), the exact body bytes and the query string as sent. `params` are
    the path's parameters when the caller knows them (none by default).

    The transport's own checks (the head bound, the body limit, the framing) are the
    caller's to make: this only translates.
    """
    query = environ.get("QUERY_STRING", "")
    return Request(
        environ.get("REQUEST_METHOD", "GET"),
        raw_target(environ, prefix=prefix),
        Headers(environ_headers(environ)),
        body,
        {} if params is None else params,
        query if isinstance(query, str) else "",
    )


def _read(stream: IO[bytes], amount: int) -> bytes:
    """Up to `amount` bytes, looping over short reads; fewer only at end of stream."""
    chunks: list[bytes] = []
    remaining = amount
    while remaining > 0:
        chunk = stream.read(min(remaining, _READ_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


class WsgiApplication:
    """A WSGI application with the behaviour of `AsgiApplication`."""

    def __init__(
        self,
        served: Served | None = None,
        *,
        handler: HttpHandler | None = None,
        max_body: int = MAX_BODY,
        max_head_bytes: int = MAX_HEAD_BYTES,
        max_header_lines: int = MAX_HEADER_LINES,
    ) -> None:
        if handler is None:
            if served is None:
                raise TypeError("WsgiApplication needs a deployment or a handler")
            handler = HttpHandler(
                served,
                max_body=max_body,
                max_head_bytes=max_head_bytes,
                max_header_lines=max_header_lines,
            )
        self.handler = handler

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        response = self.answer(environ)
        start_response(
            _STATUS_LINES.get(response.status, str(response.status)), list(response.headers)
        )
        if isinstance(response, StreamedResponse):
            return response.chunks
        return [response.body]

    def respond(self, environ: Environ, *, prefix: str = "") -> HttpResponse:
        """The answer to one request, a streamed one gathered into one body."""
        response = self.answer(environ, prefix=prefix)
        if isinstance(response, StreamedResponse):
            whole = b"".join(response.chunks)
            headers = (*response.headers, ("content-length", str(len(whole))))
            return HttpResponse(response.status, headers, whole)
        return response

    def answer(self, environ: Environ, *, prefix: str = "") -> HttpResponse | StreamedResponse:
        """The answer to one request, a streamed one left to stream (embeddings in WSGI
        frameworks call this)."""
        handler = self.handler
        started = handler.begin(
            environ.get("REQUEST_METHOD", "GET"),
            request_target(environ, prefix=prefix),
            environ_headers(environ),
        )
        if isinstance(started, HttpResponse):
            return started
        stream: IO[bytes] = environ["wsgi.input"]
        if started.expected_length is not None:
            # Never read past the declared length (PEP 3333); one byte more is not asked.
            body = _read(stream, started.expected_length)
        elif environ.get("wsgi.input_terminated"):
            # A streamed (chunked) body: stop as soon as it passes the limit.
            body = _read(stream, started.limit + 1)
            if len(body) > started.limit:
                return handler.too_large(started)
        else:
            body = b""
        return handler.finish(started, body)
