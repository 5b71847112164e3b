"""A server process for the HTTP benchmark: `python -m benchmarks.http_server KIND PORT INFO`.

KIND is `bare` (the reference ASGI app), `fastapi` (the same service mounted with the
FastAPI embedding) or `fixed` (bare uvicorn answering a fixed JSON document, for
context). Each runs on uvicorn with the same settings; in-memory storage, so the
figure is about the HTTP layer. INFO is a file the process writes `{"token", "userId"}`
to once it is ready.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import uvicorn

from adapters.entrypoints.server import ReadyServer
from adapters.transport.asgi import AsgiApplication
from adapters.wiring.bootstrap import build
from adapters.wiring.operations import bootstrap_org

FIXED = json.dumps({"userId": "us-aaaaa-bbbbb-cccccccccccccccc", "isActive": True}).encode()


async def fixed_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Bare uvicorn: the same answer for every request."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": FIXED})


def main(kind: str, port: int, info: Path) -> None:
    deployment = build(db_url="memory:")
    admin, _ = bootstrap_org(deployment)
    app: Any
    if kind == "bare":
        app = AsgiApplication(deployment)
    elif kind == "fastapi":
        from fastapi import FastAPI

        from adapters.transport.embeddings.fastapi import archive_router

        app = FastAPI()
        app.include_router(archive_router(deployment))
    elif kind == "fixed":
        app = fixed_app
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="on",
        log_level="warning",
        access_log=False,
        server_header=False,
        date_header=False,
    )

    def ready(host: str, bound: int) -> None:
        info.write_text(
            json.dumps({"token": admin.auth_token, "userId": admin.user.id, "port": bound})
        )

    ReadyServer(config, ready).run()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
