"""HTTP transports around the use cases: one framework-free handler (`http`), an ASGI
application (`asgi`), a WSGI application (`wsgi`), the OpenAPI document (`openapi`) and
leaf modules that mount the same handler in FastAPI, Flask and Django (`embeddings`).

Nothing here imports a web framework except the embedding modules, each of which
imports only its own framework.
"""

from adapters.transport.asgi import AsgiApplication, request_from_scope
from adapters.transport.cors import CorsApplication, OriginInvalid, parse_origin
from adapters.transport.http import (
    MAX_BODY,
    MAX_HEAD_BYTES,
    MAX_HEADER_LINES,
    Exchange,
    HttpHandler,
    HttpResponse,
)
from adapters.transport.wsgi import WsgiApplication, request_from_environ

__all__ = [
    "MAX_BODY",
    "MAX_HEADER_LINES",
    "MAX_HEAD_BYTES",
    "AsgiApplication",
    "CorsApplication",
    "Exchange",
    "HttpHandler",
    "HttpResponse",
    "OriginInvalid",
    "WsgiApplication",
    "parse_origin",
    "request_from_environ",
    "request_from_scope",
]
