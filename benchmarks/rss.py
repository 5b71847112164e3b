"""`rss_growth_ratio`: resident memory of `archive-core serve` (SQLite) after N signed flows
÷ after the first N/20 (full: 20,000 ÷ 1,000; quick: 5,000 ÷ 500).

Every flow is the real thing over loopback HTTP: init → sign (Ed25519) → complete →
DELETE of a fresh user, with a fresh bearer token every 100 flows. Caches (verified
tokens, loaded keys) and single-use records (challenges, nonces, grants) must stay
bounded for the ratio to stay near 1. Goal: ≤ 1.2.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from adapters.client.signer import KeySigner, init_body
from adapters.wiring.bootstrap import build
from adapters.wiring.operations import bootstrap_org
from archive_core.entities import TokenKind, UserKind

__all__ = ["GOAL", "run", "serving"]

GOAL = 1.2
THREADS = 4
_SERVE = ("serve", "--port", "0", "--db")
_READY = re.compile(r"archive-core serving on http://([0-9.]+):(\d+)")


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _prepare(db: str, targets: int) -> dict[str, Any]:
    with build(db_url=db) as deployment:
        admin, _ = bootstrap_org(deployment)
        org = admin.user.org_id
        ids = [
            deployment.provisioning.create_user(org, f"t{i}@example.com", UserKind.END_USER).id
            for i in range(targets)
        ]
        tokens = [
            deployment.bearer_tokens.issue(
                admin.user,
                now=deployment.clock.now(),
                ttl=timedelta(hours=2),
                token_kind=TokenKind.LOGIN,
            )
            for _ in range(targets // 100 + 1)
        ]
    assert admin.credential is not None and admin.private_key_pem is not None
    return {
        "targets": ids,
        "tokens": tokens,
        "cred_id": admin.credential.cred_id,
        "key": admin.private_key_pem,
    }


class _Driver:
    def __init__(self, port: int, setup: dict[str, Any]) -> None:
        self.port = port
        self.signer = KeySigner(setup["cred_id"], setup["key"])

    def flows(self, work: list[tuple[str, str]]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

        def call(
            method: str, path: str, token: str, body: bytes | None, extra: dict[str, str]
        ) -> dict[str, Any]:
            headers = {"Authorization": f"Bearer {token}", **extra}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            document = json.loads(response.read())
            if response.status != 200:
                raise RuntimeError(f"{method} {path}: {response.status} {document}")
            return document  # type: ignore[no-any-return]

        for target, token in work:
            path = f"/auth/users/{target}"
            challenge = call("POST", "/auth/action/init", token, init_body("DELETE", path), {})
            body = self.signer.complete_body(challenge)
            grant = call("POST", "/auth/action", token, body, {})
            call("DELETE", path, token, None, {"X-DFNS-USERACTION": grant["userAction"]})
        connection.close()

    def run(self, work: list[tuple[str, str]]) -> None:
        chunks = [work[i::THREADS] for i in range(THREADS)]
        errors: list[BaseException] = []

        def target(chunk: list[tuple[str, str]]) -> None:
            try:
                self.flows(chunk)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=target, args=(c,)) for c in chunks]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]


@contextmanager
def serving(db: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`archive-core serve --db DB` on a free loopback port, and its port; stopped (SIGTERM)
    at the end of the block."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-u", "-m", "adapters.entrypoints.cli", *_SERVE, db],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        port = None
        for line in process.stdout:
            match = _READY.search(line)
            if match:
                port = int(match.group(2))
                break
        if port is None:
            raise RuntimeError("serve did not start")
        yield process, port
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)


def run(*, quick: bool, tiny: bool = False) -> dict[str, Any]:
    """Drive `serve` through the flows; RSS after the first ones and at the end."""
    total = 40 if tiny else 5_000 if quick else 20_000
    first = max(1, total // (10 if quick else 20))
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "rss.db")
        setup = _prepare(db, total)
        with serving(db) as (process, port):
            driver = _Driver(port, setup)
            work = [(t, setup["tokens"][i // 100]) for i, t in enumerate(setup["targets"])]
            driver.run(work[:first])
            after_first = _rss_kib(process.pid)
            driver.run(work[first:])
            after_all = _rss_kib(process.pid)
    return {
        "rss_growth_ratio": after_all / after_first,
        "figures": {
            "rss_after_first_flows": {"flows": first, "kib": after_first},
            "rss_after_all_flows": {"flows": total, "kib": after_all},
        },
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
