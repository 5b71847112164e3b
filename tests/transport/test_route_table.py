"""The one route table (`adapters/transport/routes.py`) is what the handler routes by, what
the OpenAPI document describes, what the metrics label by, what a CORS preflight
answers with, and what the framework embeddings mount."""

from __future__ import annotations

from collections import defaultdict

import pytest

from adapters.testing.world import World
from adapters.transport.embeddings import fastapi, flask
from adapters.transport.http import Exchange, HttpHandler, HttpResponse
from adapters.transport.observed import route_template
from adapters.transport.openapi import document
from adapters.transport.routes import ROUTES, USER_ID, Route, mounted_paths, template_of

USER = "us-2mhcm-9r90a-92ran47bjpl60hmv"


def concrete(route: Route) -> str:
    return route.template.replace(USER_ID, USER)


@pytest.fixture(scope="module")
def handler() -> HttpHandler:
    return HttpHandler(World().service())


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_the_handler_routes_every_route_to_its_use_case(handler: HttpHandler, route: Route) -> None:
    started = handler.begin(route.method, concrete(route), [])
    if isinstance(started, HttpResponse):  # the document and the probes answer at once
        assert route.name in ("openapi", "healthz", "readyz")
        assert started.status == 200
    else:
        assert isinstance(started, Exchange)
        assert started.endpoint.name == route.name
        assert started.param == (USER if route.takes_user_id else "")


def test_the_document_describes_exactly_the_table() -> None:
    described = {
        (path, method.upper(), operation["operationId"])
        for path, item in document()["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    }
    assert described == {(r.template, r.method, r.operation_id) for r in ROUTES}


def test_every_operation_documents_the_head_bound() -> None:
    for item in document()["paths"].values():
        for method, operation in item.items():
            if method != "parameters":
                assert "431" in operation["responses"], operation["operationId"]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_metrics_and_cors_read_the_table(handler: HttpHandler, route: Route) -> None:
    path = concrete(route)
    assert template_of(path) == route.template
    assert route_template(path + "?x=1") == route.template
    methods = sorted(r.method for r in ROUTES if r.template == route.template)
    assert handler.allowed_methods(path) == ", ".join(methods)


@pytest.mark.parametrize(
    "path",
    [
        "/auth/users/",
        "/auth/users//deactivate",
        f"/auth/users/{USER}/",
        f"/auth/users/{USER}/unknown",
        f"/auth/users/{USER}/deactivate/more",
        "/auth/action/init/",
        "/nowhere",
    ],
)
def test_paths_off_the_table_match_nothing(handler: HttpHandler, path: str) -> None:
    assert template_of(path) is None
    assert route_template(path) == "unmatched"
    assert handler.allowed_methods(path) is None
    answer = handler.begin("GET", path, [])
    assert isinstance(answer, HttpResponse) and answer.status == 404


def test_embeddings_mount_every_embedded_route_and_no_other() -> None:
    exact, users = mounted_paths()
    embedded = [r for r in ROUTES if r.embedded]
    assert {r.template for r in embedded if not r.takes_user_id} == set(exact)
    assert all(r.template.startswith(users) for r in embedded if r.takes_user_id)
    assert not any(r.template in exact for r in ROUTES if not r.embedded)
    assert fastapi.PATHS[: len(exact)] == exact
    assert flask.RULES[: len(exact)] == exact


def test_a_path_shared_by_several_routes_is_one_entry_with_their_methods() -> None:
    by_path: dict[str, list[str]] = defaultdict(list)
    for route in ROUTES:
        by_path[route.template].append(route.method)
    assert by_path[f"/auth/users/{USER_ID}"] == ["DELETE", "GET"]
    assert all(len(set(methods)) == len(methods) for methods in by_path.values())
