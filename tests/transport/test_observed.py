"""The reference server's outer layer: request ids, one observation per request with the
route template (never the path), outcomes from the catalogue, the store a 503 names, and
JSON log lines that carry the request id and no secret (the hostile suite, again)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any, cast

import attrs
import httpx
import pytest
from prometheus_client import CollectorRegistry

from adapters.observability.logs import JsonFormatter, RequestContextFilter, log_config
from adapters.observability.metrics import PrometheusMetrics, start_metrics_server
from adapters.testing.world import World
from adapters.transport.asgi import AsgiApplication, Message, Scope
from adapters.transport.http import HttpHandler
from adapters.transport.observed import ObservedApplication, route_template
from archive_core.errors import StorageUnavailable
from archive_core.use_cases import GET_USER
from tests.transport.client import Answer, call_asgi
from tests.transport.conftest import Scene, make_scene
from tests.transport.test_hostile import CASES, Case, assert_no_secret_logged


@attrs.define
class Seen:
    """A fake observer: every observation, as keyword dicts."""

    calls: list[dict[str, Any]] = attrs.field(factory=list)
    store_errors: list[str] = attrs.field(factory=list)

    def observe(self, **observation: Any) -> None:
        self.calls.append(observation)

    def store_error(self, store: str) -> None:
        self.store_errors.append(store)


@pytest.fixture
def scene() -> Scene:
    return make_scene(World())


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def app(scene: Scene, seen: Seen) -> Iterator[ObservedApplication]:
    inner = AsgiApplication(handler=HttpHandler(scene.world.deployment), max_workers=2)
    yield ObservedApplication(inner, observer=seen)
    inner.close()


def _call(
    app: ObservedApplication, method: str, target: str, headers: Any = (), body: Any = b""
) -> Answer:
    return call_asgi(cast(AsgiApplication, app), method, target, headers, body)


def test_a_request_id_received_is_echoed(app: ObservedApplication) -> None:
    answer = _call(app, "GET", "/healthz", [("X-Request-Id", "req-42.a:b_c")])
    assert answer.header("x-request-id") == "req-42.a:b_c"


@pytest.mark.parametrize("sent", [None, "", "a" * 129, "bad id", "évil", "a\tb"])
def test_otherwise_a_new_one_is_made(app: ObservedApplication, sent: str | None) -> None:
    headers = [] if sent is None else [("X-Request-Id", sent.encode("latin-1", "replace"))]
    first = _call(app, "GET", "/healthz", headers).header("x-request-id")
    second = _call(app, "GET", "/healthz", headers).header("x-request-id")
    assert first and second and first != second
    assert len(first) == 32 and first.isalnum()


def test_the_route_template_is_observed_never_the_path(
    app: ObservedApplication, scene: Scene, seen: Seen
) -> None:
    _call(app, "GET", f"/auth/users/{scene.employee.id}", scene.bearer())
    _call(app, "GET", f"/auth/users/{scene.employee.id}?x=1", [])
    _call(app, "DELETE", f"/auth/users/{scene.employee.id}", scene.archive_headers(scene.employee))
    _call(app, "GET", "/nowhere/us-secret", [])
    _call(app, "BREW", "/healthz", [])
    observed = [
        (c["route"], c["method"], c["status"], c["operation"], c["outcome"]) for c in seen.calls
    ]
    assert observed == [
        ("/auth/users/{userId}", "GET", 200, "get_user", "read"),
        ("/auth/users/{userId}", "GET", 401, "get_user", "authorization_missing"),
        ("/auth/users/{userId}", "DELETE", 200, "archive_user", "archived"),
        ("unmatched", "GET", 404, None, None),
        ("/healthz", "OTHER", 405, None, None),
    ]
    assert all(c["seconds"] >= 0 and c["store_error"] is None for c in seen.calls)
    assert scene.employee.id not in repr(seen.calls)


def test_a_replay_is_observed_by_its_reason(
    app: ObservedApplication, scene: Scene, seen: Seen
) -> None:
    headers = scene.archive_headers(scene.employee)
    _call(app, "DELETE", f"/auth/users/{scene.employee.id}", headers)
    _call(app, "DELETE", f"/auth/users/{scene.employee.id}", headers)
    assert [c["outcome"] for c in seen.calls] == ["archived", "user_action_used"]


def test_a_deactivation_that_changes_nothing_is_observed_as_unchanged(
    app: ObservedApplication, scene: Scene, seen: Seen
) -> None:
    target = scene.employee.id
    path = f"/auth/users/{target}/deactivate"
    for _ in range(2):
        token = scene.world.user_action(scene.admin, "PUT", path, "{}")
        headers = [*scene.bearer(), ("X-DFNS-USERACTION", token)]
        assert _call(app, "PUT", path, headers, b"{}").status == 200
    assert [(c["operation"], c["outcome"]) for c in seen.calls] == [
        ("deactivate_user", "deactivated"),
        ("deactivate_user", "unchanged"),
    ]


@pytest.mark.parametrize(
    ("target", "route"),
    [
        ("/auth/action/init", "/auth/action/init"),
        ("/auth/action", "/auth/action"),
        ("/auth/users/us-x", "/auth/users/{userId}"),
        ("/auth/users/", "unmatched"),
        ("/auth/users/a/b", "unmatched"),
        ("/readyz?verbose", "/readyz"),
        ("/openapi.json", "/openapi.json"),
    ],
)
def test_route_templates(target: str, route: str) -> None:
    assert route_template(target) == route


def test_the_store_a_503_names_is_observed(scene: Scene, seen: Seen) -> None:
    def down(request: object) -> Any:
        raise StorageUnavailable("postgresql: OperationalError (08006)")

    service = attrs.evolve(
        scene.world.deployment,
        endpoints=scene.world.deployment.endpoints.with_handler(GET_USER, cast(Any, down)),
    )
    inner = AsgiApplication(handler=HttpHandler(service), max_workers=1)
    try:
        answer = _call(ObservedApplication(inner, observer=seen), "GET", "/auth/users/us-x")
    finally:
        inner.close()
    assert answer.status == 503
    assert (seen.calls[0]["store_error"], seen.calls[0]["outcome"]) == (
        "postgresql",
        "storage_unavailable",
    )


def test_metrics_count_by_template_and_outcome(scene: Scene) -> None:
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    inner = AsgiApplication(handler=HttpHandler(scene.world.deployment), max_workers=1)
    app = ObservedApplication(inner, observer=metrics)
    try:
        _call(
            app, "DELETE", f"/auth/users/{scene.employee.id}", scene.archive_headers(scene.employee)
        )
        _call(app, "DELETE", f"/auth/users/{scene.end_user.id}", scene.bearer(scene.nobody))
    finally:
        inner.close()
    metrics.store_error("redis")

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    route = "/auth/users/{userId}"
    assert (
        value("archive_core_http_requests_total", route=route, method="DELETE", status="200") == 1
    )
    assert (
        value("archive_core_http_requests_total", route=route, method="DELETE", status="403") == 1
    )
    assert (
        value(
            "archive_core_decisions_total", operation="archive_user", outcome="user_action_missing"
        )
        == 1
    )
    assert value("archive_core_decisions_total", operation="archive_user", outcome="archived") == 1
    assert (
        value("archive_core_http_request_duration_seconds_count", route=route, method="DELETE") == 2
    )
    assert value("archive_core_store_errors_total", store="redis") == 1
    exposed = "\n".join(
        f"{s.name}{s.labels}" for metric in registry.collect() for s in metric.samples
    )
    for actor in (scene.employee, scene.end_user, scene.nobody, scene.admin):
        assert actor.id not in exposed
        assert actor.token not in exposed


@pytest.fixture
def metrics_url() -> Iterator[str]:
    registry = CollectorRegistry()
    PrometheusMetrics(registry).store_error("redis")
    server, port = start_metrics_server(registry, host="127.0.0.1", port=0)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_metrics_listener_serves_metrics_at_its_path(metrics_url: str) -> None:
    plain = {"Accept-Encoding": "identity"}
    scraped = httpx.get(metrics_url + "/metrics", headers=plain)
    assert scraped.status_code == 200
    assert 'archive_core_store_errors_total{store="redis"} 1.0' in scraped.text
    headed = httpx.head(metrics_url + "/metrics", headers=plain)
    assert headed.status_code == 200
    assert headed.content == b""
    assert headed.headers["content-type"] == scraped.headers["content-type"]
    assert int(headed.headers["content-length"]) == len(scraped.content)


@pytest.mark.parametrize(
    "target",
    ["/", "/favicon.ico", "/metrics/", "/metrics.txt", "/x/metrics", "/secret-x?a=b"],
)
def test_the_metrics_listener_answers_nothing_else(metrics_url: str, target: str) -> None:
    for method in ("GET", "HEAD", "POST"):
        answer = httpx.request(method, metrics_url + target)
        assert answer.status_code == 404
        assert answer.content == (b"" if method == "HEAD" else b"404 Not Found\n")
        assert answer.headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "TRACE", "SECRETX"])
def test_the_metrics_path_answers_get_and_head_only(metrics_url: str, method: str) -> None:
    answer = httpx.request(method, metrics_url + "/metrics", content=b"secret body")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, HEAD"
    assert answer.content == b"405 Method Not Allowed\n"


def test_shutdown_runs_before_the_lifespan_completes(scene: Scene) -> None:
    order: list[str] = []
    inner = AsgiApplication(handler=HttpHandler(scene.world.deployment), max_workers=1)
    app = ObservedApplication(inner, on_shutdown=lambda: order.append("closed"))
    incoming: list[Message] = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        order.append(message["type"])

    scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    asyncio.run(app(scope, receive, send))
    assert order == ["lifespan.startup.complete", "closed", "lifespan.shutdown.complete"]


# ------------------------------------------------------------------------------ JSON logs
@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    logger = logging.getLogger("archive_core")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(previous)


def test_a_json_line_has_the_request_fields(
    app: ObservedApplication, scene: Scene, json_lines: io.StringIO
) -> None:
    _call(app, "GET", f"/auth/users/{scene.employee.id}", [("X-Request-Id", "r-1")])
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    http = [line for line in lines if line["logger"] == "archive_core.http"]
    assert len(http) == 1
    line = http[0]
    assert set(line) >= {"time", "level", "logger", "route", "status", "duration_ms", "decision"}
    assert (line["request_id"], line["route"], line["status"]) == ("r-1", "get_user", 401)
    assert (line["code"], line["decision"]) == ("not_authorized", "authorization_missing")
    assert line["time"].endswith("+00:00")


def test_a_decision_line_keeps_only_the_fixed_fields(
    app: ObservedApplication, scene: Scene, json_lines: io.StringIO
) -> None:
    _call(app, "DELETE", f"/auth/users/{scene.employee.id}", scene.archive_headers(scene.employee))
    text = json_lines.getvalue()
    decisions = [json.loads(x) for x in text.splitlines() if "archive_core.decisions" in x]
    assert decisions and decisions[0]["decision"] == "archived"
    assert scene.employee.id not in text and scene.admin.id not in text


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_no_secret_reaches_a_json_line(
    app: ObservedApplication, scene: Scene, case: Case, json_lines: io.StringIO
) -> None:
    hostile = case.build(scene)
    _call(
        app,
        hostile.method,
        str(
            hostile.target if isinstance(hostile.target, str) else hostile.target.decode("latin-1")
        ),
        hostile.headers,
        hostile.body,
    )
    lines = json_lines.getvalue().splitlines()
    http = [json.loads(x) for x in lines if json.loads(x)["logger"] == "archive_core.http"]
    assert len(http) == 1 and http[0]["request_id"]
    record = logging.LogRecord("json", logging.INFO, __file__, 1, "%s", ("\n".join(lines),), None)
    assert_no_secret_logged([record], scene, hostile)


def test_log_config_refuses_unknown_settings() -> None:
    with pytest.raises(ValueError, match="log format"):
        log_config("xml", "info")
    with pytest.raises(ValueError, match="log level"):
        log_config("json", "loud")
    assert log_config("text", "info")["loggers"]["archive_core"]["level"] == "INFO"


def test_every_error_answer_has_its_own_id_in_the_log_at_the_default_level(
    app: ObservedApplication, scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    # `serve`'s default level is warning: the line of each error answer is written there.
    caplog.set_level(logging.WARNING, logger="archive_core.http")
    sent_id = "er-abcde-fghij-klmnopqrstuvwxyz"
    refusals = [
        ("GET", f"/auth/users/{scene.employee.id}", [("X-Request-Id", sent_id)]),  # 401
        ("GET", f"/auth/users/{scene.employee.id}", [("X-Request-Id", sent_id)]),
        ("GET", "/auth/users/us-x", scene.bearer()),  # 400
        ("BREW", "/auth/users/x", []),  # 405
        ("GET", "/nowhere", []),  # 404
    ]
    ids = []
    for method, target, headers in refusals:
        answer = _call(app, method, target, headers)
        assert answer.status >= 400
        error_id = answer.json()["error"]["id"]
        assert error_id.startswith("er-") and error_id != answer.header("x-request-id")
        ids.append(error_id)
    assert len(set(ids)) == len(ids) and sent_id not in ids
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    for error_id in ids:
        assert sum(f" id={error_id}" in message for message in logged) == 1, logged
    ok = _call(app, "GET", f"/auth/users/{scene.employee.id}", scene.bearer())
    assert ok.status == 200 and "error" not in ok.json()


def test_a_json_log_line_names_the_error_id() -> None:
    record = logging.LogRecord("archive_core.http", logging.WARNING, __file__, 1, "x", (), None)
    record.error_id = "er-1"
    assert json.loads(JsonFormatter().format(record))["error_id"] == "er-1"
