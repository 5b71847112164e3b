"""End-to-end fixtures: the `archive-core` CLI in subprocesses, `serve` on loopback."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

from tests.services import cli_environment, pg_schema, redis_prefix

__all__ = ["Served", "cli", "pg_schema", "redis_prefix", "serve"]

ROOT = Path(__file__).resolve().parents[2]
_READY = re.compile(r"archive-core serving on (http://\S+)")


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `archive-core ARGS` in a new process."""
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "adapters.entrypoints.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=cli_environment(),
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"archive-core {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        )
    return result


def cli_json(*args: str) -> Any:
    """Run a `--json` command; its parsed output."""
    return json.loads(cli(*args, "--json").stdout)


def new_org(db: str, username: str, kind: str = "EndUser") -> tuple[Any, Any]:
    """`bootstrap` in `db`, then `users create` of `username`: (the admin, the user)."""
    admin = cli_json("bootstrap", "--db", db)
    user = cli_json(
        "users", "create", "--db", db, "--org", admin["orgId"],
        "--username", username, "--kind", kind,
    )  # fmt: skip
    return admin, user


@attrs.define
class Served:
    """A running `archive-core serve` process."""

    process: subprocess.Popen[str]
    url: str
    #: what it printed up to its "serving on" line (the metrics listener's URL among it)
    started: str = ""

    def stop(self) -> tuple[int, str]:
        """SIGTERM, then the exit status and the rest of its output."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        return self.process.returncode, out


def start_serve(*args: str, env: Mapping[str, str] | None = None) -> Served:
    """Start `archive-core serve --port 0 ARGS` (with `env` added to the environment) and
    wait for its URL."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-u", "-m", "adapters.entrypoints.cli", "serve", "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=cli_environment({"PYTHONUNBUFFERED": "1", **(env or {})}),
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        match = _READY.search(line)
        if match:
            return Served(process, match.group(1), "".join(seen))
    process.kill()
    raise AssertionError("serve did not start:\n" + "".join(seen))


@pytest.fixture
def serve() -> Iterator[Any]:
    """A factory of `serve` processes, all stopped after the test."""
    started: list[Served] = []

    def factory(*args: str, env: Mapping[str, str] | None = None) -> Served:
        served = start_serve(*args, env=env)
        started.append(served)
        return served

    yield factory
    for served in started:
        if served.process.poll() is None:
            served.stop()


def npm_ci(folder: Path) -> dict[str, str]:
    """`npm ci` in `folder` (the versions its package-lock.json pins, its npm cache in
    `.npm-cache/` beside it), one install at a time (`.install.lock`: two test processes
    never see each other's half-written `node_modules/`); the environment to run what it
    installed with."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to install the official TypeScript SDKs")
    with (folder / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        return _npm_ci(npm, folder)


def _npm_ci(npm: str, folder: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "npm_config_cache": str(folder / ".npm-cache"),
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
    }
    subprocess.run(  # noqa: S603 - npm from PATH, fixed arguments
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=folder,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return env
