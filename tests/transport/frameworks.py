"""What the embedding tests share: the code blocks of docs/embedding.md, and a sender
per framework (a request in, status, headers and body out) over its test client."""

from __future__ import annotations

import asyncio
import json
import re
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

DOC = Path(__file__).resolve().parents[2] / "docs" / "embedding.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)

Pairs = list[tuple[str, str]]
Answer = tuple[int, dict[str, str], bytes]
Send = Callable[[str, str, Pairs, bytes], Answer]


def run_block(index: int, deployment: object) -> dict[str, Any]:
    namespace: dict[str, Any] = {"deployment": deployment, "__name__": "embedding_example"}
    exec(compile(BLOCKS[index], f"{DOC}#block-{index}", "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace


def block_index(marker: str, *, nth: int = 0) -> int:
    return [i for i, block in enumerate(BLOCKS) if marker in block][nth]


# ------------------------------------------------------------------------------ clients
def asgi_sender(app: Any) -> Send:
    def send(method: str, path: str, headers: Pairs, body: bytes) -> Answer:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.request(method, path, headers=headers, content=body)

        response = asyncio.run(call())
        return response.status_code, dict(response.headers), response.content

    return send


def flask_sender(app: Any) -> Send:
    client = app.test_client()

    def send(method: str, path: str, headers: Pairs, body: bytes) -> Answer:
        response = client.open(path, method=method, headers=headers, data=body)
        return response.status_code, dict(response.headers), response.data

    return send


def django_sender(urls: types.ModuleType, patterns: list[Any], **environ: str) -> Send:
    from django.test import Client, override_settings  # type: ignore[import-untyped]
    from django.urls import clear_url_caches  # type: ignore[import-untyped]

    urls.urlpatterns = patterns  # type: ignore[attr-defined]
    clear_url_caches()
    client = Client()

    def send(method: str, path: str, headers: Pairs, body: bytes) -> Answer:
        extra = dict(environ)
        extra.update(("HTTP_" + name.upper().replace("-", "_"), value) for name, value in headers)
        with override_settings(ROOT_URLCONF=urls.__name__):
            response = client.generic(
                method, path, data=body, content_type="application/json", **extra
            )
        return response.status_code, dict(response.headers), response.content

    return send


def is_ours(body: bytes) -> bool:
    """Whether an answer's body is one of the reference handler's refusals."""
    try:
        document = json.loads(body)
    except ValueError:
        return False
    return isinstance(document, dict) and set(document) == {"error"}


_ERROR_ID = re.compile(rb'"id":"er-[a-z0-9-]+"')


def without_error_id(body: bytes) -> bytes:
    """An answer's body with its `error.id` blanked: two refusals are the same answer when
    all but their own ids are equal."""
    return _ERROR_ID.sub(b'"id":""', body)
