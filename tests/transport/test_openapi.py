"""The OpenAPI document: `docs/openapi.yaml` and `GET /openapi.json` agree, the document
covers what the service answers, and schemathesis finds no 500 and no non-conforming
answer against the live ASGI and WSGI applications."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import attrs
import pytest
import schemathesis
import yaml  # type: ignore[import-untyped]  # PyYAML ships no type hints (a schemathesis dependency)
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from adapters.testing.world import World
from adapters.transport.asgi import AsgiApplication
from adapters.transport.http import HttpHandler
from adapters.transport.openapi import document, openapi_json, render_yaml
from adapters.transport.wsgi import WsgiApplication
from archive_core.errors import Catalogue
from archive_core.requests import Answer
from archive_core.use_cases import GET_USER
from tests.transport.conftest import Scene, make_scene

DOCS = Path(__file__).resolve().parents[2] / "docs"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def test_docs_yaml_and_served_json_agree() -> None:
    from_yaml = yaml.safe_load((DOCS / "openapi.yaml").read_text(encoding="utf-8"))
    assert from_yaml == json.loads(openapi_json()) == document()


def test_docs_yaml_is_the_current_rendering() -> None:
    assert (DOCS / "openapi.yaml").read_text(encoding="utf-8") == render_yaml(), (
        "docs/openapi.yaml is stale: python -m adapters.transport.openapi docs/openapi.yaml"
    )


def test_every_error_code_is_documented() -> None:
    codes = set(
        document()["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"][
            "enum"
        ]
    )
    assert codes == {kind.code for kind in Catalogue.all()}


def test_every_documented_example_is_the_catalogue_verbatim() -> None:
    kinds = {kind.code: kind for kind in Catalogue.all()}
    for name, response in document()["components"]["responses"].items():
        status = {
            "BadRequest": 400,
            "NotAuthorized": 401,
            "Forbidden": 403,
            "NotFound": 404,
            "Conflict": 409,
            "TooLarge": 413,
            "HeaderTooLarge": 431,
            "InternalError": 500,
            "Unavailable": 503,
        }[name]
        for code, example in response["content"]["application/json"]["examples"].items():
            assert kinds[code].status == status
            assert example["value"]["error"]["message"] == kinds[code].message


def test_paths_are_the_routes() -> None:
    paths = document()["paths"]
    assert {(p, m.upper()) for p, item in paths.items() for m in item if m != "parameters"} == {
        ("/auth/action/init", "POST"),
        ("/auth/action", "POST"),
        ("/auth/users", "POST"),
        ("/auth/users", "GET"),
        ("/auth/users/{userId}", "DELETE"),
        ("/auth/users/{userId}", "GET"),
        ("/auth/users/{userId}", "PUT"),
        ("/auth/users/{userId}/deactivate", "PUT"),
        ("/auth/users/{userId}/activate", "PUT"),
        ("/auth/action/logs", "GET"),
        ("/auth/action/logs/{id}", "GET"),
        ("/auth/action/logs/checkpoint", "GET"),
        ("/auth/action/logs/{id}/proof", "GET"),
        ("/auth/action/logs/consistency", "GET"),
        ("/openapi.json", "GET"),
        ("/healthz", "GET"),
        ("/readyz", "GET"),
    }


def test_only_the_probes_and_the_document_are_unauthenticated() -> None:
    open_paths = {
        path
        for path, item in document()["paths"].items()
        for method, operation in item.items()
        if method != "parameters" and operation["security"] == []
    }
    assert open_paths == {"/openapi.json", "/healthz", "/readyz"}


# ------------------------------------------------------------------------------ schemathesis
@pytest.fixture(scope="module")
def live_scene() -> Scene:
    return make_scene(World())


@pytest.fixture(scope="module")
def live_asgi(live_scene: Scene) -> Iterator[AsgiApplication]:
    app = AsgiApplication(handler=HttpHandler(live_scene.world.deployment), max_workers=2)
    yield app
    app.close()


@pytest.fixture(scope="module")
def live_wsgi(live_scene: Scene) -> WsgiApplication:
    return WsgiApplication(handler=HttpHandler(live_scene.world.deployment))


# The schema as the service serves it (a test above proves it equals docs/openapi.yaml).
# Loaded from the bytes rather than through `from_asgi` so that the applications can be
# module fixtures (schemathesis' lazy fixture loader does not support pytest 9 yet).
api = schemathesis.openapi.from_dict(json.loads(openapi_json()))
SCHEMATHESIS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _auth(scene: Scene) -> dict[str, str]:
    # A real bearer token: the run reaches the use cases instead of stopping at 401.
    return {"Authorization": f"Bearer {scene.admin.token}"}


@api.parametrize()
@SCHEMATHESIS
def test_schemathesis_against_the_asgi_app(
    case: Any, live_scene: Scene, live_asgi: AsgiApplication
) -> None:
    case.call_and_validate(app=live_asgi, headers=_auth(live_scene), checks=CHECKS)


@api.parametrize()
@SCHEMATHESIS
def test_schemathesis_against_the_wsgi_app(
    case: Any, live_scene: Scene, live_wsgi: WsgiApplication
) -> None:
    case.call_and_validate(app=live_wsgi, headers=_auth(live_scene), checks=CHECKS)


@api.parametrize()
@SCHEMATHESIS
def test_schemathesis_without_credentials(case: Any, live_asgi: AsgiApplication) -> None:
    case.call_and_validate(app=live_asgi, checks=CHECKS)


def test_the_run_would_catch_a_nonconforming_answer(live_scene: Scene) -> None:
    """The checks are not vacuous: a 200 that is not a User fails the run."""
    wrong = attrs.evolve(
        live_scene.world.deployment,
        endpoints=live_scene.world.deployment.endpoints.with_handler(
            GET_USER, cast(Any, _not_a_user)
        ),
    )
    app = WsgiApplication(handler=HttpHandler(wrong))
    case = api["/auth/users/{userId}"]["GET"].Case(
        path_parameters={"userId": live_scene.employee.id}
    )
    with pytest.raises(FailureGroup) as caught:
        case.call_and_validate(app=app, checks=CHECKS)
    assert any("violates schema" in str(failure) for failure in caught.value.exceptions)


def _not_a_user(request: object) -> Answer:
    return Answer.json({"userId": 1})
