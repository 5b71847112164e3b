"""CORS (`serve --cors-origin`, SPEC §4 Browsers) over real uvicorn: preflights for the
service's routes from the allowed origins, the origin on their answers, nothing to any
other origin, and nothing at all without the setting."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from adapters.entrypoints.server import BackgroundServer
from adapters.transport.cors import ALLOWED_HEADERS
from tests.transport.conftest import Scene

PAGE = "http://localhost:5173"
OTHER = "https://evil.example"


@pytest.fixture
def cors_url(scene: Scene) -> Iterator[str]:
    with BackgroundServer(scene.world.service(), cors_origins=[PAGE]) as server:
        yield server.url


def _preflight(url: str, path: str, method: str, origin: str = PAGE) -> httpx.Response:
    return httpx.options(
        url + path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type,x-dfns-useraction",
        },
    )


@pytest.mark.parametrize(
    ("path", "method", "methods"),
    [
        ("/auth/action/init", "POST", "POST"),
        ("/auth/action", "POST", "POST"),
        ("/auth/users/us-2mhcm-9r90a-92ran47bjpl60hmv", "DELETE", "DELETE, GET"),
        ("/auth/users/us-2mhcm-9r90a-92ran47bjpl60hmv", "GET", "DELETE, GET"),
        ("/openapi.json", "GET", "GET"),
    ],
)
def test_preflight_of_a_route_from_an_allowed_origin(
    cors_url: str, path: str, method: str, methods: str
) -> None:
    answer = _preflight(cors_url, path, method)
    assert answer.status_code == 204
    assert answer.content == b""
    assert answer.headers["access-control-allow-origin"] == PAGE
    assert answer.headers["access-control-allow-methods"] == methods
    assert answer.headers["access-control-allow-headers"] == ALLOWED_HEADERS
    assert answer.headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in answer.headers


def test_allowed_headers_are_what_the_sdks_send() -> None:
    assert ALLOWED_HEADERS.split(", ") == [
        "authorization",
        "content-type",
        "x-dfns-useraction",
        "x-dfns-appid",
        "x-dfns-nonce",
        "x-dfns-sdk-version",
    ]


@pytest.mark.parametrize(
    ("path", "method", "status"),
    [
        ("/auth/action/init", "DELETE", 405),  # not a method of the route
        ("/auth/nowhere", "POST", 404),  # not a route
    ],
)
def test_preflight_of_no_route_or_method_is_the_plain_refusal(
    cors_url: str, path: str, method: str, status: int
) -> None:
    answer = _preflight(cors_url, path, method)
    assert answer.status_code == status
    assert answer.json()["error"]["status"] == status
    assert "access-control-allow-methods" not in answer.headers


def test_other_origins_are_told_nothing(cors_url: str, scene: Scene) -> None:
    preflight = _preflight(cors_url, "/auth/action/init", "POST", origin=OTHER)
    assert preflight.status_code == 405
    assert not [h for h in preflight.headers if h.startswith("access-control-")]
    answer = httpx.get(
        f"{cors_url}/auth/users/{scene.employee.id}",
        headers={"Origin": OTHER, **dict(scene.bearer())},
    )
    assert answer.status_code == 200
    assert not [h for h in answer.headers if h.startswith("access-control-")]


def test_answers_to_an_allowed_origin_carry_it(cors_url: str, scene: Scene) -> None:
    fetched = httpx.get(
        f"{cors_url}/auth/users/{scene.employee.id}",
        headers={"Origin": PAGE, **dict(scene.bearer())},
    )
    assert fetched.status_code == 200
    assert fetched.headers["access-control-allow-origin"] == PAGE
    refused = httpx.get(f"{cors_url}/auth/users/{scene.employee.id}", headers={"Origin": PAGE})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == PAGE  # the page reads the error
    assert refused.json()["error"] == {
        "message": "Not Authorized.",
        "status": 401,
        "code": "not_authorized",
        "reason": refused.json()["error"]["reason"],
    }
    archived = httpx.delete(
        f"{cors_url}/auth/users/{scene.end_user.id}",
        headers={"Origin": PAGE, **dict(scene.archive_headers(scene.end_user))},
    )
    assert archived.status_code == 200
    assert archived.headers["access-control-allow-origin"] == PAGE


def test_two_origin_headers_are_no_origin(cors_url: str) -> None:
    answer = httpx.options(
        cors_url + "/auth/action/init",
        headers=[
            ("Origin", PAGE),
            ("Origin", PAGE),
            ("Access-Control-Request-Method", "POST"),
        ],
    )
    assert answer.status_code == 405
    assert "access-control-allow-origin" not in answer.headers


def test_without_the_setting_nothing_changes(scene: Scene) -> None:
    with BackgroundServer(scene.world.service()) as server:
        preflight = _preflight(server.url, "/auth/action/init", "POST")
        fetched = httpx.get(
            f"{server.url}/auth/users/{scene.employee.id}",
            headers={"Origin": PAGE, **dict(scene.bearer())},
        )
    assert preflight.status_code == 405
    assert fetched.status_code == 200
    for answer in (preflight, fetched):
        assert not [h for h in answer.headers if h.startswith("access-control-")]
