"""Framework-free HTTP handling shared by every transport (ASGI, WSGI, embeddings).

A transport does three things, in this order, and nothing else:

1. `HttpHandler.begin(method, target, headers)`: the head bound (at most 100 header
   lines and 16 KiB of head: 431, checked first and in one pass that stops at the
   bound), routing (404, 405), request framing (`Content-Length` syntax and the 64 KiB
   limit: 400, 413). It answers at once with an
   `HttpResponse`, or returns an `Exchange` that says how much body to read.
2. read at most `exchange.limit` bytes of body, stopping as soon as more arrive
   (`HttpHandler.too_large(exchange)` answers 413 then);
3. `HttpHandler.finish(exchange, body)`: the use case, the error mapping and the log
   record. It is synchronous: async transports run it in a worker thread.

`target` is the **raw** request target as received (percent-encoding intact); only the
query string is dropped. A user id is never percent-decoded here: `us-a%2Fb` reaches
the core as is, and the core refuses it (400).

Every answer is JSON. Error mapping: `ArchiveCoreError` → its status and body;
`ConcurrencyConflict` → 409; `StorageUnavailable` → 503; anything else → 500
`Internal Server Error`, logged with the exception's type only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, NamedTuple

from adapters.transport.context import note_store_error
from adapters.transport.openapi import openapi_json
from adapters.transport.routes import ROUTE_NAMES, ROUTES, USERS_PREFIX, Route
from adapters.wiring.service import Service
from archive_core.errors import (
    ArchiveCoreError,
    Catalogue,
    ConcurrencyConflict,
    StorageUnavailable,
)
from archive_core.requests import Headers, Request

__all__ = [
    "MAX_BODY",
    "MAX_HEADER_LINES",
    "MAX_HEAD_BYTES",
    "ROUTE_NAMES",
    "Exchange",
    "HttpHandler",
    "HttpResponse",
]

MAX_BODY: Final = 64 * 1024
MAX_HEAD_BYTES: Final = 16 * 1024
MAX_HEADER_LINES: Final = 100
# What a request line adds to its method and target: two spaces, "HTTP/1.1" and CRLF;
# each header line adds ": " and CRLF to its name and value.
_REQUEST_LINE_OVERHEAD: Final = len("  HTTP/1.1\r\n")
_HEADER_LINE_OVERHEAD: Final = len(": \r\n")
# Routes the handler answers itself in `begin` (no use case, no body).
_ANSWERED_IN_BEGIN: Final = frozenset({"openapi", "healthz", "readyz"})
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

Call = Callable[[Request, str], Mapping[str, Any]]


class HttpResponse(NamedTuple):
    """What a transport sends: status, header pairs (lowercase names), body bytes."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


class _Endpoint(NamedTuple):
    name: str
    call: Call


class _Route(NamedTuple):
    name: str
    methods: Mapping[str, _Endpoint]
    allow: str


class Exchange:
    """A routed request whose body is still to be read (made by `HttpHandler.begin`)."""

    __slots__ = ("endpoint", "expected_length", "headers", "limit", "method", "param", "path")

    def __init__(
        self,
        *,
        endpoint: _Endpoint,
        method: str,
        path: str,
        param: str,
        headers: Headers,
        expected_length: int | None,
        limit: int,
    ) -> None:
        self.endpoint = endpoint
        self.method = method
        self.path = path
        self.param = param
        self.headers = headers
        #: the declared `Content-Length`, or None when the body is streamed (chunked)
        self.expected_length = expected_length
        #: read at most this many bytes; one more means 413
        self.limit = limit


def render(status: int, document: Mapping[str, Any], *, allow: str | None = None) -> HttpResponse:
    """A JSON response with the standard headers."""
    body = _encode_json(document).encode("ascii")
    headers: tuple[tuple[str, str], ...] = (*_BASE_HEADERS, ("content-length", str(len(body))))
    if allow is not None:
        headers = (*headers, ("allow", allow))
    return HttpResponse(status, headers, body)


def _as_refusal(exc: Exception) -> ArchiveCoreError:
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
    reason: str = "",
    exception: str = "",
    store: str = "",
    driver_error: str = "",
) -> None:
    if status == 500:
        level = logging.ERROR
    elif status in (409, 503):
        level = logging.WARNING
    else:
        level = logging.INFO
    if not log.isEnabledFor(level):
        return
    shown = method if method in _KNOWN_METHODS else "OTHER"
    # A 503 names the store that failed and the driver's error class, never its text.
    template = "%s %s -> %d %s store=%s error=%s" if store else "%s %s -> %d %s"
    arguments = (
        (shown, route, status, code, store, driver_error) if store else (shown, route, status, code)
    )
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
    """The 431 answer (also sent by the server when a head outgrows its buffer)."""
    refusal = ArchiveCoreError(Catalogue.HEAD_TOO_LARGE)
    return render(refusal.status, refusal.to_body())


class HttpHandler:
    """Routes requests to a `Service` and turns every outcome into a JSON `HttpResponse`.

    `max_body`, `max_head_bytes` and `max_header_lines` are the transport's own limits
    (not `Policy`: the core never sees a request that breaks them).
    """

    def __init__(
        self,
        service: Service,
        *,
        max_body: int = MAX_BODY,
        max_head_bytes: int = MAX_HEAD_BYTES,
        max_header_lines: int = MAX_HEADER_LINES,
        openapi_document: bytes | None = None,
    ) -> None:
        if openapi_document is None:
            openapi_document = openapi_json()
        self.max_body = max_body
        self.max_head_bytes = max_head_bytes
        self.max_header_lines = max_header_lines
        self._readiness = service.readiness
        self._openapi = HttpResponse(
            200,
            (
                *_BASE_HEADERS,
                ("content-length", str(len(openapi_document))),
            ),
            openapi_document,
        )
        # The route table (routes.py), grouped by path: exact paths, the user's own path
        # (`/auth/users/{userId}`) and the actions under it (`.../{userId}/<action>`).
        by_path: dict[str, dict[str, _Endpoint]] = {}
        for route in ROUTES:
            by_path.setdefault(route.template, {})[route.method] = _endpoint(service, route)
        self._static: dict[str, _Route] = {}
        self._user_actions: dict[str, _Route] = {}
        self._users = _Route("users", {}, "")
        for route in ROUTES:
            methods = by_path[route.template]
            names = [endpoint.name for endpoint in methods.values()]
            entry = _Route(
                names[0] if len(names) == 1 else _path_name(route.template),
                methods,
                ", ".join(sorted(methods)),
            )
            if not route.takes_user_id:
                self._static[route.template] = entry
            elif route.action:
                self._user_actions[route.action] = entry
            else:
                self._users = entry

    # -------------------------------------------------------------------- routing
    def _route(self, path: str) -> tuple[_Route | None, str]:
        route = self._static.get(path)
        if route is None and path.startswith(USERS_PREFIX):
            param, slash, action = path[len(USERS_PREFIX) :].partition("/")
            if param and not slash:
                return self._users, param
            if param and "/" not in action:
                return self._user_actions.get(action), param
        return route, ""

    def allowed_methods(self, target: str) -> str | None:
        """The methods of the route `target` names (e.g. `"DELETE, GET"`), None for no route
        (what a CORS preflight answers with)."""
        route, _param = self._route(strip_query(target))
        return None if route is None else route.allow

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
            path = strip_query(target)
            route, param = self._route(path)
            if route is None:
                return self._refuse(
                    method, "unmatched", ArchiveCoreError(Catalogue.ROUTE_NOT_FOUND)
                )
            endpoint = route.methods.get(method)
            if endpoint is None:
                refusal = ArchiveCoreError(Catalogue.METHOD_NOT_ALLOWED)
                _log(method, route.name, refusal.status, refusal.code)
                return render(refusal.status, refusal.to_body(), allow=route.allow)
            if endpoint.name == "openapi":
                _log(method, "openapi", 200, "ok")
                return self._openapi
            if endpoint.name == "healthz":
                _log(method, "healthz", 200, "ok")
                return _HEALTHY
            headers = Headers(pairs)
            declared = headers.values("content-length")
            expected: int | None = None
            if declared:
                if len(declared) > 1 or headers.values("transfer-encoding"):
                    # Two framings (or two lengths) for one body: refuse the ambiguity.
                    return self._refuse(
                        method, endpoint.name, Catalogue.BODY_INVALID.error("framing_ambiguous")
                    )
                text = declared[0].strip(" \t")
                if not (text.isascii() and text.isdigit()) or (
                    len(text) > _MAX_CONTENT_LENGTH_DIGITS
                ):
                    return self._refuse(
                        method,
                        endpoint.name,
                        Catalogue.BODY_INVALID.error("content_length_invalid"),
                    )
                expected = int(text)
                if expected > self.max_body:
                    return self._refuse(
                        method,
                        endpoint.name,
                        ArchiveCoreError(Catalogue.BODY_TOO_LARGE, reason="content_length"),
                    )
            return Exchange(
                endpoint=endpoint,
                method=method,
                path=path,
                param=param,
                headers=headers,
                expected_length=expected,
                limit=self.max_body if expected is None else expected,
            )
        except Exception as exc:  # the transport's last line: never a crash
            return self._refuse(method, "unmatched", _as_refusal(exc), exception=exc)

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
                exchange.endpoint.name,
                Catalogue.BODY_INVALID.error("content_length_mismatch"),
            )
        return self._refuse(
            exchange.method,
            exchange.endpoint.name,
            ArchiveCoreError(Catalogue.BODY_TOO_LARGE, reason="body_length"),
        )

    # -------------------------------------------------------------------- phase 3
    def finish(self, exchange: Exchange, body: bytes) -> HttpResponse:
        """Run the use case on the complete body and answer (never raises)."""
        name = exchange.endpoint.name
        if len(body) > exchange.limit:
            return self.too_large(exchange)
        if exchange.expected_length is not None and len(body) != exchange.expected_length:
            return self._refuse(
                exchange.method, name, Catalogue.BODY_INVALID.error("content_length_mismatch")
            )
        if name == "readyz":
            return self._ready(exchange.method)
        try:
            request = Request(exchange.method, exchange.path, exchange.headers, body)
            document = exchange.endpoint.call(request, exchange.param)
            response = render(200, document)
        except Exception as exc:  # mapped by the one error mapping
            return self._refuse(exchange.method, name, _as_refusal(exc), exception=exc)
        _log(exchange.method, name, 200, "ok")
        return response

    def handle(
        self,
        method: str,
        target: str,
        header_pairs: Iterable[tuple[str, str]],
        body: bytes,
    ) -> HttpResponse:
        """All three phases for a body already in memory (tests, simple embeddings)."""
        started = self.begin(method, target, header_pairs)
        if isinstance(started, HttpResponse):
            return started
        if len(body) > started.limit:
            return self.too_large(started)
        return self.finish(started, body)

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
        if isinstance(exception, StorageUnavailable):
            store = exception.store or "unknown"
            driver_error = exception.driver_error or "none"
        _log(
            method,
            route,
            refusal.status,
            refusal.code,
            reason=refusal.reason,
            exception=type(exception).__name__ if unexpected else "",
            store=store,
            driver_error=driver_error,
        )
        return render(refusal.status, refusal.to_body())


_HEALTHY: Final = render(200, {"status": "ok"})


def _endpoint(service: Service, route: Route) -> _Endpoint:
    """What the handler calls for `route`: its `Service` use case (by the route's name),
    given the path's user id when the route takes one."""
    if route.name in _ANSWERED_IN_BEGIN:
        return _Endpoint(route.name, _no_call)
    use_case: Callable[..., Mapping[str, Any]] = getattr(service, route.name)
    if route.takes_user_id:
        return _Endpoint(route.name, use_case)
    return _Endpoint(route.name, lambda request, _param: use_case(request))


def _path_name(template: str) -> str:
    """A path's name in logs when several routes share it: its last literal segment."""
    return [part for part in template.split("/") if part and "{" not in part][-1]


def _no_call(request: Request, param: str) -> Mapping[str, Any]:  # pragma: no cover
    raise AssertionError("the OpenAPI document and the probes are answered by the handler")
