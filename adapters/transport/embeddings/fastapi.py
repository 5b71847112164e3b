"""Mount the core in FastAPI (or Starlette): `app.include_router(archive_router(service))`.

The router's paths accept every common method and hand the request to the reference
ASGI application's `respond`, so the answers are byte for byte the reference service's.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from adapters.transport.asgi import AsgiApplication
from adapters.transport.embeddings import METHODS
from adapters.transport.http import MAX_BODY, HttpHandler
from adapters.transport.routes import mounted_paths
from adapters.wiring.service import Service

__all__ = ["archive_router"]

_EXACT, _USERS = mounted_paths()
# The route table's paths; under the users prefix, everything (the handler routes there).
PATHS = (*_EXACT, _USERS + "{user_id:path}")


def archive_router(
    service: Service,
    *,
    prefix: str = "",
    max_body: int = MAX_BODY,
    max_workers: int | None = None,
) -> APIRouter:
    """An `APIRouter` serving the four endpoints under `prefix`.

    `{user_id:path}` lets the raw path decide: Starlette matches on the decoded path,
    where `%2F` has become `/`; the handler reads the raw path and refuses such an id
    with 400, as the reference service does.
    """
    application = AsgiApplication(
        handler=HttpHandler(service, max_body=max_body), max_workers=max_workers
    )

    async def endpoint(request: Request) -> Response:
        answer = await application.respond(request.scope, request.receive, prefix=prefix)
        if answer is None:  # the client disconnected before the body was complete
            return Response(status_code=400)
        return Response(answer.body, answer.status, headers=dict(answer.headers))

    router = APIRouter(prefix=prefix)
    for path in PATHS:
        router.add_api_route(
            path, endpoint, methods=list(METHODS), include_in_schema=False, response_model=None
        )
    return router
