"""What an application that calls a handler itself is given: the core's `Request` of an
ASGI scope, a WSGI environ or a framework's request (raw path, headers as sent, exact
body, raw query), and the server's answer to an exception — `HttpHandler.refusal`, and
per framework `refusal_response` — byte for byte what the server answers."""

from __future__ import annotations

import json
import logging
import types
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.requests import Request as StarletteRequest  # resolved by FastAPI by name

from adapters.testing.world import World
from adapters.transport import request_from_environ, request_from_scope
from adapters.transport.http import HttpHandler, HttpResponse, StreamedResponse
from archive_core import Answer, ArchiveCoreError, Declaration, Handler, Request
from archive_core.errors import Catalogue, ConcurrencyConflict, StorageUnavailable
from tests.transport.frameworks import asgi_sender, django_sender, flask_sender, without_error_id

BODY = b'{"b": 1,  "a": [2]}'  # as sent: spacing and order kept
ECHO_PATH = "/echo/us-a%2Fb?x=%20y&z"


def test_request_from_scope_keeps_what_was_sent() -> None:
    scope = {
        "type": "http",
        "method": "PUT",
        "path": "/root/dfns/auth/users/us-a/b",
        "raw_path": b"/root/dfns/auth/users/us-a%2Fb",
        "root_path": "/root",
        "query_string": b"x=%20y&z",
        "headers": [(b"x-dfns-nonce", b"one"), (b"X-DFNS-NONCE", b"two"), (b"accept", b"*/*")],
    }
    request = request_from_scope(scope, BODY, prefix="/dfns", params={"userId": "us-a%2Fb"})
    assert (request.method, request.path, request.query) == (
        "PUT",
        "/auth/users/us-a%2Fb",
        "x=%20y&z",
    )
    assert request.body == BODY
    assert request.headers.values("x-dfns-nonce") == ("one", "two")
    assert dict(request.params) == {"userId": "us-a%2Fb"}
    assert dict(request_from_scope(scope, b"").params) == {}
    assert request_from_scope(scope, b"").path == "/dfns/auth/users/us-a%2Fb"


def test_request_from_environ_keeps_what_was_sent() -> None:
    environ = {
        "REQUEST_METHOD": "DELETE",
        "SCRIPT_NAME": "/app",
        "PATH_INFO": "/dfns/auth/users/us-a/b",
        "REQUEST_URI": "/app/dfns/auth/users/us-a%2Fb?x=%20y&z",
        "QUERY_STRING": "x=%20y&z",
        "HTTP_AUTHORIZATION": "Bearer t",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(BODY)),
    }
    request = request_from_environ(environ, BODY, prefix="/dfns")
    assert (request.method, request.path, request.query, request.body) == (
        "DELETE",
        "/auth/users/us-a%2Fb",
        "x=%20y&z",
        BODY,
    )
    assert request.headers.values("authorization") == ("Bearer t",)
    assert request.headers.values("content-length") == (str(len(BODY)),)
    assert dict(request.params) == {}
    assert request_from_environ(environ, b"", params={"userId": "u"}).params == {"userId": "u"}


RAISED = [
    ArchiveCoreError(Catalogue.TARGET_NOT_FOUND, reason="target_unknown"),
    ConcurrencyConflict("us-1"),
    StorageUnavailable(
        "sqlite: the disk is on fire", store="sqlite", driver_error="OperationalError"
    ),
    RuntimeError("a secret the caller never sees"),
]


@pytest.mark.parametrize("exc", RAISED, ids=lambda exc: type(exc).__name__)
def test_the_refusal_is_what_the_server_answers_and_logs(
    exc: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    def raising(request: Request) -> Answer:
        raise exc

    raises: Declaration[Handler] = Declaration(
        name="Raises",
        method="GET",
        path="/raises",
        operation_id="raises",
        outcome="",
        summary="Raises what the test gives it.",
        build=lambda wiring, declaration: raising,
    )
    world = World(operations=(raises,))
    with caplog.at_level(logging.INFO, logger="archive_core.http"):
        served = HttpHandler(world.deployment).handle("GET", "/raises", [], b"")
        refused = HttpHandler.refusal(exc, method="GET", route="raises")
    assert refused._replace(body=without_error_id(refused.body)) == served._replace(
        body=without_error_id(served.body)
    )
    assert b"secret" not in refused.body and b"fire" not in refused.body
    server, ours = (record.getMessage() for record in caplog.records)
    # Each names its own answer's id.
    for message, answer in ((server, served), (ours, refused)):
        assert f" id={json.loads(answer.body)['error']['id']}" in message
    assert ours.split(" id=")[0] == server.split(" id=")[0]


def test_the_refusal_of_a_framework_is_the_servers(django_urls: types.ModuleType) -> None:
    from adapters.transport.embeddings import django, fastapi, flask

    exc = ArchiveCoreError(Catalogue.NOT_AUTHORIZED, reason="caller_unknown")
    want = HttpHandler.refusal(exc)
    starlette = fastapi.refusal_response(exc)
    flask_response = flask.refusal_response(exc)
    django_response = django.refusal_response(exc)
    answers = [
        (starlette.status_code, dict(starlette.headers), starlette.body),
        (flask_response.status_code, dict(flask_response.headers), flask_response.get_data()),
        (django_response.status_code, dict(django_response.headers), django_response.content),
    ]
    for status, headers, body in answers:
        assert (status, without_error_id(body)) == (401, without_error_id(want.body))
        assert {k.lower(): v for k, v in headers.items()} == dict(want.headers)


def test_a_streamed_answer_stays_a_stream_in_every_framework(
    django_urls: types.ModuleType,
) -> None:
    from adapters.transport.embeddings import django, fastapi, flask

    pulled: list[bytes] = []

    def chunks() -> Iterator[bytes]:
        for chunk in (b"a,b\n", b"1,2\n"):
            pulled.append(chunk)
            yield chunk

    def streamed() -> StreamedResponse:
        return StreamedResponse(200, (("content-type", "text/csv"),), chunks())

    starlette = fastapi.to_starlette(streamed())
    flask_response = flask.to_flask(streamed())
    django_response = django.to_django(streamed())
    assert not pulled  # nothing made before the framework sends it
    assert flask_response.is_streamed and django_response.streaming
    assert type(starlette).__name__ == "StreamingResponse"
    assert b"".join(django_response.streaming_content) == b"a,b\n1,2\n"
    assert flask_response.get_data() == b"a,b\n1,2\n"
    whole = fastapi.to_starlette(HttpResponse(200, (("content-type", "text/plain"),), b"x"))
    assert (whole.status_code, whole.body) == (200, b"x")


# ------------------------------------------------------------------------ archive_request
def echo(request: Request) -> dict[str, Any]:
    return {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "body": request.body.decode(),
        "nonces": list(request.headers.values("x-dfns-nonce")),
        "params": dict(request.params),
    }


WANT = {
    "method": "POST",
    "path": "/echo/us-a%2Fb",
    "query": "x=%20y&z",
    "body": BODY.decode(),
    "nonces": ["n1"],
    "params": {"userId": "given"},
}


def test_archive_request_of_fastapi() -> None:
    from fastapi import FastAPI

    from adapters.transport.embeddings.fastapi import archive_request

    app = FastAPI()

    @app.post("/echo/{rest:path}")
    async def echoed(request: StarletteRequest) -> dict[str, Any]:
        return echo(await archive_request(request, params={"userId": "given"}))

    status, _, body = asgi_sender(app)("POST", ECHO_PATH, [("X-DFNS-NONCE", "n1")], BODY)
    assert (status, json.loads(body)) == (200, WANT)


def test_archive_request_of_flask() -> None:
    import flask

    from adapters.transport.embeddings.flask import archive_request

    app = flask.Flask("echo")

    @app.post("/echo/<path:rest>")
    def echoed(rest: str) -> dict[str, Any]:
        return echo(archive_request(params={"userId": "given"}))

    status, _, body = flask_sender(app)("POST", ECHO_PATH, [("X-DFNS-NONCE", "n1")], BODY)
    assert (status, json.loads(body)) == (200, WANT)


def test_archive_request_of_django(django_urls: types.ModuleType) -> None:
    from django.http import JsonResponse  # type: ignore[import-untyped]
    from django.urls import re_path  # type: ignore[import-untyped]
    from django.views.decorators.csrf import csrf_exempt  # type: ignore[import-untyped]

    from adapters.transport.embeddings.django import archive_request

    @csrf_exempt  # type: ignore[untyped-decorator]  # Django ships no type hints
    def echoed(request: Any) -> Any:
        return JsonResponse(echo(archive_request(request, params={"userId": "given"})))

    send = django_sender(
        django_urls, [re_path(r"^echo/", echoed)], REQUEST_URI=ECHO_PATH.partition("?")[0]
    )
    status, _, body = send("POST", ECHO_PATH, [("X-DFNS-NONCE", "n1")], BODY)
    assert (status, json.loads(body)) == (200, WANT)
