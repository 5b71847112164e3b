"""The code blocks of docs/embedding.md, each driven by its framework's test client
through the full signed flow, with exact error bodies (byte for byte the reference
handler's) and the raw-body binding."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import types
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.testing.world import World
from adapters.transport.http import HttpHandler
from tests.transport.conftest import Scene, make_scene

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


@pytest.fixture(scope="module")
def django_urls() -> Iterator[types.ModuleType]:
    """A URLconf module the Django examples' patterns are placed in (no project needed)."""
    import django  # type: ignore[import-untyped]  # Django ships no type hints
    from django.conf import settings  # type: ignore[import-untyped]

    module = types.ModuleType("archive_core_embedding_urls")
    module.urlpatterns = []  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="embedding-test-only",
            ALLOWED_HOSTS=["testserver"],
            ROOT_URLCONF=module.__name__,
            MIDDLEWARE=[
                "django.middleware.common.CommonMiddleware",
                "django.middleware.csrf.CsrfViewMiddleware",
            ],
            INSTALLED_APPS=[],
        )
        django.setup()
    yield module
    del sys.modules[module.__name__]


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


# ------------------------------------------------------------------------------ the scenario
def bearer(scene: Scene) -> Pairs:
    return [("Authorization", f"Bearer {scene.admin.token}")]


def signed_flow(send: Send, scene: Scene, prefix: str, target: str, payload: str = "") -> str:
    """init → sign → complete over the embedding; the path signed has no prefix."""
    world, path = scene.world, f"/auth/users/{target}"
    status, headers, body = send(
        "POST",
        prefix + "/auth/action/init",
        bearer(scene),
        world.init_body("DELETE", path, payload),
    )
    assert status == 200, body
    assert headers.get("content-type", headers.get("Content-Type")) == "application/json"
    challenge = json.loads(body)
    complete = {
        "challengeIdentifier": challenge["challengeIdentifier"],
        "firstFactor": world.sign_challenge(scene.admin, challenge),
    }
    status, _, body = send(
        "POST", prefix + "/auth/action", bearer(scene), json.dumps(complete).encode()
    )
    assert status == 200, body
    token = json.loads(body)["userAction"]
    assert isinstance(token, str)
    return token


def exercise(send: Send, scene: Scene, prefix: str = "", *, raw_path_survives: bool = True) -> None:
    world = scene.world
    employee, end_user = scene.employee.id, scene.end_user.id

    # the signed flow, then the archived user is gone
    token = signed_flow(send, scene, prefix, employee)
    headers = [*bearer(scene), ("X-DFNS-USERACTION", token)]
    status, _, body = send("DELETE", f"{prefix}/auth/users/{employee}", headers, b"")
    assert status == 200, body
    assert json.loads(body)["isActive"] is False
    assert world.fresh_user(scene.employee.user).is_archived

    # raw-body binding: `{}` signed as "{}"
    token = signed_flow(send, scene, prefix, end_user, "{}")
    headers = [*bearer(scene), ("X-DFNS-USERACTION", token)]
    status, _, body = send("DELETE", f"{prefix}/auth/users/{end_user}", headers, b"{}")
    assert status == 200, body

    # refusals: byte for byte what the reference handler answers
    reference = HttpHandler(world.deployment)
    other = f"/auth/users/{scene.other_user.id}"
    fresh = signed_flow(send, scene, prefix, scene.reader.id)
    refusals: list[tuple[str, str, Pairs, bytes, int]] = [
        ("GET", f"/auth/users/{employee}", bearer(scene), b"", 404),
        ("GET", other, bearer(scene), b"", 404),
        ("GET", "/auth/users/us-x/extra", bearer(scene), b"", 404),
        ("PUT", "/auth/action", bearer(scene), b"", 405),
        ("DELETE", "/auth/action/init", bearer(scene), b"", 405),
        ("POST", "/auth/action/init", bearer(scene), b"x" * (64 * 1024 + 1), 413),
        ("POST", "/auth/action/init", bearer(scene), b"{oops", 400),
        ("GET", "/auth/users/NOT-AN-ID", bearer(scene), b"", 400),
        ("GET", other, [], b"", 401),
        (
            "GET",
            f"/auth/users/{employee}",
            [*bearer(scene), *((f"X-Filler-{i}", "x") for i in range(100))],
            b"",
            431,
        ),
        ("DELETE", f"/auth/users/{scene.reader.id}", bearer(scene), b"", 403),
        (
            "DELETE",
            f"/auth/users/{scene.reader.id}",
            [*bearer(scene), ("X-DFNS-USERACTION", fresh)],
            b"{}",
            403,
        ),
    ]
    for method, path, request_headers, request_body, expected in refusals:
        status, answer_headers, body = send(method, prefix + path, request_headers, request_body)
        framed = [("Content-Length", str(len(request_body)))] if request_body else []
        want = reference.handle(method, path, [*request_headers, *framed], request_body)
        assert (status, body) == (expected, want.body), (method, path, body)
        if expected == 405:
            allow = answer_headers.get("allow", answer_headers.get("Allow"))
            assert allow == dict(want.headers)["allow"]
    assert not world.fresh_user(scene.reader.user).is_archived

    # the raw path: never decoded into another id
    status, _, body = send("GET", f"{prefix}/auth/users/us-a%2Fb", bearer(scene), b"")
    if raw_path_survives:
        assert (status, json.loads(body)["error"]["message"]) == (400, "The user id is malformed.")
    else:
        assert (status, json.loads(body)["error"]["message"]) == (404, "Not Found")


# ------------------------------------------------------------------------------ the tests
def test_the_document_has_an_example_per_framework() -> None:
    text = "\n".join(BLOCKS)
    for marker in ("archive_router", "Mount(", "archive_blueprint", "archive_urlpatterns"):
        assert marker in text


def test_fastapi_example() -> None:
    scene = make_scene(World())
    app = run_block(block_index("archive_router"), scene.world.deployment)["app"]
    exercise(asgi_sender(app), scene)


def test_fastapi_router_under_a_prefix() -> None:
    from fastapi import FastAPI

    from adapters.transport.embeddings.fastapi import archive_router

    scene = make_scene(World())
    app = FastAPI()
    app.include_router(archive_router(scene.world.deployment, prefix="/dfns"))
    exercise(asgi_sender(app), scene, "/dfns")


def test_starlette_mount_example() -> None:
    scene = make_scene(World())
    app = run_block(block_index("Mount("), scene.world.deployment)["app"]
    exercise(asgi_sender(app), scene, "/dfns")
    status, _, body = asgi_sender(app)("GET", "/dfns/openapi.json", [], b"")
    assert status == 200
    assert json.loads(body)["openapi"] == "3.1.0"


def test_flask_example() -> None:
    scene = make_scene(World())
    app = run_block(block_index("archive_blueprint"), scene.world.deployment)["app"]
    exercise(flask_sender(app), scene)


def test_flask_blueprint_under_a_prefix() -> None:
    import flask

    from adapters.transport.embeddings.flask import archive_blueprint

    scene = make_scene(World())
    app = flask.Flask("embedding_prefix")
    app.register_blueprint(archive_blueprint(scene.world.deployment, url_prefix="/dfns"))
    exercise(flask_sender(app), scene, "/dfns")


def test_django_example(django_urls: types.ModuleType) -> None:
    scene = make_scene(World())
    patterns = run_block(block_index("archive_urlpatterns"), scene.world.deployment)["urlpatterns"]
    # Django's test client decodes the path and sends no REQUEST_URI: `%2F` is a `/` there.
    exercise(django_sender(django_urls, patterns), scene, raw_path_survives=False)


def test_django_example_under_a_server_that_keeps_the_raw_path(
    django_urls: types.ModuleType,
) -> None:
    scene = make_scene(World())
    patterns = run_block(block_index("archive_urlpatterns"), scene.world.deployment)["urlpatterns"]
    send = django_sender(django_urls, patterns, REQUEST_URI="/auth/users/us-a%2Fb")
    status, _, body = send("GET", "/auth/users/us-a%2Fb", bearer(scene), b"")
    assert (status, json.loads(body)["error"]["message"]) == (400, "The user id is malformed.")


def test_django_prefixed_example(django_urls: types.ModuleType) -> None:
    scene = make_scene(World())
    index = block_index("archive_urlpatterns", nth=1)
    patterns = run_block(index, scene.world.deployment)["urlpatterns"]
    exercise(django_sender(django_urls, patterns), scene, "/dfns", raw_path_survives=False)


def test_embedding_modules_import_only_their_framework() -> None:
    """Importing the transport package or the embeddings package imports no framework."""
    import subprocess

    code = (
        "import sys, adapters.transport, adapters.transport.embeddings;"
        "print(sorted(m for m in ('fastapi', 'starlette', 'flask', 'django', 'werkzeug')"
        " if m in sys.modules))"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------------------ deactivate/activate
def _toggle(send: Send, scene: Scene, prefix: str = "") -> None:
    """Deactivate, then activate, the employee through the embedding."""
    world, target = scene.world, scene.employee.id
    for action, body, active in (("deactivate", b"{}", False), ("activate", b"", True)):
        path = f"/auth/users/{target}/{action}"
        token = world.user_action(scene.admin, "PUT", path, body.decode())
        headers = [*bearer(scene), ("X-DFNS-USERACTION", token)]
        status, _, answer = send("PUT", prefix + path, headers, body)
        assert status == 200, answer
        assert json.loads(answer)["isActive"] is active
        world.clock.advance(timedelta(seconds=1))


def test_deactivate_and_activate_through_fastapi() -> None:
    scene = make_scene(World())
    _toggle(
        asgi_sender(run_block(block_index("archive_router"), scene.world.deployment)["app"]), scene
    )


def test_deactivate_and_activate_through_flask() -> None:
    scene = make_scene(World())
    _toggle(
        flask_sender(run_block(block_index("archive_blueprint"), scene.world.deployment)["app"]),
        scene,
    )


def test_deactivate_and_activate_through_django(django_urls: types.ModuleType) -> None:
    scene = make_scene(World())
    patterns = run_block(block_index("archive_urlpatterns"), scene.world.deployment)["urlpatterns"]
    _toggle(django_sender(django_urls, patterns), scene)
