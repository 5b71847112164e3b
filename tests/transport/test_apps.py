"""What is particular to each application: the ASGI protocol (lifespan, websocket,
disconnects, raw_path and root_path), the WSGI environ (REQUEST_URI, PATH_INFO,
SCRIPT_NAME, bounded reads), and the log record of a request."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import httpx
import pytest

from adapters.transport.asgi import AsgiApplication, Message, raw_target
from adapters.transport.http import HttpHandler
from adapters.transport.wsgi import WsgiApplication, environ_headers
from adapters.transport.wsgi import raw_target as wsgi_raw_target
from tests.transport.client import call_asgi, call_wsgi
from tests.transport.conftest import Scene


def drive(app: AsgiApplication, scope: dict[str, Any], incoming: list[Message]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(3600)  # a real server would wait here
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


# ------------------------------------------------------------------------------ ASGI
def test_lifespan_startup_and_shutdown(handler: HttpHandler) -> None:
    app = AsgiApplication(handler=handler)
    sent = drive(
        app, {"type": "lifespan"}, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    )
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert app._executor is None  # the pool is stopped, and made again on demand


def test_app_serves_again_after_a_shutdown(handler: HttpHandler, scene: Scene) -> None:
    app = AsgiApplication(handler=handler, max_workers=1)
    drive(app, {"type": "lifespan"}, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    answer = call_asgi(app, "GET", f"/auth/users/{scene.employee.id}", scene.bearer())
    assert answer.status == 200
    app.close()


def test_websocket_is_closed(asgi_app: AsgiApplication) -> None:
    sent = drive(asgi_app, {"type": "websocket", "path": "/"}, [{"type": "websocket.connect"}])
    assert sent == [{"type": "websocket.close", "code": 1003}]


def test_client_gone_before_the_body_ends_gets_no_answer(
    asgi_app: AsgiApplication, scene: Scene
) -> None:
    headers = [(b"authorization", f"Bearer {scene.admin.token}".encode())]
    scope = {"type": "http", "method": "POST", "path": "/auth/action/init", "headers": headers}
    sent = drive(
        asgi_app,
        scope,
        [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}],
    )
    assert sent == []


def test_without_raw_path_the_path_is_re_encoded(asgi_app: AsgiApplication, scene: Scene) -> None:
    ok = call_asgi(
        asgi_app, "GET", f"/auth/users/{scene.employee.id}", scene.bearer(), raw_path=False
    )
    assert ok.status == 200
    # `path` is decoded: `%2F` is a `/` there, so the id has two segments
    slash = call_asgi(asgi_app, "GET", "/auth/users/us-a%2Fb", scene.bearer(), raw_path=False)
    assert (slash.status, slash.message) == (404, "Not Found")
    encoded = call_asgi(asgi_app, "GET", "/auth/users/us-%C3%A9", scene.bearer(), raw_path=False)
    assert (encoded.status, encoded.message) == (400, "The user id is malformed.")


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ({"raw_path": b"/auth/users/us-a%2Fb", "root_path": ""}, "/auth/users/us-a%2Fb"),
        ({"raw_path": b"/api/auth/action?x=1", "root_path": "/api"}, "/auth/action"),
        ({"raw_path": b"/auth/action", "root_path": "/api"}, "/auth/action"),
        ({"path": "/api/auth/users/us-a/b", "root_path": "/api"}, "/auth/users/us-a/b"),
        ({"path": "/auth/users/é"}, "/auth/users/%C3%A9"),
        ({"raw_path": b"/auth/users/\xff"}, "/auth/users/\xff"),
    ],
)
def test_asgi_raw_target(scope: dict[str, Any], expected: str) -> None:
    assert raw_target(scope) == expected


def test_root_path_is_the_mount(asgi_app: AsgiApplication, scene: Scene) -> None:
    answer = call_asgi(
        asgi_app, "GET", f"/api/auth/users/{scene.employee.id}", scene.bearer(), root_path="/api"
    )
    assert answer.status == 200


def test_bare_app_through_httpx(asgi_app: AsgiApplication, scene: Scene) -> None:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=asgi_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.get(f"/auth/users/{scene.employee.id}?q=1", headers=dict(scene.bearer()))

    response = asyncio.run(call())
    assert response.status_code == 200
    assert response.json()["userId"] == scene.employee.id


def test_an_application_needs_a_service_or_a_handler() -> None:
    with pytest.raises(TypeError):
        AsgiApplication()
    with pytest.raises(TypeError):
        WsgiApplication()


# ------------------------------------------------------------------------------ WSGI
@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"REQUEST_URI": "/auth/users/us-a%2Fb?x", "PATH_INFO": "/auth/users/us-a/b"},
            "/auth/users/us-a%2Fb",
        ),
        ({"RAW_URI": "/auth/action", "PATH_INFO": "/ignored"}, "/auth/action"),
        ({"PATH_INFO": "/auth/users/us-a/b"}, "/auth/users/us-a/b"),
        ({"PATH_INFO": "/auth/users/\xc3\xa9"}, "/auth/users/%C3%A9"),
        ({"REQUEST_URI": "/api/auth/action", "SCRIPT_NAME": "/api"}, "/auth/action"),
        ({"SCRIPT_NAME": "/api", "PATH_INFO": "/auth/action"}, "/auth/action"),
        ({"REQUEST_URI": "http://example.com/auth/action?x=1"}, "/auth/action"),
        ({"REQUEST_URI": "http://[::1/auth", "PATH_INFO": "/auth/action"}, "/auth/action"),
    ],
)
def test_wsgi_raw_target(environ: dict[str, str], expected: str) -> None:
    assert wsgi_raw_target(environ) == expected


def test_wsgi_headers_from_the_environ() -> None:
    pairs = environ_headers(
        {
            "HTTP_AUTHORIZATION": "Bearer x",
            "HTTP_X_DFNS_USERACTION": "ua",
            "CONTENT_LENGTH": "",
            "CONTENT_TYPE": "application/json",
            "REQUEST_METHOD": "GET",
        }
    )
    assert sorted(pairs) == [
        ("AUTHORIZATION", "Bearer x"),
        ("X-DFNS-USERACTION", "ua"),
        ("content-type", "application/json"),
    ]


def test_wsgi_without_length_or_termination_reads_no_body(
    wsgi_app: WsgiApplication, scene: Scene
) -> None:
    stream = io.BytesIO(b"{}")
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/auth/action/init",
        "HTTP_AUTHORIZATION": f"Bearer {scene.admin.token}",
        "wsgi.input": stream,
    }
    answer = wsgi_app.respond(environ)
    assert answer.status == 400
    assert b"not valid JSON" in answer.body  # an empty body, not the unframed `{}`
    assert stream.tell() == 0


def test_wsgi_reads_only_the_declared_length(wsgi_app: WsgiApplication, scene: Scene) -> None:
    stream = io.BytesIO(b"{}" + b"x" * 100)
    environ = {
        "REQUEST_METHOD": "DELETE",
        "PATH_INFO": f"/auth/users/{scene.employee.id}",
        "CONTENT_LENGTH": "2",
        "HTTP_AUTHORIZATION": f"Bearer {scene.admin.token}",
        "wsgi.input": stream,
    }
    wsgi_app.respond(environ)
    assert stream.tell() == 2


def test_wsgi_script_name_mount(wsgi_app: WsgiApplication, scene: Scene) -> None:
    answer = call_wsgi(
        wsgi_app,
        "GET",
        f"/api/auth/users/{scene.employee.id}",
        scene.bearer(),
        script_name="/api",
    )
    assert answer.status == 200


# ------------------------------------------------------------------------------ logs
def test_one_log_record_per_request_with_its_fields(
    handler: HttpHandler, scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="archive_core.http")
    handler.handle("GET", f"/auth/users/{scene.employee.id}", scene.bearer(), b"")
    handler.handle("BREW", "/auth/users/x", [], b"")
    handler.handle("GET", "/nowhere", [], b"")
    records = [r for r in caplog.records if r.name == "archive_core.http"]
    fields = [
        tuple(getattr(r, name) for name in ("method", "route", "status", "code", "reason"))
        for r in records
    ]
    assert fields == [
        ("GET", "get_user", 200, "ok", ""),
        ("OTHER", "users", 405, "method_not_allowed", ""),
        ("GET", "unmatched", 404, "route_not_found", ""),
    ]
    assert records[0].getMessage() == "GET get_user -> 200 ok"
