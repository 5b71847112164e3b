"""Progress of long CLI work: shown on a terminal, quiet with --json or when stderr is
not one; throttled; cleared before the command's own output."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys

import pytest

from adapters.entrypoints.cli import main
from adapters.entrypoints.progress import Progress
from tests.e2e.conftest import ROOT
from tests.services import cli_environment


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database whose audit trail holds the demo's archives."""
    db = str(tmp_path_factory.mktemp("progress") / "trail.db")
    assert main(["demo", "--db", db], out=io.StringIO()) == 0
    return db


def test_progress_is_throttled_and_cleared() -> None:
    now = [0.0]
    stream = Terminal()
    progress = Progress(stream, enabled=True, interval=1.0, clock=lambda: now[0])
    progress.update("re-verifying", 1, 4)
    now[0] = 0.5
    progress.update("re-verifying", 2, 4)  # too soon: skipped
    now[0] = 1.5
    progress.update("re-verifying", 3, 4)
    progress.update("scanned", 1200, force=True)
    progress.done()
    assert stream.getvalue() == (
        "\r\x1b[Kre-verifying: 1/4 (25%) 0.0s"
        "\r\x1b[Kre-verifying: 3/4 (75%) 1.5s"
        "\r\x1b[Kscanned: 1,200 1.5s"
        "\r\x1b[K"
    )


def test_disabled_progress_writes_nothing() -> None:
    stream = Terminal()
    progress = Progress(stream, enabled=False)
    progress.update("x", 1, 2, force=True)
    progress.done()
    assert stream.getvalue() == ""


def test_audit_verify_shows_progress_on_a_terminal(trail: str) -> None:
    out, err = io.StringIO(), Terminal()
    assert main(["audit", "--verify", "--db", trail], out=out, err=err) == 0
    assert re.search(r"re-verifying: ([0-9,]+)/\1 \(100%\)", err.getvalue())
    assert re.search(r"checking the Merkle trees: ([0-9,]+)/\1 \(100%\)", err.getvalue())
    assert err.getvalue().endswith("\r\x1b[K")
    assert "\x1b" not in out.getvalue()
    assert out.getvalue().rstrip().endswith("verified")


@pytest.mark.parametrize(
    ("argv", "err_kind"),
    [
        (["audit", "--verify", "--json"], "terminal"),
        (["audit", "--verify"], "pipe"),
        (["purge", "--json"], "terminal"),
        (["purge"], "pipe"),
    ],
)
def test_quiet_with_json_or_without_a_terminal(trail: str, argv: list[str], err_kind: str) -> None:
    err = Terminal() if err_kind == "terminal" else io.StringIO()
    assert main([*argv, "--db", trail], out=io.StringIO(), err=err) == 0
    assert err.getvalue() == ""


def test_purge_shows_each_store_on_a_terminal(trail: str) -> None:
    out, err = io.StringIO(), Terminal()
    assert main(["purge", "--db", trail], out=out, err=err) == 0
    shown = err.getvalue()
    assert "purging: 0/3 (0%)" in shown
    assert "purging userActions=0 challenges=0 nonces=0: 3/3 (100%)" in shown
    assert out.getvalue() == "challenges=0 nonces=0 userActions=0 purged\n"


def test_a_real_pty_gets_the_progress(trail: str) -> None:
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "adapters.entrypoints.cli", "audit", "--verify", "--db", trail],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=terminal,
            env=cli_environment(),
        )
        os.close(terminal)
        terminal = -1
        out, _ = process.communicate(timeout=120)
        shown = b""
        while select.select([controller], [], [], 0.5)[0]:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the other side is closed
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    assert process.returncode == 0
    assert b"re-verifying:" in shown and b"(100%)" in shown
    assert b"\x1b" not in out
