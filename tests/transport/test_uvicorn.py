"""The ASGI app under a real uvicorn server on a loopback port: lifespan, the full signed
flow over HTTP with httpx, and the raw-path, repeated-header and streamed-body rules as
a real server delivers them."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from adapters.testing.world import World
from adapters.transport.asgi import AsgiApplication
from adapters.transport.http import HttpHandler
from tests.transport.conftest import Scene, make_scene


class LiveServer:
    """uvicorn serving an app in a thread, on a port the OS picked."""

    def __init__(self, app: AsgiApplication) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        # Waiting for readiness, not measuring anything: bounded so a broken start fails.
        for _ in range(1000):
            if self.server.started or not self.thread.is_alive():
                break
            time.sleep(0.01)
        assert self.server.started, "uvicorn did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.socket.close()


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[Scene, AsgiApplication, httpx.Client]]:
    scene = make_scene(World())
    app = AsgiApplication(handler=HttpHandler(scene.world.deployment), max_workers=4)
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        yield scene, app, http
    assert app._executor is None, "lifespan shutdown stops the worker pool"


def bearer(scene: Scene, actor: Any = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {(actor or scene.admin).token}"}


def user_action_over_http(
    http: httpx.Client, scene: Scene, method: str, path: str, payload: str = ""
) -> str:
    world = scene.world
    init = http.post(
        "/auth/action/init",
        content=world.init_body(method, path, payload),
        headers={**bearer(scene), "Content-Type": "application/json"},
    )
    assert init.status_code == 200, init.text
    challenge = init.json()
    complete = http.post(
        "/auth/action",
        json={
            "challengeIdentifier": challenge["challengeIdentifier"],
            "firstFactor": world.sign_challenge(scene.admin, challenge),
        },
        headers=bearer(scene),
    )
    assert complete.status_code == 200, complete.text
    token = complete.json()["userAction"]
    assert isinstance(token, str)
    return token


def test_full_signed_flow_over_a_real_server(
    live: tuple[Scene, AsgiApplication, httpx.Client],
) -> None:
    scene, _, http = live
    path = f"/auth/users/{scene.employee.id}"
    token = user_action_over_http(http, scene, "DELETE", path)

    archived = http.delete(path, headers={**bearer(scene), "X-DFNS-USERACTION": token})
    assert archived.status_code == 200
    assert archived.headers["content-type"] == "application/json"
    assert archived.json()["userId"] == scene.employee.id
    assert archived.json()["isActive"] is False

    replay = http.delete(path, headers={**bearer(scene), "X-DFNS-USERACTION": token})
    assert (replay.status_code, replay.json()["error"]["message"]) == (
        400,
        "user action has already been used",
    )
    gone = http.get(path, headers=bearer(scene))
    assert (gone.status_code, gone.json()["error"]["message"]) == (
        404,
        "User not found or already archived.",
    )


def test_delete_with_a_json_body_over_a_real_server(
    live: tuple[Scene, AsgiApplication, httpx.Client],
) -> None:
    scene, _, http = live
    path = f"/auth/users/{scene.end_user.id}"
    token = user_action_over_http(http, scene, "DELETE", path, "{}")
    answer = http.request(
        "DELETE", path, content=b"{}", headers={**bearer(scene), "X-DFNS-USERACTION": token}
    )
    assert answer.status_code == 200
    assert answer.json()["isActive"] is False


def test_raw_path_reaches_the_core_undecoded(
    live: tuple[Scene, AsgiApplication, httpx.Client],
) -> None:
    scene, _, http = live
    answer = http.get("/auth/users/us-a%2Fb", headers=bearer(scene))
    assert (answer.status_code, answer.json()["error"]["message"]) == (
        400,
        "The user id is malformed.",
    )


def test_repeated_user_action_header_is_refused_and_not_consumed(
    live: tuple[Scene, AsgiApplication, httpx.Client],
) -> None:
    scene, _, http = live
    target = scene.world.actor(scene.org, username="repeat@example.co")
    path = f"/auth/users/{target.id}"
    token = user_action_over_http(http, scene, "DELETE", path)
    headers = [
        ("Authorization", f"Bearer {scene.admin.token}"),
        ("X-DFNS-USERACTION", token),
        ("X-DFNS-USERACTION", token),
    ]
    refused = http.delete(path, headers=headers)
    assert (refused.status_code, refused.json()["error"]["message"]) == (
        403,
        "user action signature is missing or invalid",
    )
    accepted = http.delete(path, headers=headers[:2])
    assert accepted.status_code == 200


def test_streamed_body_over_the_limit_is_413(
    live: tuple[Scene, AsgiApplication, httpx.Client],
) -> None:
    scene, _, http = live

    def chunks() -> Iterator[bytes]:
        for _ in range(8):
            yield b" " * 16 * 1024

    answer = http.post("/auth/action/init", content=chunks(), headers=bearer(scene))
    assert (answer.status_code, answer.json()["error"]["message"]) == (
        413,
        "The request body is too large.",
    )


def test_routing_errors_over_a_real_server(
    live: tuple[Scene, AsgiApplication, httpx.Client],
) -> None:
    _, _, http = live
    missing = http.get("/auth/nothing")
    assert (missing.status_code, missing.json()["error"]["message"]) == (404, "Not Found")
    wrong = http.put("/auth/action")
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "POST")
    assert http.get("/openapi.json").json()["openapi"] == "3.1.0"
