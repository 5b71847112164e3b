"""CORS for browsers calling the reference server from another origin (SPEC §4, Browsers).

`CorsApplication(app, origins)` wraps the ASGI application; `archive-core serve
--cors-origin O` (repeatable) is the only place it is plugged in. Every origin is read
by `parse_origin` first: an exact origin or nothing. For a request whose single
`Origin` header is one of `origins` and whose path is one of the service's routes:

- a preflight (`OPTIONS` with `Access-Control-Request-Method`) for one of that route's
  methods answers 204 with the route's methods, the headers the official SDKs send,
  and the origin;
- a request with one of that route's methods goes to the application, and its answer
  carries `Access-Control-Allow-Origin: <origin>` (and `Vary: Origin`), and
  `Access-Control-Expose-Headers` naming the headers the operation's declaration says
  its answer may carry (`X-Dfns-Result-Truncated` of the audit-log export).

Every other request (no `Origin`, another origin, an unknown route, a method or a
preflight for a method the route does not serve) goes to the application untouched:
no CORS header where no route matched, nothing said to other origins. No credentials
mode: the SDKs send bearer tokens in `Authorization`, not cookies.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
from collections.abc import Iterable
from typing import Final

from adapters.transport.asgi import AsgiApplication, Message, Receive, Scope, Send, raw_target

__all__ = ["ALLOWED_HEADERS", "CorsApplication", "OriginInvalid", "parse_origin"]

#: What the official SDKs put on their requests (besides the CORS-safelisted ones).
ALLOWED_HEADERS: Final = (
    "authorization, content-type, x-dfns-useraction, x-dfns-appid, x-dfns-nonce, x-dfns-sdk-version"
)
PREFLIGHT_MAX_AGE: Final = "600"

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_FORM: Final = "must be an exact origin (scheme://host[:port], e.g. https://app.example.com)"
_DOMAIN_LABEL: Final = re.compile(r"[a-z0-9_-]+")
# A last label a browser reads as a number makes the host an IPv4 address (URL Standard).
_NUMERIC_LABEL: Final = re.compile(r"[0-9]+|0x[0-9a-f]*")


class OriginInvalid(argparse.ArgumentTypeError, ValueError):
    """A text that is not an exact origin; the message is one line and never repeats it.

    An `ArgumentTypeError` too, so `parse_origin` serves as an argparse `type=`."""


def _refuse(detail: str = "") -> OriginInvalid:
    return OriginInvalid(f"{_FORM}; {detail}" if detail else _FORM)


def _ipv6_host(literal: str) -> str:
    """`[literal]` as browsers serialise it: lowercase hex, no leading zeros, the first
    longest run of two or more zero pieces as `::` (URL Standard)."""
    try:
        packed = ipaddress.IPv6Address(literal).packed
    except ValueError:
        raise _refuse("the IPv6 address in brackets is not valid") from None
    pieces = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, 16, 2)]
    start, length = 8, 1
    for first in range(8):
        run = next((n for n in range(first, 8) if pieces[n]), 8) - first
        if run > length:
            start, length = first, run
    head = ":".join(f"{piece:x}" for piece in pieces[:start])
    if start == 8:
        return f"[{head}]"
    tail = ":".join(f"{piece:x}" for piece in pieces[start + length :])
    return f"[{head}::{tail}]"


def _host(text: str) -> str:
    if text.startswith("[") and text.endswith("]") and "%" not in text:
        return _ipv6_host(text[1:-1])
    labels = text.split(".")
    if not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        raise _refuse(
            "the host is a domain name (letters, digits, -, _ between dots), an IPv4 "
            "address or an IPv6 address in brackets"
        )
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        try:
            address = ipaddress.IPv4Address(text)
        except ValueError:
            address = None
        if address is None or str(address) != text:
            raise _refuse("an IPv4 address is four decimal numbers, such as 127.0.0.1")
    return text


def parse_origin(text: str) -> str:
    """The origin `text` names, serialised as browsers send it in `Origin`; else
    `OriginInvalid` (a `ValueError`) with a one-line message.

    Accepted: `http` or `https`, `://`, a host (an ASCII domain name — an international
    one in its `xn--` form —, an IPv4 address, or an IPv6 address in brackets), and an
    optional port from 1 to 65535. Scheme and host are lowercased and a default port
    (80, 443) is dropped, as browsers do. Refused: `null`, `*`, a bare host, a path
    (even `/`), a query, a fragment, user info, a wildcard, whitespace.
    """
    if not text.isascii():
        raise _refuse("ASCII only: an international host name in its xn-- (punycode) form")
    if any(char.isspace() or not char.isprintable() for char in text):
        raise _refuse("no spaces or control characters")
    scheme, separator, rest = text.partition("://")
    if not separator:
        raise _refuse()
    scheme = scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise _refuse("the scheme is http or https")
    if any(char in rest for char in "/?#\\"):
        raise _refuse("nothing after the host or port (no path, not even /, no query or fragment)")
    if "@" in rest:
        raise _refuse("no user name or password")
    if "*" in rest:
        raise _refuse("no wildcard; list each origin")
    rest = rest.lower()
    if rest.startswith("["):
        bracket = rest.find("]") + 1 or len(rest)
        host, port = rest[:bracket], rest[bracket:]
    else:
        host, colon, port = rest.partition(":")
        port = colon + port
    if port:
        digits = port[1:].lstrip("0")  # leading zeros are read away, as browsers do
        if not (port[0] == ":" and digits.isdigit() and len(digits) <= 5 and int(digits) < 65536):
            raise _refuse("the port is a number from 1 to 65535")
        port = "" if int(digits) == _DEFAULT_PORTS[scheme] else f":{digits}"
    return f"{scheme}://{_host(host)}{port}"


def _single_header(scope: Scope, name: bytes) -> str | None:
    values: list[bytes] = [value for key, value in scope["headers"] if key.lower() == name]
    if len(values) != 1:
        return None
    return values[0].decode("latin-1")


class CorsApplication:
    """An ASGI application that answers CORS for `origins` around `app`.

    Each origin is read by `parse_origin` (a bad one raises `OriginInvalid`)."""

    def __init__(self, app: AsgiApplication, origins: Iterable[str]) -> None:
        self.app = app
        self.origins = frozenset(parse_origin(origin) for origin in origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = _single_header(scope, b"origin")
        methods = (
            self.app.handler.allowed_methods(raw_target(scope)) if origin in self.origins else None
        )
        if origin is None or methods is None:
            # Another origin, or no route here: the application answers, saying nothing.
            await self.app(scope, receive, send)
            return
        allowed_origin = origin.encode("latin-1")
        served = methods.split(", ")
        requested = _single_header(scope, b"access-control-request-method")
        if scope["method"] == "OPTIONS" and requested in served:
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
        if scope["method"] not in served:
            # A method the route does not serve (a preflight for one included): the 405.
            await self.app(scope, receive, send)
            return

        exposed = self.app.handler.exposed_headers(raw_target(scope), scope["method"])

        async def send_with_origin(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    *message.get("headers", []),
                    (b"access-control-allow-origin", allowed_origin),
                    (b"vary", b"Origin"),
                ]
                if exposed:
                    headers.append((b"access-control-expose-headers", exposed.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_origin)
