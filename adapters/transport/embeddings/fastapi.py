"""Mount the core in FastAPI (or Starlette): `app.include_router(archive_router(deployment))`.

The router's paths accept every common method and hand the request to the reference
ASGI application's `respond`, so the answers are byte for byte the reference service's.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from adapters.transport.asgi import AsgiApplication
from adapters.transport.embeddings import METHODS
from adapters.transport.http import MAX_BODY, HttpHandler, StreamedResponse
from adapters.transport.port import Served

__all__ = ["archive_router"]


def archive_router(
    served: Served,
    *,
    prefix: str = "",
    max_body: int = MAX_BODY,
    max_workers: int | None = None,
) -> APIRouter:
    """An `APIRouter` serving the deployment's operations under `prefix`: their exact
    paths, and everything under the prefix of each path with a parameter.

    `{rest:path}` lets the raw path decide: Starlette matches on the decoded path,
    where `%2F` has become `/`; the handler reads the raw path and refuses such an id
    with 400, as the reference service does.
    """
    handler = HttpHandler(served, max_body=max_body)
    application = AsgiApplication(handler=handler, max_workers=max_workers)
    exact, prefixes = handler.routes.mounted_paths()

    async def endpoint(request: Request) -> Response:
        answer = await application.respond(request.scope, request.receive, prefix=prefix)
        if answer is None:  # the client disconnected before the body was complete
            return Response(status_code=400)
        if isinstance(answer, StreamedResponse):
            return StreamingResponse(answer.chunks, answer.status, headers=dict(answer.headers))
        return Response(answer.body, answer.status, headers=dict(answer.headers))

    router = APIRouter(prefix=prefix)
    for path in (*exact, *(start + "{rest:path}" for start in prefixes)):
        router.add_api_route(
            path, endpoint, methods=list(METHODS), include_in_schema=False, response_model=None
        )
    return router
