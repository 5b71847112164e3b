"""The listening sockets of `archive-core serve`, made before anything else starts: a
port that is already in use is refused, whoever holds it and however many workers
either side runs.

- **One worker**: one socket, bound (`SO_REUSEADDR`, so connections of a previous run
  in TIME_WAIT do not block a restart) and listening. The kernel refuses a port that
  another socket listens on.
- **Several workers, Linux**: one socket per worker, each bound with `SO_REUSEPORT`, so
  that the kernel spreads new connections over the workers (see `serving.py`). The
  kernel lets *any* socket of the same user with `SO_REUSEPORT` join such a port, so
  the kernel alone would let a second `serve` in, and split the traffic between two
  deployments. Hence, first, a probe: a socket bound to the port without
  `SO_REUSEPORT`, which the kernel refuses when anything listens there (our own
  workers, another `serve`, any other program). Between the probe and the workers'
  sockets listening, a lock on the port (an abstract Unix socket, gone with its
  process) keeps two `serve` commands starting at once from both passing the probe.
  The supervisor keeps every worker's socket open and listening for its whole life,
  so the port never looks free while it runs, not even while a worker is replaced.
- **Several workers elsewhere**: the workers share one socket, bound as for one worker.

A refusal is `CannotListen`, whose text is one line for an operator:
`port 8000 on 127.0.0.1 is already in use`.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

__all__ = ["REUSE_PORT", "CannotListen", "listen", "listening", "worker_sockets"]

#: Linux balances new connections over every socket bound to a port with SO_REUSEPORT.
REUSE_PORT: Final = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")

# uvicorn's default listen backlog.
_BACKLOG: Final = 2048
# How long a start-up waits for another one on the same port to finish claiming it.
_LOCK_WAIT: Final = 10.0


class CannotListen(Exception):
    """`serve` cannot listen where it was told to; `str()` is one line for an operator."""


@contextmanager
def listening(host: str, port: int, *, what: str = "port") -> Iterator[None]:
    """Turn a failure to bind or listen on `host`/`port` into one `CannotListen`.

    `what` names the listener in the message (`port`, `metrics port`)."""
    try:
        yield
    except socket.gaierror as exc:
        raise CannotListen(f"cannot listen on {host!r} ({what} {port}): {exc.strerror}") from exc
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise CannotListen(f"{what} {port} on {host} is already in use") from exc
        reason = exc.strerror or type(exc).__name__
        raise CannotListen(f"cannot listen on {host} ({what} {port}): {reason}") from exc


def _socket(host: str, *, reuse_port: bool) -> socket.socket:
    # Marked TCP (`proto`): asyncio sets TCP_NODELAY only on sockets marked TCP, and
    # without it an answer's two writes meet Nagle and the delayed ACK (about 40 ms).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    made = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    made.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        made.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return made


def _bound(host: str, port: int, *, reuse_port: bool, listens: bool) -> socket.socket:
    made = _socket(host, reuse_port=reuse_port)
    try:
        made.bind((host, port))
        if listens:
            made.listen(_BACKLOG)
    except BaseException:
        made.close()
        raise
    return made


def listen(host: str, port: int, *, join: bool = False) -> socket.socket:
    """One listening socket on `host`/`port` (0: a free port), or `CannotListen`;
    `join`: one more worker's socket on the port the supervisor holds (SO_REUSEPORT)."""
    with listening(host, port):
        return _bound(host, port, reuse_port=join, listens=True)


@contextmanager
def _claim(port: int) -> Iterator[None]:
    """Hold the start-up lock of `port` (per user: only the same user's sockets can
    share a port); wait while another start-up holds it."""
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    name = f"\0archive-core-serve:{os.getuid()}:{port}"
    deadline = time.monotonic() + _LOCK_WAIT
    try:
        while True:
            try:
                lock.bind(name)
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # another start-up on this port: it takes milliseconds
        yield
    finally:
        lock.close()


def worker_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """The listening sockets of `count` workers on `host`/`port` (see the module's doc):
    `count` sockets with SO_REUSEPORT on Linux, else one shared socket."""
    if not REUSE_PORT:
        return [listen(host, port)]
    made: list[socket.socket] = []
    with listening(host, port):
        if port == 0:  # the kernel's choice of a port no socket is bound to
            with _bound(host, 0, reuse_port=False, listens=False) as probe:
                port = probe.getsockname()[1]
        with _claim(port):
            # The probe: refused while anything listens on the port.
            _bound(host, port, reuse_port=False, listens=False).close()
            try:
                for _ in range(count):
                    made.append(_bound(host, port, reuse_port=True, listens=True))
            except BaseException:
                for sock in made:
                    sock.close()
                raise
    return made
