"""Mount the core in FastAPI: `app.include_router(archive_router(deployment))`.

The router claims a request only when its **raw** path falls on one of the deployment's
routes (a path template): with the template's method it is ours; with another method
it is ours only if no route of the application takes that method (then our 405). Any
other path, under `/auth/users/` or not, is left to the application's own routes. The
answers are byte for byte the reference service's.

For an application that calls a handler itself: `archive_request` (the core's
`Request` of a Starlette request, raw path kept), `refusal_response` (what the server
answers for an exception) and `to_starlette` (any answer of the shared handler).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Match
from starlette.types import Scope

import archive_core
from adapters.transport.asgi import AsgiApplication, raw_target, request_from_scope
from adapters.transport.embeddings import METHODS
from adapters.transport.http import MAX_BODY, HttpHandler, HttpResponse, StreamedResponse
from adapters.transport.port import Served
from adapters.transport.routes import RouteTable

__all__ = ["archive_request", "archive_router", "refusal_response", "to_starlette"]

# The router's one route: every path under its prefix, which `matches` then narrows.
_TAIL: Final = "archive_core_path"
# Where `matches` leaves the mount prefix it found, for the endpoint (an ASGI scope key).
_PREFIX: Final = "archive_core.prefix"


def archive_router(
    served: Served,
    *,
    prefix: str = "",
    max_body: int = MAX_BODY,
    max_workers: int | None = None,
) -> APIRouter:
    """An `APIRouter` serving the deployment's operations under `prefix` (or the prefix
    `include_router` gives it), claiming only their routes (the module's doc)."""
    handler = HttpHandler(served, max_body=max_body)
    application = AsgiApplication(handler=handler, max_workers=max_workers)

    async def endpoint(request: Request) -> Response:
        scope = request.scope
        answer = await application.respond(scope, request.receive, prefix=scope[_PREFIX])
        if answer is None:  # the client disconnected before the body was complete
            return Response(status_code=400)
        return to_starlette(answer)

    router = APIRouter(prefix=prefix, route_class=_claiming(handler.routes))
    router.add_api_route(
        f"/{{{_TAIL}:path}}",
        endpoint,
        methods=list(METHODS),
        include_in_schema=False,
        response_model=None,
    )
    return router


def _claiming(routes: RouteTable) -> type[APIRoute]:
    """The route class of one router: FastAPI matches its path (the prefix, decoded, as
    `include_router` composed it); the raw path under that prefix then decides."""

    class ArchiveRoute(APIRoute):
        def matches(self, scope: Scope) -> tuple[Match, Scope]:
            match, child = super().matches(scope)
            if match is Match.NONE:
                return match, child
            # The prefix FastAPI matched is the decoded route path without the tail.
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root) :]
            prefix = path[: len(path) - len(child["path_params"][_TAIL]) - 1]
            raw = raw_target(scope)
            if not raw.startswith(prefix):
                return Match.NONE, {}
            route, _params = routes.match(raw[len(prefix) :])
            if route is None or not route.embedded:
                return Match.NONE, {}
            child[_PREFIX] = prefix
            return (Match.FULL if scope["method"] in route.methods else Match.PARTIAL), child

    return ArchiveRoute


async def archive_request(
    request: Request, *, prefix: str = "", params: Mapping[str, str] | None = None
) -> archive_core.Request:
    """The core's `Request` of a Starlette (FastAPI) request: the raw path (never
    percent-decoded, without the mount's `root_path` and `prefix`), every header as sent,
    the exact body bytes, the raw query string, and `params` when given (a handler of a
    route with parameters reads them: `{"userId": ...}`)."""
    return request_from_scope(request.scope, await request.body(), prefix=prefix, params=params)


def refusal_response(exc: Exception) -> Response:
    """What the reference service answers when an operation raises `exc` (status,
    headers, JSON body), as a Starlette `Response`."""
    return to_starlette(HttpHandler.refusal(exc))


def to_starlette(answer: HttpResponse | StreamedResponse) -> Response:
    """A Starlette `Response` of an answer of the shared handler (a stream stays one)."""
    headers = dict(answer.headers)
    if isinstance(answer, StreamedResponse):
        return StreamingResponse(answer.chunks, answer.status, headers=headers)
    return Response(answer.body, answer.status, headers=headers)
