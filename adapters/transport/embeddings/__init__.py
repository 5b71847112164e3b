"""Leaf modules that mount the core in a web framework (dev extras only).

- `adapters.transport.embeddings.fastapi`: an `APIRouter` for FastAPI (and Starlette)
- `adapters.transport.embeddings.flask`: a `Blueprint`
- `adapters.transport.embeddings.django`: URL patterns

Each one registers the deployment's paths and hands every request to the shared
`HttpHandler`, so routing inside those paths (404, 405), the 64 KiB limit, the raw
path, the exact body bytes and every error body are the reference server's own.
Each imports only its own framework; importing this package imports none.
"""

from typing import Final

__all__ = ["METHODS"]

#: The methods each embedding routes to the handler (which answers 405 for the wrong ones).
METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
