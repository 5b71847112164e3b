"""CORS for browsers calling the reference server from another origin (SPEC §4, Browsers).

`CorsApplication(app, origins)` wraps the ASGI application; `archive-core serve
--cors-origin O` (repeatable) is the only place it is plugged in. For a request whose
single `Origin` header is one of `origins`:

- a preflight (`OPTIONS` with `Access-Control-Request-Method`) for one of the service's
  routes and one of that route's methods answers 204 with the route's methods, the
  headers the official SDKs send, and the origin;
- any other request goes to the application, and its answer carries
  `Access-Control-Allow-Origin: <origin>` (and `Vary: Origin`).

Every other request (no `Origin`, another origin, a preflight for an unknown route or
method) goes to the application untouched: nothing is said to other origins. No
credentials mode: the SDKs send bearer tokens in `Authorization`, not cookies.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from adapters.transport.asgi import AsgiApplication, Message, Receive, Scope, Send, raw_target

__all__ = ["ALLOWED_HEADERS", "CorsApplication"]

#: What the official SDKs put on their requests (besides the CORS-safelisted ones).
ALLOWED_HEADERS: Final = (
    "authorization, content-type, x-dfns-useraction, x-dfns-appid, x-dfns-nonce, x-dfns-sdk-version"
)
PREFLIGHT_MAX_AGE: Final = "600"


def _single_header(scope: Scope, name: bytes) -> str | None:
    values: list[bytes] = [value for key, value in scope["headers"] if key.lower() == name]
    if len(values) != 1:
        return None
    return values[0].decode("latin-1")


class CorsApplication:
    """An ASGI application that answers CORS for `origins` around `app`."""

    def __init__(self, app: AsgiApplication, origins: Iterable[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = _single_header(scope, b"origin")
        if origin is None or origin not in self.origins:
            await self.app(scope, receive, send)
            return
        allowed_origin = origin.encode("latin-1")
        requested = _single_header(scope, b"access-control-request-method")
        if scope["method"] == "OPTIONS" and requested is not None:
            methods = self.app.handler.allowed_methods(raw_target(scope))
            if methods is not None and requested in methods.split(", "):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 204,
                        "headers": [
                            (b"access-control-allow-origin", allowed_origin),
                            (b"access-control-allow-methods", methods.encode("latin-1")),
                            (b"access-control-allow-headers", ALLOWED_HEADERS.encode("latin-1")),
                            (b"access-control-max-age", PREFLIGHT_MAX_AGE.encode("latin-1")),
                            (b"vary", b"Origin"),
                            (b"content-length", b"0"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return

        async def send_with_origin(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    *message.get("headers", []),
                    (b"access-control-allow-origin", allowed_origin),
                    (b"vary", b"Origin"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_origin)
