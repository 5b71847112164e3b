"""Framework-free HTTP handling shared by every transport (ASGI, WSGI, embeddings).

A transport does three things, in this order, and nothing else:

1. `HttpHandler.begin(method, target, headers)`: the head bound (at most 100 header
   lines and 16 KiB of head: 431, checked first and in one pass that stops at the
   bound), routing (404, 405), request framing (`Content-Length` syntax and the 64 KiB
   limit: 400, 413). It answers at once with an
   `HttpResponse`, or returns an `Exchange` that says how much body to read.
2. read at most `exchange.limit` bytes of body, stopping as soon as more arrive
   (`HttpHandler.too_large(exchange)` answers 413 then);
3. `HttpHandler.finish(exchange, body)`: the operation's handler, the error mapping and
   the log record. It is synchronous: an async transport runs it in a worker thread
   when `exchange.waits` (its stores may wait: `Served.may_wait`), and on its event
   loop otherwise.

The routes are those of the declarations served (`routes.py`): the handler of a route
is reached through its declaration (`Endpoints.handler`), never by name. `target` is
the **raw** request target as received (percent-encoding intact): the query string is
handed to the operation raw, and a path parameter is never percent-decoded here:
`us-a%2Fb` reaches the core as is, and the core refuses it (400).

An answer is JSON, a text or a stream (`Answer`); every refusal is JSON and carries its
own `error.id`, made here for that answer (random, never the client's `X-Request-Id`),
which its log record names (`id=`) at WARNING or above, so that it is in the server's
log at the default level. Error mapping:
`ArchiveCoreError` → its status and body; `ConcurrencyConflict` → 409;
`StorageUnavailable` → 503; anything else → 500 `Internal Server Error`, logged with
the exception's type only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any, Final, NamedTuple

from adapters.observability.context import note_outcome, note_store_error
from adapters.system.randomness import SystemRandomness
from adapters.transport.openapi import openapi_json
from adapters.transport.port import Served
from adapters.transport.routes import SERVER_ROUTES, RouteTable
from archive_core.declarations import Declaration, Handler
from archive_core.errors import (
    ArchiveCoreError,
    Catalogue,
    ConcurrencyConflict,
    StorageUnavailable,
)
from archive_core.ids import new_id
from archive_core.requests import Answer, Headers, Request

__all__ = [
    "MAX_BODY",
    "MAX_HEADER_LINES",
    "MAX_HEAD_BYTES",
    "Exchange",
    "HttpHandler",
    "HttpResponse",
    "StreamedResponse",
]

MAX_BODY: Final = 64 * 1024
MAX_HEAD_BYTES: Final = 16 * 1024
MAX_HEADER_LINES: Final = 100
# What a request line adds to its method and target: two spaces, "HTTP/1.1" and CRLF;
# each header line adds ": " and CRLF to its name and value.
_REQUEST_LINE_OVERHEAD: Final = len("  HTTP/1.1\r\n")
_HEADER_LINE_OVERHEAD: Final = len(": \r\n")
_OPENAPI, _HEALTHZ, _READYZ = SERVER_ROUTES
_MAX_CONTENT_LENGTH_DIGITS: Final = 19
# Methods logged by name; anything else is logged as "OTHER" (a method is caller input).
_KNOWN_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
_BASE_HEADERS: Final = (
    ("content-type", "application/json"),
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
)
_encode_json: Final = json.JSONEncoder(
    ensure_ascii=True, allow_nan=False, check_circular=False, separators=(",", ":")
).encode

log: Final = logging.getLogger("archive_core.http")
_RANDOMNESS: Final = SystemRandomness()


def new_error_id() -> str:
    """A new `error.id`: `er-` and 134 random bits, unique per answer across processes."""
    return new_id("er", _RANDOMNESS)


class HttpResponse(NamedTuple):
    """What a transport sends: status, header pairs (lowercase names), body bytes."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


class StreamedResponse(NamedTuple):
    """A 200 whose body is sent chunk by chunk as `chunks` yields them (a transport
    pulls them where its handler ran: in a worker thread when the exchange `waits`)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    chunks: Iterable[bytes]


class Exchange:
    """A routed request whose body is still to be read (made by `HttpHandler.begin`)."""

    __slots__ = (
        "declaration",
        "expected_length",
        "handler",
        "headers",
        "limit",
        "method",
        "name",
        "params",
        "path",
        "query",
        "waits",
    )

    def __init__(
        self,
        *,
        declaration: Declaration[Handler],
        handler: Handler | None,
        method: str,
        path: str,
        query: str,
        params: Mapping[str, str],
        headers: Headers,
        expected_length: int | None,
        limit: int,
        waits: bool = True,
    ) -> None:
        #: the operation routed to, and its handler (None: answered by this handler)
        self.declaration = declaration
        self.handler = handler
        #: the route's name in logs
        self.name = declaration.route_name
        self.method = method
        self.path = path
        self.query = query
        self.params = params
        self.headers = headers
        #: the declared `Content-Length`, or None when the body is streamed (chunked)
        self.expected_length = expected_length
        #: read at most this many bytes; one more means 413
        self.limit = limit
        #: answering may wait on a lock held across I/O, an fsync or the network
        self.waits = waits


def render(status: int, document: Mapping[str, Any], *, allow: str | None = None) -> HttpResponse:
    """A JSON response with the standard headers."""
    body = _encode_json(document).encode("ascii")
    headers: tuple[tuple[str, str], ...] = (*_BASE_HEADERS, ("content-length", str(len(body))))
    if allow is not None:
        headers = (*headers, ("allow", allow))
    return HttpResponse(status, headers, body)


def render_answer(answer: Answer) -> HttpResponse | StreamedResponse:
    """The 200 of an operation's answer: its JSON document, its text, or its stream."""
    if answer.document is not None:
        return render(200, answer.document)
    head = (
        ("content-type", answer.media_type),
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
        *answer.headers,
    )
    if answer.text is not None:
        body = answer.text.encode("utf-8")
        return HttpResponse(200, (*head, ("content-length", str(len(body)))), body)
    return StreamedResponse(200, head, answer.chunks or ())


def as_refusal(exc: Exception) -> ArchiveCoreError:
    """The one error mapping: what the caller may see of any exception."""
    if isinstance(exc, ArchiveCoreError):
        return exc
    if isinstance(exc, ConcurrencyConflict):
        return ArchiveCoreError(Catalogue.CONFLICT, reason="concurrent_change")
    if isinstance(exc, StorageUnavailable):
        note_store_error(str(exc))
        return ArchiveCoreError(Catalogue.UNAVAILABLE, reason="storage_unavailable")
    return ArchiveCoreError(Catalogue.INTERNAL)


def _log(
    method: str,
    route: str,
    status: int,
    code: str,
    *,
    error_id: str = "",
    reason: str = "",
    exception: str = "",
    store: str = "",
    driver_error: str = "",
) -> None:
    # An error answer is logged at WARNING (ERROR for a 500), the default level of
    # `serve`: its id is what a user reports and an operator looks for.
    if status >= 500 and status != 503:
        level = logging.ERROR
    elif status >= 400:
        level = logging.WARNING
    else:
        level = logging.INFO
    if not log.isEnabledFor(level):
        return
    shown = method if method in _KNOWN_METHODS else "OTHER"
    template = "%s %s -> %d %s"
    arguments: tuple[str | int, ...] = (shown, route, status, code)
    if error_id:
        template += " id=%s"
        arguments += (error_id,)
    if store:
        # A 503 names the store that failed and the driver's error class, never its text.
        template += " store=%s error=%s"
        arguments += (store, driver_error)
    log.log(
        level,
        template,
        *arguments,
        extra={
            "store": store,
            "driver_error": driver_error,
            "method": shown,
            "route": route,
            "status": status,
            "code": code,
            "error_id": error_id,
            "reason": reason,
            "exception": exception,
        },
    )


def strip_query(target: str) -> str:
    """The path part of a raw request target (query string and fragment dropped)."""
    cut = target.find("?")
    if cut >= 0:
        target = target[:cut]
    cut = target.find("#")
    return target if cut < 0 else target[:cut]


def head_too_large() -> HttpResponse:
    """The 431 answer (also sent by the server when a head outgrows its buffer), logged
    as every refusal is."""
    return HttpHandler.refusal(ArchiveCoreError(Catalogue.HEAD_TOO_LARGE), route="unmatched")


class HttpHandler:
    """Routes requests to the operations a deployment serves and turns every outcome
    into an `HttpResponse`.

    `max_body`, `max_head_bytes` and `max_header_lines` are the transport's own limits
    (not `Policy`: the core never sees a request that breaks them).
    """

    def __init__(
        self,
        served: Served,
        *,
        max_body: int = MAX_BODY,
        max_head_bytes: int = MAX_HEAD_BYTES,
        max_header_lines: int = MAX_HEADER_LINES,
        openapi_document: bytes | None = None,
    ) -> None:
        endpoints = served.endpoints
        self.routes = RouteTable.served(endpoints)
        if openapi_document is None:
            openapi_document = openapi_json(self.routes)
        self.max_body = max_body
        self.max_head_bytes = max_head_bytes
        self.max_header_lines = max_header_lines
        self._readiness = served.readiness
        self._may_wait = served.may_wait
        self._handlers: dict[Declaration[Handler], Handler] = dict(endpoints)
        self._openapi = HttpResponse(
            200,
            (
                *_BASE_HEADERS,
                ("content-length", str(len(openapi_document))),
            ),
            openapi_document,
        )

    def allowed_methods(self, target: str) -> str | None:
        """The methods of the route `target` names (e.g. `"DELETE, GET"`), None for no route
        (what a CORS preflight answers with)."""
        return self.routes.allowed_methods(strip_query(target))

    def exposed_headers(self, target: str, method: str) -> str:
        """The headers the answer of `method` on the route `target` names may carry beyond
        the standard ones (`answer_headers`), comma-separated: what CORS exposes."""
        route, _params = self.routes.match(strip_query(target))
        declaration = None if route is None else route.methods.get(method)
        if declaration is None:
            return ""
        return ", ".join(name for name, _what in declaration.answer_headers)

    # -------------------------------------------------------------------- phase 1
    def begin(
        self, method: str, target: str, header_pairs: Iterable[tuple[str, str]]
    ) -> Exchange | HttpResponse:
        """Route the request and check its framing; an `HttpResponse` is the final answer.

        `header_pairs` is read once, and no further than the head bound: a transport may
        pass a lazy iterable so that an oversized head is never decoded whole.
        """
        try:
            pairs = self._bounded_head(method, target, header_pairs)
            if pairs is None:
                return self._refuse(method, "unmatched", ArchiveCoreError(Catalogue.HEAD_TOO_LARGE))
            path, _mark, query = target.partition("?")
            query = query.partition("#")[0]
            path = path.partition("#")[0]
            route, params = self.routes.match(path)
            if route is None:
                return self._refuse(
                    method, "unmatched", ArchiveCoreError(Catalogue.ROUTE_NOT_FOUND)
                )
            declaration = route.methods.get(method)
            if declaration is None:
                refusal = ArchiveCoreError(Catalogue.METHOD_NOT_ALLOWED)
                note_outcome(refusal.code)
                error_id = new_error_id()
                _log(method, route.name, refusal.status, refusal.code, error_id=error_id)
                return render(refusal.status, refusal.to_body(error_id), allow=route.allow)
            if declaration is _OPENAPI:
                _log(method, "openapi", 200, "ok")
                return self._openapi
            if declaration is _HEALTHZ:
                _log(method, "healthz", 200, "ok")
                return _HEALTHY
            headers = Headers(pairs)
            declared = headers.values("content-length")
            expected: int | None = None
            if declared:
                if len(declared) > 1 or headers.values("transfer-encoding"):
                    # Two framings (or two lengths) for one body: refuse the ambiguity.
                    return self._refuse(
                        method,
                        declaration.route_name,
                        Catalogue.BODY_INVALID.error("framing_ambiguous"),
                    )
                text = declared[0].strip(" \t")
                if not (text.isascii() and text.isdigit()) or (
                    len(text) > _MAX_CONTENT_LENGTH_DIGITS
                ):
                    return self._refuse(
                        method,
                        declaration.route_name,
                        Catalogue.BODY_INVALID.error("content_length_invalid"),
                    )
                expected = int(text)
                if expected > self.max_body:
                    return self._refuse(
                        method,
                        declaration.route_name,
                        ArchiveCoreError(Catalogue.BODY_TOO_LARGE, reason="content_length"),
                    )
            handler = self._handlers.get(declaration)
            return Exchange(
                declaration=declaration,
                handler=handler,
                method=method,
                path=path,
                query=query,
                params=params,
                headers=headers,
                expected_length=expected,
                limit=self.max_body if expected is None else expected,
                # /readyz (no handler) checks the stores, waiting up to its timeout.
                waits=handler is None or self._may_wait(declaration, headers),
            )
        except Exception as exc:  # the transport's last line: never a crash
            return self._refuse(method, "unmatched", as_refusal(exc), exception=exc)

    def _bounded_head(
        self, method: str, target: str, header_pairs: Iterable[tuple[str, str]]
    ) -> list[tuple[str, str]] | None:
        """The header pairs, or None as soon as the head passes a bound (one pass)."""
        max_lines = self.max_header_lines
        max_bytes = self.max_head_bytes
        size = len(method) + len(target) + _REQUEST_LINE_OVERHEAD
        if size > max_bytes:
            return None
        pairs: list[tuple[str, str]] = []
        for pair in header_pairs:
            size += len(pair[0]) + len(pair[1]) + _HEADER_LINE_OVERHEAD
            pairs.append(pair)
            if size > max_bytes or len(pairs) > max_lines:
                return None
        return pairs

    # -------------------------------------------------------------------- phase 2
    def too_large(self, exchange: Exchange) -> HttpResponse:
        """The answer when the body being read grew past the limit (reading stopped)."""
        if exchange.expected_length is not None:
            # More bytes than the declared length: the framing lied.
            return self._refuse(
                exchange.method,
                exchange.name,
                Catalogue.BODY_INVALID.error("content_length_mismatch"),
            )
        return self._refuse(
            exchange.method,
            exchange.name,
            ArchiveCoreError(Catalogue.BODY_TOO_LARGE, reason="body_length"),
        )

    # -------------------------------------------------------------------- phase 3
    def finish(self, exchange: Exchange, body: bytes) -> HttpResponse | StreamedResponse:
        """Run the operation's handler on the complete body and answer (never raises)."""
        name = exchange.name
        if len(body) > exchange.limit:
            return self.too_large(exchange)
        if exchange.expected_length is not None and len(body) != exchange.expected_length:
            return self._refuse(
                exchange.method, name, Catalogue.BODY_INVALID.error("content_length_mismatch")
            )
        handler = exchange.handler
        if handler is None:  # the server's own route that needs its body read: /readyz
            return self._ready(exchange.method)
        try:
            answer = handler(
                Request(
                    exchange.method,
                    exchange.path,
                    exchange.headers,
                    body,
                    exchange.params,
                    exchange.query,
                )
            )
            response = render_answer(answer)
        except Exception as exc:  # mapped by the one error mapping
            return self._refuse(exchange.method, name, as_refusal(exc), exception=exc)
        note_outcome(answer.outcome or exchange.declaration.outcome)
        _log(exchange.method, name, 200, "ok")
        return response

    def handle(
        self,
        method: str,
        target: str,
        header_pairs: Iterable[tuple[str, str]],
        body: bytes,
    ) -> HttpResponse:
        """All three phases for a body already in memory (tests, simple embeddings); a
        streamed answer is gathered into one body."""
        started = self.begin(method, target, header_pairs)
        if isinstance(started, HttpResponse):
            return started
        if len(body) > started.limit:
            return self.too_large(started)
        response = self.finish(started, body)
        if isinstance(response, StreamedResponse):
            whole = b"".join(response.chunks)
            headers = (*response.headers, ("content-length", str(len(whole))))
            return HttpResponse(response.status, headers, whole)
        return response

    @staticmethod
    def refusal(exc: Exception, *, method: str = "", route: str = "embedded") -> HttpResponse:
        """What the server answers when an operation raises `exc`: the one error mapping
        (`as_refusal`), its status, headers and JSON body, logged as the server logs a
        refusal (`method` and `route` name the request in that record; an unknown method is
        logged as `OTHER`). For an embedder that calls a handler itself."""
        return HttpHandler._refuse(method, route, as_refusal(exc), exception=exc)

    # -------------------------------------------------------------------- helpers
    def _ready(self, method: str) -> HttpResponse:
        """`GET /readyz`: 200 when every store answers in time, else 503 naming the failing."""
        if self._readiness is None:
            _log(method, "readyz", 200, "ok")
            return render(200, {"status": "ready", "stores": {}})
        report = self._readiness.check()
        status = 200 if report.ready else 503
        _log(method, "readyz", status, "ok" if report.ready else "store_unavailable")
        return render(status, report.to_json())

    @staticmethod
    def _refuse(
        method: str, route: str, refusal: ArchiveCoreError, *, exception: Exception | None = None
    ) -> HttpResponse:
        unexpected = exception is not None and not isinstance(exception, ArchiveCoreError)
        store = driver_error = ""
        note_outcome(refusal.reason or refusal.code)
        if isinstance(exception, StorageUnavailable):
            store = exception.store or "unknown"
            driver_error = exception.driver_error or "none"
        error_id = new_error_id()
        _log(
            method,
            route,
            refusal.status,
            refusal.code,
            error_id=error_id,
            reason=refusal.reason,
            exception=type(exception).__name__ if unexpected else "",
            store=store,
            driver_error=driver_error,
        )
        return render(refusal.status, refusal.to_body(error_id))


_HEALTHY: Final = render(200, {"status": "ok"})
