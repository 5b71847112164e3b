"""CORS (`serve --cors-origin`, SPEC §4 Browsers) over real uvicorn: preflights for the
service's routes from the allowed origins, the origin on their answers, nothing to any
other origin, nothing where no route matched, and nothing at all without the setting;
`--cors-origin` (and its variable) takes exact origins only."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters.entrypoints.cli import _parser, main
from adapters.entrypoints.environment import BadVariable
from adapters.entrypoints.server import BackgroundServer
from adapters.transport.asgi import AsgiApplication
from adapters.transport.cors import ALLOWED_HEADERS, CorsApplication, OriginInvalid, parse_origin
from tests.transport.conftest import Scene

PAGE = "http://localhost:5173"
OTHER = "https://evil.example"


@pytest.fixture
def cors_url(scene: Scene) -> Iterator[str]:
    with BackgroundServer(scene.world.deployment, cors_origins=[PAGE]) as server:
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
        ("/auth/users/us-2mhcm-9r90a-92ran47bjpl60hmv", "DELETE", "DELETE, GET, PUT"),
        ("/auth/users/us-2mhcm-9r90a-92ran47bjpl60hmv", "GET", "DELETE, GET, PUT"),
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
        "id": refused.json()["error"]["id"],
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
    with BackgroundServer(scene.world.deployment) as server:
        preflight = _preflight(server.url, "/auth/action/init", "POST")
        fetched = httpx.get(
            f"{server.url}/auth/users/{scene.employee.id}",
            headers={"Origin": PAGE, **dict(scene.bearer())},
        )
    assert preflight.status_code == 405
    assert fetched.status_code == 200
    for answer in (preflight, fetched):
        assert not [h for h in answer.headers if h.startswith("access-control-")]


@pytest.mark.parametrize(
    ("method", "path", "requested", "status"),
    [
        ("OPTIONS", "/auth/nowhere", "POST", 404),  # a preflight for no route
        ("OPTIONS", "/auth/users/us-2mhcm-9r90a-92ran47bjpl60hmv/nowhere", "PUT", 404),
        ("OPTIONS", "/auth/action/init", "DELETE", 405),  # a method the route does not serve
        ("OPTIONS", "/auth/action/init", None, 405),  # OPTIONS itself, no preflight
        ("GET", "/auth/nowhere", None, 404),  # a plain request to no route
        ("PUT", "/auth/action/init", None, 405),  # a plain request with another method
    ],
)
def test_no_cors_header_where_no_route_matched(
    cors_url: str, method: str, path: str, requested: str | None, status: int
) -> None:
    headers = {"Origin": PAGE}
    if requested is not None:
        headers["Access-Control-Request-Method"] = requested
    answer = httpx.request(method, cors_url + path, headers=headers)
    assert answer.status_code == status
    assert answer.json()["error"]["status"] == status
    assert not [h for h in answer.headers if h.startswith("access-control-")]
    assert "vary" not in answer.headers


@pytest.mark.parametrize(
    ("text", "origin"),
    [
        ("http://localhost:5173", "http://localhost:5173"),
        ("https://app.example.com", "https://app.example.com"),
        ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example"),
        ("http://my_app.test", "http://my_app.test"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("https://[2001:DB8:0:0:1:0:0:1]", "https://[2001:db8::1:0:0:1]"),
        ("https://[0:0:0:0:0:0:0:0]", "https://[::]"),
        ("https://[1:0:2:3:4:5:6:7]", "https://[1:0:2:3:4:5:6:7]"),
        ("https://[::ffff:1.2.3.4]", "https://[::ffff:102:304]"),
        # What browsers send for the same origin: lowercase, no default port.
        ("HTTPS://App.Example.COM", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("http://app.example.com:80", "http://app.example.com"),
        ("https://app.example.com:80", "https://app.example.com:80"),
        ("https://app.example.com:08443", "https://app.example.com:8443"),
    ],
)
def test_an_exact_origin_is_read_as_browsers_send_it(text: str, origin: str) -> None:
    assert parse_origin(text) == origin


_FORM = "must be an exact origin (scheme://host[:port], e.g. https://app.example.com)"
_AFTER = "; nothing after the host or port (no path, not even /, no query or fragment)"
_PORT = "; the port is a number from 1 to 65535"
_HOST = (
    "; the host is a domain name (letters, digits, -, _ between dots), an IPv4 address"
    " or an IPv6 address in brackets"
)
_IPV4 = "; an IPv4 address is four decimal numbers, such as 127.0.0.1"


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("null", ""),
        ("*", ""),
        ("app.example.com", ""),  # a bare host
        ("app.example.com:443", ""),
        ("", ""),
        ("https://app.example.com/", _AFTER),  # a trailing slash
        ("https://app.example.com/app", _AFTER),
        ("https://app.example.com?x=1", _AFTER),
        ("https://app.example.com#top", _AFTER),
        ("https://app.example.com\\", _AFTER),
        ("https://user:secret@app.example.com", "; no user name or password"),
        ("https://*.example.com", "; no wildcard; list each origin"),
        ("ftp://app.example.com", "; the scheme is http or https"),
        ("file://", "; the scheme is http or https"),
        (
            "https://bücher.example",
            "; ASCII only: an international host name in its xn-- (punycode) form",
        ),
        (" https://app.example.com", "; no spaces or control characters"),
        ("https://app.example.com\t", "; no spaces or control characters"),
        ("https://app.example.com:0", _PORT),
        ("https://app.example.com:65536", _PORT),
        ("https://app.example.com:", _PORT),
        ("https://app.example.com:+1", _PORT),
        ("https://app.example.com:1" + "0" * 5000, _PORT),
        ("https://[::1]x", _PORT),
        ("https://", _HOST),
        ("https://:443", _HOST),
        ("https://app..example.com", _HOST),
        ("https://app.example.com.", _HOST),
        ("https://[::1", _HOST),
        ("https://[fe80::1%25eth0]", _HOST),
        ("https://[not-an-address]", "; the IPv6 address in brackets is not valid"),
        ("http://127.1", _IPV4),
        ("http://127.0.0.01", _IPV4),
        ("http://256.0.0.1", _IPV4),
        ("http://app.0x7f", _IPV4),
    ],
)
def test_anything_else_is_refused_with_one_line(text: str, detail: str) -> None:
    with pytest.raises(OriginInvalid) as refused:
        parse_origin(text)
    assert str(refused.value) == _FORM + detail
    assert isinstance(refused.value, ValueError)


def test_the_layer_takes_exact_origins_only(scene: Scene) -> None:
    app = AsgiApplication(scene.world.deployment)
    assert CorsApplication(app, ["HTTPS://App.Example.com:443"]).origins == {
        "https://app.example.com"
    }
    with pytest.raises(OriginInvalid):
        CorsApplication(app, ["*"])


@pytest.mark.parametrize("text", ["null", "*", "https://app.example.com/", "app.example.com"])
def test_the_flag_refuses_what_is_not_an_exact_origin(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        _parser().parse_args(
            ["serve", "--cors-origin", "https://ok.example", "--cors-origin", text]
        )
    assert stopped.value.code == 2
    assert "argument --cors-origin: " + _FORM in capsys.readouterr().err


def test_the_flag_and_its_variable_keep_exact_origins() -> None:
    args = _parser().parse_args(["serve", "--cors-origin", "https://App.example:443"])
    args.environment.resolve(args, {})
    assert args.cors_origin == ["https://app.example"]
    args = _parser().parse_args(["serve"])
    args.environment.resolve(
        args, {"ARCHIVE_CORE_CORS_ORIGINS": "http://localhost:5173, https://app.example:443,"}
    )
    assert args.cors_origin == ["http://localhost:5173", "https://app.example"]


@pytest.mark.parametrize(
    "value", ["*", "null", "https://app.example/", "https://ok.example,app.example"]
)
def test_the_variable_refuses_what_is_not_an_exact_origin(value: str) -> None:
    args = _parser().parse_args(["serve"])
    with pytest.raises(BadVariable) as refused:
        args.environment.resolve(args, {"ARCHIVE_CORE_CORS_ORIGINS": value})
    assert str(refused.value).startswith("ARCHIVE_CORE_CORS_ORIGINS: " + _FORM)


@pytest.mark.parametrize(
    ("argv", "environ"),
    [
        (["--cors-origin", "https://user:hunter2@app.example/"], {}),
        ([], {"ARCHIVE_CORE_CORS_ORIGINS": "https://user:hunter2@app.example/"}),
    ],
)
def test_serve_stops_before_anything_starts(
    argv: list[str],
    environ: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The store cannot open: were the origin accepted, serve would stop on that instead.
    db = str(tmp_path / "missing" / "archive.db")
    out, err = io.StringIO(), io.StringIO()
    status: object
    try:
        status = main(["serve", "--db", db, *argv], out=out, err=err, environ=environ)
    except SystemExit as stopped:
        status = stopped.code
    captured = capsys.readouterr()
    said = out.getvalue() + err.getvalue() + captured.out + captured.err
    assert status == 2
    assert _FORM in said
    assert "hunter2" not in said
    assert "SQLite" not in said
