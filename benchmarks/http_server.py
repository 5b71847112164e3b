"""A peer server for the HTTP benchmark: `python -m benchmarks.http_server KIND DB STACK`.

KIND is `fastapi` (the service mounted with the FastAPI embedding over the SQLite file
DB, as `serve` opens it) or `fixed` (bare uvicorn answering a fixed JSON document).
Both run on uvicorn with uvicorn's own protocol and loop for STACK (`httptools`: on
uvloop; `h11`: on asyncio), logging as `serve` does by default (warnings, no access
log), on a free loopback port that is printed once ready (`serving on http://…`).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import uvicorn

from adapters.entrypoints.server import STACKS, ReadyServer
from adapters.wiring.bootstrap import build

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


def main(kind: str, db: str, stack: str) -> None:
    app: Any
    if kind == "fastapi":
        from fastapi import FastAPI

        from adapters.transport.embeddings.fastapi import archive_router

        deployment = build(db_url=db)
        app = FastAPI()
        app.include_router(archive_router(deployment))
    elif kind == "fixed":
        app = fixed_app
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        http=stack,
        loop=STACKS[stack],
        lifespan="on",
        log_level="warning",
        access_log=False,
        server_header=False,
        date_header=False,
    )

    def ready(host: str, bound: int) -> None:
        sys.stdout.write(f"serving on http://{host}:{bound}\n")
        sys.stdout.flush()

    ReadyServer(config, ready).run()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
