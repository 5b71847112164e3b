"""The code blocks of docs/embedding.md, each driven by its framework's test client
through the full signed flow, with exact error bodies (byte for byte the reference
handler's) and the raw-body binding."""

from __future__ import annotations

import json
import sys
import types
from datetime import timedelta

from adapters.testing.world import World
from adapters.transport.http import HttpHandler
from tests.transport.conftest import Scene, make_scene
from tests.transport.frameworks import (
    BLOCKS,
    Pairs,
    Send,
    asgi_sender,
    block_index,
    django_sender,
    flask_sender,
    is_ours,
    run_block,
    without_error_id,
)


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


def exercise(
    send: Send,
    scene: Scene,
    prefix: str = "",
    *,
    whole_application: bool = False,
    routes_on_raw_path: bool = True,
) -> None:
    """The signed flow and the refusals through an embedding. `whole_application`: the
    reference application is mounted (every path under the mount is its own); otherwise
    the embedding claims only the deployment's routes. `routes_on_raw_path`: the
    framework hands us `us-a%2Fb` (Starlette's raw path); Flask and Django resolve the
    decoded path, where `us-a/b` is no route of ours."""
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
        assert (status, without_error_id(body)) == (expected, without_error_id(want.body)), (
            method,
            path,
            body,
        )
        if expected == 405:
            allow = answer_headers.get("allow", answer_headers.get("Allow"))
            assert allow == dict(want.headers)["allow"]
    assert not world.fresh_user(scene.reader.user).is_archived

    # a path on none of the routes: the mounted application's 404, or the framework's
    status, _, body = send("GET", f"{prefix}/auth/users/us-x/extra", bearer(scene), b"")
    want = reference.handle("GET", "/auth/users/us-x/extra", bearer(scene), b"")
    if whole_application:
        assert (status, without_error_id(body)) == (404, without_error_id(want.body))
    else:
        assert status == 404 and not is_ours(body), body

    # the raw path: never decoded into another id
    status, _, body = send("GET", f"{prefix}/auth/users/us-a%2Fb", bearer(scene), b"")
    if routes_on_raw_path:
        assert (status, json.loads(body)["error"]["message"]) == (400, "The user id is malformed.")
    else:
        assert status == 404 and not is_ours(body), body


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
    exercise(asgi_sender(app), scene, "/dfns", whole_application=True)
    status, _, body = asgi_sender(app)("GET", "/dfns/openapi.json", [], b"")
    assert status == 200
    assert json.loads(body)["openapi"] == "3.1.0"


def test_flask_example() -> None:
    scene = make_scene(World())
    app = run_block(block_index("archive_blueprint"), scene.world.deployment)["app"]
    exercise(flask_sender(app), scene, routes_on_raw_path=False)


def test_flask_blueprint_under_a_prefix() -> None:
    import flask

    from adapters.transport.embeddings.flask import archive_blueprint

    scene = make_scene(World())
    app = flask.Flask("embedding_prefix")
    app.register_blueprint(archive_blueprint(scene.world.deployment, url_prefix="/dfns"))
    exercise(flask_sender(app), scene, "/dfns", routes_on_raw_path=False)


def test_django_example(django_urls: types.ModuleType) -> None:
    scene = make_scene(World())
    patterns = run_block(block_index("archive_urlpatterns"), scene.world.deployment)["urlpatterns"]
    # Django's test client decodes the path and sends no REQUEST_URI: `%2F` is a `/` there.
    exercise(django_sender(django_urls, patterns), scene, routes_on_raw_path=False)


def test_django_example_under_a_server_that_keeps_the_raw_path(
    django_urls: types.ModuleType,
) -> None:
    """Django resolves the decoded path (`us-abc` is one segment: ours); the view reads
    the raw one, where `%61` is no character of an id."""
    scene = make_scene(World())
    patterns = run_block(block_index("archive_urlpatterns"), scene.world.deployment)["urlpatterns"]
    send = django_sender(django_urls, patterns, REQUEST_URI="/auth/users/us-%61bc")
    status, _, body = send("GET", "/auth/users/us-%61bc", bearer(scene), b"")
    assert (status, json.loads(body)["error"]["message"]) == (400, "The user id is malformed.")
    # `%2F` decoded is a `/`: two segments, no route of ours, the project's 404
    send = django_sender(django_urls, patterns, REQUEST_URI="/auth/users/us-a%2Fb")
    status, _, body = send("GET", "/auth/users/us-a%2Fb", bearer(scene), b"")
    assert status == 404 and not is_ours(body)


def test_django_prefixed_example(django_urls: types.ModuleType) -> None:
    scene = make_scene(World())
    index = block_index("archive_urlpatterns", nth=1)
    patterns = run_block(index, scene.world.deployment)["urlpatterns"]
    exercise(django_sender(django_urls, patterns), scene, "/dfns", routes_on_raw_path=False)


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
