"""Leaf modules that mount the core in a web framework (dev extras only).

- `adapters.transport.embeddings.fastapi`: an `APIRouter` for FastAPI (and Starlette)
- `adapters.transport.embeddings.flask`: a `Blueprint`
- `adapters.transport.embeddings.django`: URL patterns

Each one registers the deployment's routes (path templates, each parameter one segment)
and hands every request on them to the shared `HttpHandler`, so the 405 of a route, the
64 KiB limit, the raw path, the exact body bytes and every error body are the reference
server's own; a path that falls on none of those routes is the application's. Each
also turns the core's `Request` and the handler's answers into its framework's
(`archive_request`, `refusal_response`, `to_<framework>`), for an application that
calls a handler itself. Each imports only its own framework; importing this package
imports none.
"""

from typing import Final

__all__ = ["METHODS"]

#: The methods an embedding hands to the handler on one of its routes (405 for the wrong ones).
METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
