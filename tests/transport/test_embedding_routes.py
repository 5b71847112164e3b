"""Each embedding claims only the deployment's routes (template and method): the
application's own routes under `/auth/users/` answer whether they are added before or
after ours, a method of the application's on one of our templates is the
application's, and our 405 answers only when no route of the application takes the
method (Django, which resolves without the method, by the patterns' order). The
prefix an application mounts us under is ours to strip, however it is given."""

from __future__ import annotations

import json
import types
from typing import Any

import pytest

from adapters.testing.world import World
from adapters.transport.http import HttpHandler
from tests.transport.conftest import Scene, make_scene
from tests.transport.frameworks import (
    Send,
    asgi_sender,
    django_sender,
    flask_sender,
    is_ours,
    without_error_id,
)

ORDERS = pytest.mark.parametrize("ours_first", [True, False], ids=["ours_first", "ours_last"])


def claims(send: Send, scene: Scene, *, shared: str = "by_method") -> None:
    """The application has `GET /auth/users/{id}/profile` and `POST
    /auth/users/{id}/deactivate` (ours is `PUT`); the rest under /auth/users/ is ours or
    nobody's. `shared`: who has `/auth/users/{id}/deactivate` — each its own method
    (`by_method`), or whoever comes first, for every method (`ours`, `yours`)."""
    world, target = scene.world, scene.employee.id
    reference = HttpHandler(world.deployment)
    bearer = scene.bearer()

    def ours(method: str, path: str, headers: list[tuple[str, str]]) -> None:
        status, answer_headers, body = send(method, path, headers, b"")
        want = reference.handle(method, path, headers, b"")
        assert (status, without_error_id(body)) == (want.status, without_error_id(want.body)), (
            method,
            path,
            body,
        )
        if want.status == 405:
            assert {k.lower(): v for k, v in answer_headers.items()}["allow"] == "PUT"

    status, _, body = send("GET", f"/auth/users/{target}/profile", bearer, b"")
    assert (status, json.loads(body)) == (200, {"profile": target})
    if shared == "ours":
        ours("POST", f"/auth/users/{target}/deactivate", bearer)
    else:
        status, _, body = send("POST", f"/auth/users/{target}/deactivate", bearer, b"")
        assert (status, json.loads(body)) == (200, {"poked": target})
    if shared == "yours":
        status, _, body = send("PUT", f"/auth/users/{target}/deactivate", bearer, b"")
        assert status == 405 and not is_ours(body)
    else:
        ours("PUT", f"/auth/users/{target}/deactivate", bearer)  # our method: 403 unsigned
    ours("GET", f"/auth/users/{target}", bearer)  # 200
    ours("PATCH", f"/auth/users/{target}/activate", bearer)  # no route takes it: our 405
    status, _, body = send("GET", f"/auth/users/{target}/unknown", bearer, b"")
    assert status == 404 and not is_ours(body)
    assert world.fresh_user(scene.employee.user).is_active


@ORDERS
def test_fastapi_applications_routes_beside_ours(ours_first: bool) -> None:
    from fastapi import FastAPI

    from adapters.transport.embeddings.fastapi import archive_router

    scene = make_scene(World())
    app = FastAPI()

    def own() -> None:
        @app.get("/auth/users/{user_id}/profile")
        def profile(user_id: str) -> dict[str, str]:
            return {"profile": user_id}

        @app.post("/auth/users/{user_id}/deactivate")
        def poke(user_id: str) -> dict[str, str]:
            return {"poked": user_id}

    if ours_first:
        app.include_router(archive_router(scene.world.deployment))
        own()
    else:
        own()
        app.include_router(archive_router(scene.world.deployment))
    claims(asgi_sender(app), scene)


@ORDERS
def test_flask_applications_rules_beside_ours(ours_first: bool) -> None:
    import flask

    from adapters.transport.embeddings.flask import archive_blueprint

    scene = make_scene(World())
    app = flask.Flask("claims")

    def own() -> None:
        @app.get("/auth/users/<user_id>/profile")
        def profile(user_id: str) -> dict[str, str]:
            return {"profile": user_id}

        @app.post("/auth/users/<user_id>/deactivate")
        def poke(user_id: str) -> dict[str, str]:
            return {"poked": user_id}

    if ours_first:
        app.register_blueprint(archive_blueprint(scene.world.deployment))
        own()
    else:
        own()
        app.register_blueprint(archive_blueprint(scene.world.deployment))
    claims(flask_sender(app), scene)


def test_flask_applications_literal_under_our_template_wins_in_any_order() -> None:
    import flask

    from adapters.transport.embeddings.flask import archive_blueprint

    scene = make_scene(World())
    app = flask.Flask("literal")
    app.register_blueprint(archive_blueprint(scene.world.deployment))

    @app.get("/auth/users/me")
    def me() -> dict[str, str]:
        return {"me": "yes"}

    status, _, body = flask_sender(app)("GET", "/auth/users/me", scene.bearer(), b"")
    assert (status, json.loads(body)) == (200, {"me": "yes"})


@ORDERS
def test_django_projects_patterns_beside_ours(
    ours_first: bool, django_urls: types.ModuleType
) -> None:
    from django.http import JsonResponse  # type: ignore[import-untyped]
    from django.urls import include, path  # type: ignore[import-untyped]
    from django.views.decorators.csrf import csrf_exempt  # type: ignore[import-untyped]
    from django.views.decorators.http import require_POST  # type: ignore[import-untyped]

    from adapters.transport.embeddings.django import archive_urlpatterns

    def profile(request: Any, user_id: str) -> Any:
        return JsonResponse({"profile": user_id})

    @csrf_exempt  # type: ignore[untyped-decorator]  # Django ships no type hints
    @require_POST  # type: ignore[untyped-decorator]
    def poke(request: Any, user_id: str) -> Any:
        return JsonResponse({"poked": user_id})

    scene = make_scene(World())
    mine = [
        path("auth/users/<str:user_id>/profile", profile),
        path("auth/users/<str:user_id>/deactivate", poke),
    ]
    ours = [path("", include(archive_urlpatterns(scene.world.deployment)))]
    patterns = [*ours, *mine] if ours_first else [*mine, *ours]
    # Django resolves a path to one view whatever the method: a pattern first wins it.
    claims(django_sender(django_urls, patterns), scene, shared="ours" if ours_first else "yours")


def test_fastapi_router_included_under_a_prefix() -> None:
    from fastapi import FastAPI

    from adapters.transport.embeddings.fastapi import archive_router

    scene = make_scene(World())
    app = FastAPI()
    app.include_router(archive_router(scene.world.deployment, prefix="/v1"), prefix="/dfns")
    send, target = asgi_sender(app), scene.employee.id
    status, _, body = send("GET", f"/dfns/v1/auth/users/{target}", scene.bearer(), b"")
    assert (status, json.loads(body)["userId"]) == (200, target)
    status, _, body = send("GET", "/dfns/v1/auth/users/us-a%2Fb", scene.bearer(), b"")
    assert (status, json.loads(body)["error"]["message"]) == (400, "The user id is malformed.")
    for elsewhere in (
        f"/auth/users/{target}",
        f"/dfns/auth/users/{target}",
        "/dfns/v1x/auth/action",
    ):
        status, _, body = send("GET", elsewhere, scene.bearer(), b"")
        assert status == 404 and not is_ours(body), elsewhere


def test_flask_blueprint_registered_under_a_prefix() -> None:
    import flask

    from adapters.transport.embeddings.flask import archive_blueprint

    scene = make_scene(World())
    app = flask.Flask("registered_prefix")
    app.register_blueprint(archive_blueprint(scene.world.deployment), url_prefix="/dfns")
    send, target = flask_sender(app), scene.employee.id
    status, _, body = send("GET", f"/dfns/auth/users/{target}", scene.bearer(), b"")
    assert (status, json.loads(body)["userId"]) == (200, target)
    status, _, body = send("PUT", "/dfns/auth/action", scene.bearer(), b"")
    want = HttpHandler(scene.world.deployment).handle("PUT", "/auth/action", scene.bearer(), b"")
    assert (status, without_error_id(body)) == (405, without_error_id(want.body))
