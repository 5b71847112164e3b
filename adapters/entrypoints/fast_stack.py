"""uvicorn's fast HTTP protocol (httptools, the `server` extra) with the reference
server's head bound: `HeadBoundHttpToolsProtocol`.

httptools (llhttp) has no limit on a request head: a header that arrives in pieces is
gathered by its Python layer one piece at a time, and nothing refuses a head that
never ends. This protocol counts the bytes of the head in progress and, once more
of it has arrived than the limit (`h11_max_incomplete_event_size`: 16 KiB and the
blank line's two bytes, `uvicorn_config`) while it is still incomplete, answers with
the API's JSON 431 and closes the connection: the rule h11 applies with the same
setting on the other stack (`HeadBoundH11Protocol`). It feeds the parser at most 16 KiB at a
time, so a head that arrives in one read is cut after its second slice exactly as one
that arrives in pieces. A complete head within that reaches `HttpHandler.begin`, which
applies the exact bounds (100 lines, 16 KiB as it measures them).

The protocol also gathers the writes of one turn of the event loop into one
(`_Gathered`): uvicorn writes an answer's head when the application starts it and its
body when it sends it, two system calls and two TCP segments for every answer; the
reference application sends both in the same turn, so they leave as one.

Counting: bytes fed while a head is in progress all belong to it, up to the read that
completes it (its blank line, which may straddle two reads). A head that begins in the
middle of a read is counted from the end of the previous head in that read, or from
nothing when a body came between (it is then counted from the next read on): never
more than it holds, so a head the handler would accept is never refused here.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from adapters.transport.http import MAX_HEAD_BYTES, head_too_large

__all__ = ["HeadBoundHttpToolsProtocol"]

_END_OF_HEAD: Final = b"\r\n\r\n"


class _Gathered:
    """A connection's transport whose writes within one turn of the event loop go out
    as one: an answer's head and body are one segment and one system call."""

    __slots__ = ("_loop", "_pending", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        pending = self._pending
        if pending is None:
            self._pending = [data]
            self._loop.call_soon(self.flush)
        else:
            pending.append(data)

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self.transport.is_closing():
            self.transport.write(b"".join(pending))

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class HeadBoundHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a head still incomplete past 16 KiB with
    the JSON 431 of the API."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.head_limit = config.h11_max_incomplete_event_size or MAX_HEAD_BYTES
        #: a head has begun and is not complete yet
        self.in_head = False
        #: bytes of the head in progress received so far (never more than it holds)
        self.head_bytes = 0
        #: body bytes were parsed since the last head completed
        self._body_seen = False
        #: the last bytes fed, where a head's blank line may have begun
        self._tail = b""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Every write of the connection, its answers' included, goes through _Gathered.
        self.transport = _Gathered(transport, self.loop)  # type: ignore[assignment]

    # Parser callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.in_head = True

    def on_headers_complete(self) -> None:
        self.in_head = False
        self._body_seen = False
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body_seen = True
        super().on_body(body)

    def data_received(self, data: bytes) -> None:
        """Feed the parser at most one head's worth of bytes at a time, counting the head
        in progress; past the limit, answer 431 instead of feeding more."""
        step = self.head_limit
        if len(data) <= step:
            self._feed(data)
            return
        for start in range(0, len(data), step):
            if self.transport.is_closing():
                return
            self._feed(data[start : start + step])

    def _feed(self, piece: bytes) -> None:
        joined = self._tail + piece
        self._tail = joined[-3:]
        if self.in_head and _END_OF_HEAD not in joined:  # the head goes on past this piece
            self.head_bytes += len(piece)
            if self.head_bytes > self.head_limit:
                self._refuse_head()
                return
            super().data_received(piece)
            return
        self._body_seen = False
        super().data_received(piece)
        if self.in_head and not self.transport.is_closing():  # a head began in this piece
            if self._body_seen:
                self.head_bytes = 0
            else:
                end = joined.rfind(_END_OF_HEAD)
                self.head_bytes = len(joined) if end < 0 else len(joined) - end - 4
                self.head_bytes = min(self.head_bytes, len(piece))

    def _refuse_head(self) -> None:
        """The API's JSON 431, then the connection closes."""
        response = head_too_large()
        content = [STATUS_LINE[response.status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        for text_name, text_value in response.headers:
            content.extend([text_name.encode("latin-1"), b": ", text_value.encode("latin-1")])
            content.append(b"\r\n")
        content.extend([b"connection: close\r\n\r\n", response.body])
        self.transport.write(b"".join(content))
        self.transport.close()
