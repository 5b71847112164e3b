"""`PUT /auth/users/{userId}/deactivate` and `/activate` through the ASGI and WSGI apps."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.transport.client import Client, Transport
from tests.transport.conftest import Scene


def _signed(scene: Scene, action: str, target_id: str, payload: str = "") -> list[tuple[str, str]]:
    path = f"/auth/users/{target_id}/{action}"
    token = scene.world.user_action(scene.admin, "PUT", path, payload)
    return [*scene.bearer(), ("X-DFNS-USERACTION", token)]


def test_deactivate_then_activate_over_http(client: Client, scene: Scene) -> None:
    target = scene.employee.id
    off = client.request(
        "PUT", f"/auth/users/{target}/deactivate", _signed(scene, "deactivate", target, "{}"), b"{}"
    )
    assert off.status == 200, off
    assert off.json()["isActive"] is False
    assert not scene.is_active(scene.employee)
    scene.world.clock.advance(timedelta(seconds=1))
    on = client.request("PUT", f"/auth/users/{target}/activate", _signed(scene, "activate", target))
    assert on.status == 200, on
    assert on.json()["isActive"] is True
    assert scene.is_active(scene.employee) is True


def test_force_is_a_boolean(client: Client, scene: Scene) -> None:
    target = scene.end_user.id
    body = b'{"force": "yes"}'
    headers = _signed(scene, "deactivate", target, body.decode())
    answer = client.request("PUT", f"/auth/users/{target}/deactivate", headers, body)
    assert answer.status == 400
    assert (
        answer.message == "The request body is invalid: force must be a boolean (no other field)."
    )


def test_an_archived_user_is_404(client: Client, scene: Scene) -> None:
    target = scene.end_user.id
    assert (
        client.request("DELETE", f"/auth/users/{target}", scene.archive_headers(target)).status
        == 200
    )
    answer = client.request(
        "PUT", f"/auth/users/{target}/activate", _signed(scene, "activate", target)
    )
    assert (answer.status, answer.message) == (404, "User not found or already archived.")


@pytest.mark.parametrize("action", ["deactivate", "activate"])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "PATCH"])
def test_other_methods_are_405_with_allow_put(client: Client, action: str, method: str) -> None:
    answer = client.request(method, f"/auth/users/us-x/{action}")
    assert answer.status == 405
    assert answer.header("allow") == "PUT"


@pytest.mark.parametrize(
    "target",
    [
        "/auth/users//deactivate",
        "/auth/users/us-x/deactivate/",
        "/auth/users/us-x/deactivate/more",
        "/auth/users/us-x/Deactivate",
        "/auth/users/us-x/archive",
    ],
)
def test_near_misses_are_404(client: Client, target: str) -> None:
    answer = client.request("PUT", target)
    assert (answer.status, answer.code) == (404, "route_not_found")


# ---------------------------------------------------------------------------- the dfns-current preset
@pytest.mark.parametrize("transport", ["asgi", "wsgi"])
def test_dfns_current_over_http(transport: Transport) -> None:
    from adapters.testing.world import Actor, World
    from adapters.transport.asgi import AsgiApplication
    from adapters.transport.http import HttpHandler
    from adapters.transport.wsgi import WsgiApplication
    from archive_core.config import Policy
    from archive_core.entities import UserKind
    from archive_core.operations import DFNS_CURRENT_PRESET

    world = World(policy=Policy(matrix=DFNS_CURRENT_PRESET))
    handler = HttpHandler(world.deployment)
    asgi = AsgiApplication(handler=handler, max_workers=2)
    try:
        client = Client(transport=transport, asgi=asgi, wsgi=WsgiApplication(handler=handler))
        org = world.new_org()
        admin = world.actor(org, operations=("Auth:Users:Delete", "Auth:Users:Deactivate"))
        delegated = world.actor(org, kind=UserKind.END_USER, full_admin=True)
        target = world.actor(org, kind=UserKind.END_USER)

        def signed(actor: Actor, method: str, path: str) -> list[tuple[str, str]]:
            token = world.user_action(actor, method, path)
            return [("Authorization", f"Bearer {actor.token}"), ("X-DFNS-USERACTION", token)]

        path = f"/auth/users/{target.id}"
        refused = client.request("DELETE", path, signed(delegated, "DELETE", path))
        assert refused.status == 403
        assert refused.message == (
            f"EndUser {delegated.id} is not authorized to perform operation (Auth:Users:Delete)"
        )
        off = client.request(
            "PUT", path + "/deactivate", signed(admin, "PUT", path + "/deactivate")
        )
        assert (off.status, off.json()["isActive"]) == (200, False)
        on = client.request("PUT", path + "/activate", signed(admin, "PUT", path + "/activate"))
        assert on.status == 403
        assert on.message == (
            f"CustomerEmployee {admin.id} is not authorized to perform operation "
            "(Auth:Users:Activate)"
        )
        gone = client.request("DELETE", path, signed(admin, "DELETE", path))
        assert (gone.status, gone.json()["isActive"]) == (200, False)
    finally:
        asgi.close()
