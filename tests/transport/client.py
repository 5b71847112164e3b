"""Direct ASGI and WSGI calls with exact control of the bytes (no client normalises the
path, drops a repeated header or fixes a Content-Length), and the answers as data."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import unquote_to_bytes

import attrs

from adapters.transport.asgi import AsgiApplication, Message
from adapters.transport.wsgi import WsgiApplication

Transport = Literal["asgi", "wsgi"]
HeaderPairs = Sequence[tuple[str | bytes, str | bytes]]


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")


@attrs.frozen
class Answer:
    """One HTTP answer."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        found = [v for k, v in self.headers if k.lower() == name.lower()]
        return found[0] if found else None

    @property
    def message(self) -> str:
        message = self.json()["error"]["message"]
        assert isinstance(message, str)
        return message

    @property
    def code(self) -> str:
        code = self.json()["error"]["code"]
        assert isinstance(code, str)
        return code


def _with_length(headers: HeaderPairs, body: bytes, chunked: bool) -> list[tuple[bytes, bytes]]:
    pairs = [(_bytes(k), _bytes(v)) for k, v in headers]
    names = {k.lower() for k, _ in pairs}
    if chunked:
        if b"transfer-encoding" not in names:
            pairs.append((b"transfer-encoding", b"chunked"))
    elif body and b"content-length" not in names:
        pairs.append((b"content-length", str(len(body)).encode()))
    return pairs


def call_asgi(
    app: AsgiApplication,
    method: str,
    target: str | bytes,
    headers: HeaderPairs = (),
    body: bytes | Sequence[bytes] = b"",
    *,
    root_path: str = "",
    raw_path: bool = True,
) -> Answer:
    """One request through the ASGI app; a list body is sent as chunks (no length)."""
    chunked = not isinstance(body, bytes)
    chunks = [body] if isinstance(body, bytes) else list(body)
    raw = _bytes(target)
    path_bytes, _, query = raw.partition(b"?")
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote_to_bytes(path_bytes).decode("utf-8", "replace"),
        "query_string": query,
        "root_path": root_path,
        "headers": _with_length(headers, b"".join(chunks), chunked),
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 5000),
    }
    if raw_path:
        scope["raw_path"] = path_bytes
    incoming = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        if incoming:
            return incoming.pop(0)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"], sent
    return Answer(
        status=sent[0]["status"],
        headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in sent[0]["headers"]),
        body=sent[1]["body"],
    )


def call_wsgi(
    app: WsgiApplication,
    method: str,
    target: str | bytes,
    headers: HeaderPairs = (),
    body: bytes | Sequence[bytes] = b"",
    *,
    script_name: str = "",
    raw_path: bool = True,
) -> Answer:
    """One request through the WSGI app, with the environ a server would build
    (repeated headers folded into one comma-joined value, as servers do)."""
    chunked = not isinstance(body, bytes)
    data = body if isinstance(body, bytes) else b"".join(body)
    raw = _bytes(target)
    path_bytes, _, query = raw.partition(b"?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": script_name,
        "PATH_INFO": unquote_to_bytes(path_bytes).decode("latin-1"),
        "QUERY_STRING": query.decode("latin-1"),
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(data),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if raw_path:
        environ["REQUEST_URI"] = raw.decode("latin-1")
    if chunked:
        environ["wsgi.input_terminated"] = True
    for name, value in _with_length(headers, data, chunked):
        key = name.decode("latin-1").upper().replace("-", "_")
        text = value.decode("latin-1")
        if key not in ("CONTENT_LENGTH", "CONTENT_TYPE"):
            key = "HTTP_" + key
        environ[key] = f"{environ[key]},{text}" if key in environ else text
    started: list[Any] = []

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        started.append((status, response_headers))

    body_out = b"".join(app(environ, start_response))
    status_line, response_headers = started[0]
    return Answer(
        status=int(status_line.split(" ", 1)[0]), headers=tuple(response_headers), body=body_out
    )


@attrs.frozen
class Client:
    """Either transport behind one call signature."""

    transport: Transport
    asgi: AsgiApplication
    wsgi: WsgiApplication

    def request(
        self,
        method: str,
        target: str | bytes,
        headers: HeaderPairs = (),
        body: bytes | Sequence[bytes] = b"",
    ) -> Answer:
        if self.transport == "asgi":
            return call_asgi(self.asgi, method, target, headers, body)
        return call_wsgi(self.wsgi, method, target, headers, body)
