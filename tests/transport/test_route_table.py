"""The route table is derived from the declarations a deployment serves: it is what the
handler routes by (to each declaration's handler), what the OpenAPI document describes,
what the metrics label by, what a CORS preflight answers with, and what the framework
embeddings mount."""

from __future__ import annotations

from collections import defaultdict

import pytest

from adapters.testing.world import World
from adapters.transport.http import Exchange, HttpHandler, HttpResponse
from adapters.transport.observed import route_template
from adapters.transport.openapi import document, library_routes
from adapters.transport.routes import SERVER_ROUTES, RouteTable
from archive_core.declarations import Declaration, Handler
from archive_core.operations import OPERATIONS

USER = "us-2mhcm-9r90a-92ran47bjpl60hmv"
RECORD = "au-2mhcm-9r90a-92ran47bjpl60hmv"
#: A value for each path parameter the library's routes name.
VALUES = {"userId": USER, "id": RECORD}
DECLARED = (*OPERATIONS, *SERVER_ROUTES)


def concrete(declaration: Declaration[Handler]) -> str:
    return declaration.path.replace("{userId}", USER).replace("{id}", RECORD)


@pytest.fixture(scope="module")
def world() -> World:
    return World()


@pytest.fixture(scope="module")
def handler(world: World) -> HttpHandler:
    return HttpHandler(world.deployment)


@pytest.mark.parametrize("declaration", DECLARED, ids=lambda d: d.route_name)
def test_the_handler_routes_every_declaration_to_its_handler(
    world: World, handler: HttpHandler, declaration: Declaration[Handler]
) -> None:
    started = handler.begin(declaration.method, concrete(declaration), [])
    if isinstance(started, HttpResponse):  # the document and the liveness probe answer at once
        assert declaration in SERVER_ROUTES
        assert started.status == 200
    else:
        assert isinstance(started, Exchange)
        assert started.declaration is declaration
        if declaration in SERVER_ROUTES:
            assert started.handler is None  # /readyz: the handler's own
        else:
            assert started.handler is world.handler(declaration)
        assert started.params == {name: VALUES[name] for name in declaration.parameters}


def test_the_document_describes_exactly_the_declarations() -> None:
    described = {
        (path, method.upper(), operation["operationId"])
        for path, item in document()["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    }
    assert described == {(d.path, d.method, d.operation_id) for d in DECLARED}


def test_every_operation_documents_the_head_bound() -> None:
    for item in document()["paths"].values():
        for method, operation in item.items():
            if method != "parameters":
                assert "431" in operation["responses"], operation["operationId"]


@pytest.mark.parametrize("declaration", DECLARED, ids=lambda d: d.route_name)
def test_metrics_and_cors_read_the_table(
    handler: HttpHandler, declaration: Declaration[Handler]
) -> None:
    path = concrete(declaration)
    assert library_routes().template_of(path) == declaration.path
    assert route_template(path + "?x=1") == declaration.path
    methods = sorted(d.method for d in DECLARED if d.path == declaration.path)
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
    assert library_routes().template_of(path) is None
    assert route_template(path) == "unmatched"
    assert handler.allowed_methods(path) is None
    answer = handler.begin("GET", path, [])
    assert isinstance(answer, HttpResponse) and answer.status == 404


def test_embeddings_mount_every_embedded_route_and_no_other() -> None:
    mounted = {route.template for route in library_routes().mounted()}
    assert mounted == {d.path for d in DECLARED if d.embedded}
    assert not any(d.path in mounted for d in DECLARED if not d.embedded)


def test_a_path_shared_by_several_declarations_is_one_route_with_their_methods() -> None:
    by_path: dict[str, list[str]] = defaultdict(list)
    for declaration in DECLARED:
        by_path[declaration.path].append(declaration.method)
    assert by_path["/auth/users/{userId}"] == ["DELETE", "GET", "PUT"]
    (route,) = [r for r in library_routes().routes if r.template == "/auth/users/{userId}"]
    assert route.allow == "DELETE, GET, PUT" and route.name == "users"


def test_a_literal_segment_wins_over_a_parameter() -> None:
    def declared(path: str) -> Declaration[Handler]:
        return Declaration(
            name=path,
            method="GET",
            path=path,
            operation_id="x" + str(len(path)),
            outcome="read",
            summary="",
            build=lambda wiring, declaration: (_ for _ in ()).throw(AssertionError()),
        )

    table = RouteTable(
        [declared("/logs/{id}"), declared("/logs/checkpoint"), declared("/logs/{id}/proof")]
    )
    assert table.match("/logs/checkpoint")[0] is not None
    assert table.template_of("/logs/checkpoint") == "/logs/checkpoint"
    assert table.match("/logs/au-1") == (table.routes[0], {"id": "au-1"})
    assert table.template_of("/logs/checkpoint/proof") == "/logs/{id}/proof"
    assert table.template_of("/logs/") is None


def test_two_declarations_of_one_route_are_refused() -> None:
    first, *_ = OPERATIONS
    with pytest.raises(ValueError, match="declared twice"):
        RouteTable([first, first])
