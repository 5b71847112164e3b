"""The page of the real-browser test: the official `@dfns/sdk` client and `@dfns/sdk-browser`
`WebAuthnSigner`, installed from the npm registry at the versions `package-lock.json`
pins and bundled with esbuild, served from a localhost port of its own.

Everything is built inside the clone (`tests/e2e/browser/`: `node_modules/`, the npm
cache `.npm-cache/` and the bundle `dist/`, all git-ignored); nothing is cached elsewhere.
One build at a time: two test processes (pytest-xdist's workers, two runs in one clone)
take `.build.lock` in turn, so neither sees the other's half-written `node_modules/`.
"""

from __future__ import annotations

import fcntl
import functools
import http.server
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Self

from tests.e2e.conftest import npm_ci

__all__ = ["BROWSER_DIR", "PageServer", "build_page"]

BROWSER_DIR = Path(__file__).resolve().parent / "browser"


def build_page() -> Path:
    """`npm ci` then esbuild: the folder to serve (index.html + the bundled page.js)."""
    with (BROWSER_DIR / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        return _build()


def _build() -> Path:
    env = npm_ci(BROWSER_DIR)
    dist = BROWSER_DIR / "dist"
    dist.mkdir(exist_ok=True)
    subprocess.run(  # noqa: S603 - the esbuild that npm ci installed, fixed arguments
        [
            str(BROWSER_DIR / "node_modules" / ".bin" / "esbuild"),
            "src/page.js",
            "--bundle",
            "--format=iife",
            "--platform=browser",
            "--target=chrome100",
            "--log-level=warning",
            f"--outfile={dist / 'page.js'}",
        ],
        cwd=BROWSER_DIR,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    shutil.copyfile(BROWSER_DIR / "src" / "index.html", dist / "index.html")
    return dist


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """No access log on the test's output."""


class PageServer:
    """A static file server for `folder` on 127.0.0.1; the page's origin is
    `http://localhost:<port>` (a secure context, so WebAuthn works with rp id localhost)."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://localhost:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
