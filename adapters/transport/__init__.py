"""HTTP transports around the use cases: one framework-free handler (`http`), an ASGI
application (`asgi`), a WSGI application (`wsgi`), the OpenAPI document (`openapi`) and
leaf modules that mount the same handler in FastAPI, Flask and Django (`embeddings`).

The package names what an embedder mounts: `AsgiApplication`, `WsgiApplication`, the
`HttpHandler` under both, and CORS (`CorsApplication`, `parse_origin`, `OriginInvalid`).
Nothing here imports a web framework except the embedding modules, each of which
imports only its own framework.
"""

from adapters.transport.asgi import AsgiApplication, request_from_scope
from adapters.transport.cors import CorsApplication, OriginInvalid, parse_origin
from adapters.transport.http import HttpHandler
from adapters.transport.wsgi import WsgiApplication, request_from_environ

__all__ = [
    "AsgiApplication",
    "CorsApplication",
    "HttpHandler",
    "OriginInvalid",
    "WsgiApplication",
    "parse_origin",
    "request_from_environ",
    "request_from_scope",
]
