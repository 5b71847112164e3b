"""The fast stack's protocol writes what one turn of the event loop wrote as one write:
an answer's head and body leave in one system call (the head bounds on this stack are
in test_head_limits.py, run on both stacks)."""

from __future__ import annotations

import asyncio

import pytest

from adapters.entrypoints.fast_stack import _Gathered
from adapters.entrypoints.server import STACKS, installed_stack, uvicorn_config
from adapters.testing.world import World


class FakeTransport:
    """Records writes; closes once."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def test_writes_of_one_turn_leave_as_one_in_order() -> None:
    async def scenario() -> list[bytes]:
        transport = FakeTransport()
        gathered = _Gathered(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
        gathered.write(b"HTTP/1.1 200 OK\r\n\r\n")
        gathered.write(b"{}")
        assert transport.writes == []  # nothing yet: the turn is not over
        await asyncio.sleep(0)
        gathered.write(b"next")
        await asyncio.sleep(0)
        assert gathered.get_extra_info("peername") == "info:peername"
        return transport.writes

    assert asyncio.run(scenario()) == [b"HTTP/1.1 200 OK\r\n\r\n{}", b"next"]


def test_closing_writes_what_is_pending_first_and_nothing_after() -> None:
    async def scenario() -> FakeTransport:
        transport = FakeTransport()
        gathered = _Gathered(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
        gathered.write(b"431 answer")
        gathered.close()
        assert gathered.is_closing()
        await asyncio.sleep(0)  # the scheduled flush finds nothing left to write
        return transport

    transport = asyncio.run(scenario())
    assert transport.writes == [b"431 answer"]
    assert transport.closed


def test_the_stack_is_one_of_two_and_the_installed_one_by_default() -> None:
    deployment = World().deployment
    assert installed_stack() == "httptools"  # the dev extra brings the server extra
    for stack, loop in STACKS.items():
        assert uvicorn_config(deployment, host="127.0.0.1", port=0, stack=stack).loop == loop
    assert uvicorn_config(deployment, host="127.0.0.1", port=0).loop == "uvloop"
    with pytest.raises(ValueError, match="no HTTP stack 'zttp': one of httptools, h11"):
        uvicorn_config(deployment, host="127.0.0.1", port=0, stack="zttp")


def test_without_httptools_or_uvloop_the_stack_is_h11(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    for missing in ("httptools", "uvloop"):
        monkeypatch.setattr(
            importlib.util,
            "find_spec",
            lambda name, *args, gone=missing: None if name == gone else real(name, *args),
        )
        assert installed_stack() == "h11"
        config = uvicorn_config(World().deployment, host="127.0.0.1", port=0)
        assert config.loop == "asyncio"
