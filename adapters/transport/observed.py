"""The reference server's outer ASGI layer: a request id on every answer, and one
observation per request for the metrics.

    app = ObservedApplication(AsgiApplication(deployment), observer=metrics)

- **Request id**: an `X-Request-Id` received (1 to 128 of `A-Z a-z 0-9 . _ : -`)
  is kept, anything else is replaced by a new one (32 hex digits: 16 drawn at random
  once per process, then a counter: unique without a system call per request); the
  answer carries it back and every log record of the request names it
  (`adapters.observability.logs`).
- **Observation**: route *template* (`/auth/users/{userId}`, never the concrete path),
  method, status, duration, and for the operations served their outcome as the
  handler noted it in the request context: a refusal's reason (else its code), or the
  success's outcome (`archived`, `unchanged`, `read`, `challenge_issued`, ...); the
  store named by a 503's `StorageUnavailable`. None of these is caller input.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

from adapters.observability.context import CURRENT, RequestContext
from adapters.transport.asgi import Message, Receive, Scope, Send, raw_target
from adapters.transport.http import strip_query
from adapters.transport.openapi import library_routes
from adapters.transport.routes import RouteTable

__all__ = ["AsgiApp", "ObservedApplication", "RequestObserver", "route_template"]

AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_LABEL: Final = re.compile(r"[a-z0-9_]{1,64}")


def route_template(target: str, routes: RouteTable | None = None) -> str:
    """The route a raw request target matches (of `routes`, the library's own by default),
    as its template; `unmatched` otherwise."""
    table = library_routes() if routes is None else routes
    return table.template_of(strip_query(target)) or "unmatched"


def _operations(routes: RouteTable) -> dict[tuple[str, str], tuple[str, str]]:
    """(template, method) → (the operation's name in labels, the outcome of its 200)."""
    return {
        (route.template, method): (declaration.route_name, declaration.outcome)
        for route in routes.routes
        for method, declaration in route.methods.items()
        if declaration.outcome
    }


class RequestObserver(Protocol):
    """Told about every answered request (metrics)."""

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

    def store_error(self, store: str) -> None:
        """Record one failed readiness check of `store`."""


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name.lower() == b"x-request-id":
            text: str = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(text):
                return text
            break
    return _new_request_id()


def _request_ids() -> Callable[[], str]:
    """New request ids: this process's random half, then a count."""
    prefix = secrets.token_hex(8)
    count = itertools.count(1)
    return lambda: f"{prefix}{next(count):016x}"


_new_request_id: Final = _request_ids()


def _outcome(status: int, body: bytes, success: str) -> str:
    if status < 400:
        return success
    try:
        error = json.loads(body)["error"]
        found = error.get("reason") or error["code"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return "unknown"
    return found if isinstance(found, str) and _LABEL.fullmatch(found) else "unknown"


class ObservedApplication:
    """Wraps an ASGI app: request ids, the request context, one observation per request
    (labelled by `routes`, the served routes; the library's own by default);
    `on_shutdown` runs (in a thread) before lifespan shutdown completes."""

    def __init__(
        self,
        app: AsgiApp,
        *,
        routes: RouteTable | None = None,
        observer: RequestObserver | None = None,
        on_shutdown: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.routes = library_routes() if routes is None else routes
        self._operations = _operations(self.routes)
        self.observer = observer
        self.on_shutdown = on_shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and self.on_shutdown is not None:
            await self.app(scope, receive, _closing(send, self.on_shutdown))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        context = RequestContext(request_id)
        token = CURRENT.set(context)
        status = 0
        body = b""

        async def send_observed(message: Message) -> None:
            nonlocal status, body
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", ()))
                headers.append((b"x-request-id", request_id.encode("ascii")))
                message["headers"] = headers
            elif message["type"] == "http.response.body" and status >= 400 and len(body) < 4096:
                body += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            CURRENT.reset(token)
            if self.observer is not None and status:
                self._observe(self.observer, scope, status, body, context)

    def _observe(
        self,
        observer: RequestObserver,
        scope: Scope,
        status: int,
        body: bytes,
        context: RequestContext,
    ) -> None:
        method = str(scope["method"])
        method = method if method in _METHODS else "OTHER"
        route = self.routes.template_of(raw_target(scope)) or "unmatched"
        operation = self._operations.get((route, method))
        outcome = None
        if operation is not None:
            noted = context.outcome
            if noted is None:  # answered before the handler (the server's 431)
                outcome = _outcome(status, body, operation[1])
            else:
                outcome = noted if _LABEL.fullmatch(noted) else "unknown"
        observer.observe(
            route=route,
            method=method,
            status=status,
            seconds=context.elapsed(),
            operation=None if operation is None else operation[0],
            outcome=outcome,
            store_error=context.store_error,
        )


def _closing(send: Send, on_shutdown: Callable[[], None]) -> Send:
    """`send` for the lifespan: `on_shutdown` runs before shutdown is reported complete."""

    async def lifespan_send(message: Message) -> None:
        if message["type"] == "lifespan.shutdown.complete":
            await asyncio.get_running_loop().run_in_executor(None, on_shutdown)
        await send(message)

    return lifespan_send
