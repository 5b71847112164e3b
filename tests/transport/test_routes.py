"""Every route's happy path and every error status, through the ASGI and the WSGI app."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, cast

import attrs
import pytest

from adapters.transport.asgi import AsgiApplication
from adapters.transport.http import HttpHandler
from adapters.transport.openapi import document
from adapters.transport.wsgi import WsgiApplication
from archive_core.errors import ConcurrencyConflict, StorageUnavailable
from archive_core.use_cases import GET_USER
from tests.transport.client import Answer, Client
from tests.transport.conftest import Scene

USER_KEYS = {
    "username",
    "userId",
    "kind",
    "credentialUuid",
    "orgId",
    "permissions",
    "scopes",
    "isActive",
    "isServiceAccount",
    "isRegistered",
    "permissionAssignments",
    "name",
    "isSSORequired",
}
NOT_FOUND = "User not found or already archived."


def refused(answer: Answer, status: int, message: str) -> None:
    assert (answer.status, answer.message) == (status, message), answer
    assert answer.header("content-type") == "application/json"


# ---------------------------------------------------------------------------- happy paths
def test_full_signed_flow_over_http(client: Client, scene: Scene) -> None:
    world, path = scene.world, f"/auth/users/{scene.employee.id}"
    init = client.request(
        "POST", "/auth/action/init", scene.bearer(), world.init_body("DELETE", path)
    )
    assert init.status == 200
    challenge = init.json()
    assert set(challenge) == {
        "challenge",
        "challengeIdentifier",
        "supportedCredentialKinds",
        "allowCredentials",
        "userVerification",
        "rp",
        "externalAuthenticationUrl",
        "attestation",
    }
    complete_body = {
        "challengeIdentifier": challenge["challengeIdentifier"],
        "firstFactor": world.sign_challenge(scene.admin, challenge),
    }
    complete = client.request(
        "POST", "/auth/action", scene.bearer(), json.dumps(complete_body).encode()
    )
    assert complete.status == 200
    assert list(complete.json()) == ["userAction"]
    token = complete.json()["userAction"]

    archived = client.request("DELETE", path, [*scene.bearer(), ("X-DFNS-USERACTION", token)])
    assert archived.status == 200
    assert set(archived.json()) == USER_KEYS
    assert archived.json()["userId"] == scene.employee.id
    assert archived.json()["isActive"] is False
    assert not scene.is_active(scene.employee)

    again = client.request("DELETE", path, scene.archive_headers(scene.employee))
    refused(again, 404, NOT_FOUND)
    gone = client.request("GET", path, scene.bearer())
    refused(gone, 404, NOT_FOUND)


def test_delete_with_body_binds_the_exact_bytes(client: Client, scene: Scene) -> None:
    path = f"/auth/users/{scene.end_user.id}"
    headers = scene.archive_headers(scene.end_user, payload="{}")
    answer = client.request("DELETE", path, headers, b"{}")
    assert answer.status == 200
    assert answer.json()["isActive"] is False


@pytest.mark.parametrize(("signed", "sent"), [("", b"{}"), ("{}", b""), ("{}", b"{ }"), ("", b" ")])
def test_body_other_than_the_signed_payload_is_refused(
    client: Client, scene: Scene, signed: str, sent: bytes
) -> None:
    headers = scene.archive_headers(scene.employee, payload=signed)
    before = scene.snapshot()
    answer = client.request("DELETE", f"/auth/users/{scene.employee.id}", headers, sent)
    refused(answer, 403, "user action signature is missing or invalid")
    assert scene.snapshot() == before


def test_get_user(client: Client, scene: Scene) -> None:
    answer = client.request("GET", f"/auth/users/{scene.employee.id}", scene.bearer(scene.reader))
    assert answer.status == 200
    assert set(answer.json()) == USER_KEYS
    assert answer.json()["isActive"] is True
    assert answer.header("cache-control") == "no-store"


def test_query_string_is_not_part_of_the_path(client: Client, scene: Scene) -> None:
    target = f"/auth/users/{scene.employee.id}?expand=all"
    assert client.request("GET", target, scene.bearer()).status == 200


def test_openapi_document_is_served(client: Client) -> None:
    answer = client.request("GET", "/openapi.json")
    assert answer.status == 200
    assert answer.header("content-type") == "application/json"
    assert answer.json() == document()


def test_every_answer_has_a_correct_content_length(client: Client, scene: Scene) -> None:
    for answer in (
        client.request("GET", "/nowhere"),
        client.request("GET", f"/auth/users/{scene.employee.id}", scene.bearer()),
        client.request("GET", "/openapi.json"),
    ):
        assert answer.header("content-length") == str(len(answer.body))


# ---------------------------------------------------------------------------- routing errors
@pytest.mark.parametrize(
    "target",
    [
        "/",
        "/auth",
        "/auth/users/",
        "/auth/action/",
        "/auth/action/init/",
        "/auth/users/us-x/",
        "/auth/users/us-x/credentials",
        "/AUTH/action",
        "//auth/action",
        "/openapi.json/",
        "auth/action",
        "",
    ],
)
def test_unknown_route_is_404(client: Client, target: str) -> None:
    answer = client.request("POST", target, body=b"{}")
    refused(answer, 404, "Not Found")
    assert answer.code == "route_not_found"


@pytest.mark.parametrize(
    ("method", "target", "allow"),
    [
        ("GET", "/auth/action/init", "POST"),
        ("PUT", "/auth/action", "POST"),
        ("POST", "/auth/users/us-x", "DELETE, GET, PUT"),
        ("PATCH", "/auth/users/us-x", "DELETE, GET, PUT"),
        ("HEAD", "/auth/users/us-x", "DELETE, GET, PUT"),
        ("OPTIONS", "/auth/action", "POST"),
        ("delete", "/auth/users/us-x", "DELETE, GET, PUT"),
        ("POST", "/openapi.json", "GET"),
        ("BREW", "/auth/action/init", "POST"),
    ],
)
def test_wrong_method_is_405_with_allow(
    client: Client, method: str, target: str, allow: str
) -> None:
    answer = client.request(method, target)
    refused(answer, 405, "Method Not Allowed")
    assert answer.header("allow") == allow


# ---------------------------------------------------------------------------- size limits
def test_declared_oversized_body_is_413_before_reading(client: Client, scene: Scene) -> None:
    headers = [*scene.bearer(), ("Content-Length", str(64 * 1024 + 1))]
    answer = client.request("POST", "/auth/action/init", headers, b"")
    refused(answer, 413, "The request body is too large.")


def test_streamed_oversized_body_is_413(client: Client, scene: Scene) -> None:
    headers = scene.archive_headers(scene.employee)
    before = scene.snapshot()
    chunks = [b"x" * 16 * 1024] * 5  # 80 KiB, no Content-Length
    answer = client.request("DELETE", f"/auth/users/{scene.employee.id}", headers, chunks)
    refused(answer, 413, "The request body is too large.")
    assert scene.snapshot() == before


def test_body_of_exactly_the_limit_reaches_the_core(client: Client, scene: Scene) -> None:
    body = b" " * (64 * 1024)
    answer = client.request("POST", "/auth/action/init", scene.bearer(), body)
    refused(answer, 400, "The request body is not valid JSON.")


def test_streamed_body_within_the_limit_reaches_the_core(client: Client, scene: Scene) -> None:
    world, path = scene.world, f"/auth/users/{scene.employee.id}"
    body = world.init_body("DELETE", path)
    answer = client.request(
        "POST", "/auth/action/init", scene.bearer(), [body[:10], body[10:20], body[20:]]
    )
    assert answer.status == 200


# ---------------------------------------------------------------------------- core errors
def test_malformed_json_is_400(client: Client, scene: Scene) -> None:
    for target in ("/auth/action/init", "/auth/action"):
        answer = client.request("POST", target, scene.bearer(), b"{not json")
        refused(answer, 400, "The request body is not valid JSON.")
        assert answer.code == "json_malformed"


def test_missing_bearer_is_401(client: Client, scene: Scene) -> None:
    headers = [h for h in scene.archive_headers(scene.employee) if h[0] != "Authorization"]
    before = scene.snapshot()
    answer = client.request("DELETE", f"/auth/users/{scene.employee.id}", headers)
    refused(answer, 401, "Not Authorized.")
    assert scene.snapshot() == before


def test_missing_permission_is_403_with_the_exact_message(client: Client, scene: Scene) -> None:
    headers = scene.archive_headers(scene.employee, actor=scene.nobody)
    before = scene.snapshot()
    answer = client.request("DELETE", f"/auth/users/{scene.employee.id}", headers)
    refused(
        answer,
        403,
        f"CustomerEmployee {scene.nobody.id} is not authorized to perform operation "
        "(Auth:Users:Update)",
    )
    assert scene.snapshot() == before
    get = client.request("GET", f"/auth/users/{scene.employee.id}", scene.bearer(scene.nobody))
    refused(
        get,
        403,
        f"CustomerEmployee {scene.nobody.id} is not authorized to perform operation "
        "(Auth:Users:Read)",
    )


def test_missing_user_action_is_403(client: Client, scene: Scene) -> None:
    answer = client.request("DELETE", f"/auth/users/{scene.employee.id}", scene.bearer())
    refused(answer, 403, "user action signature is missing or invalid")
    assert scene.is_active(scene.employee)


def test_malformed_user_id_is_400(client: Client, scene: Scene) -> None:
    answer = client.request("GET", "/auth/users/US-NOT-AN-ID", scene.bearer())
    refused(answer, 400, "The user id is malformed.")


def test_user_of_another_org_is_404(client: Client, scene: Scene) -> None:
    answer = client.request(
        "DELETE", f"/auth/users/{scene.other_user.id}", scene.archive_headers(scene.other_user)
    )
    refused(answer, 404, NOT_FOUND)
    assert scene.is_active(scene.other_user)


# ---------------------------------------------------------------------------- storage errors
def _failing(exc: Exception) -> Callable[..., Any]:
    def call(*args: object) -> Any:
        raise exc

    return call


def _clients(scene: Scene, failing: Callable[..., Any]) -> list[Client]:
    service = attrs.evolve(
        scene.world.deployment,
        endpoints=scene.world.deployment.endpoints.with_handler(GET_USER, cast(Any, failing)),
    )
    handler = HttpHandler(service)
    asgi, wsgi = AsgiApplication(handler=handler, max_workers=1), WsgiApplication(handler=handler)
    return [Client("asgi", asgi, wsgi), Client("wsgi", asgi, wsgi)]


@pytest.mark.parametrize(
    "case",
    [
        (
            ConcurrencyConflict("version 3 != 4"),
            409,
            "The user was changed by a concurrent request; retry the request.",
            "conflict",
        ),
        (
            StorageUnavailable(
                "db down at 10.0.0.1", store="postgresql", driver_error="OperationalError"
            ),
            503,
            "Service Unavailable",
            "unavailable",
        ),
        (StorageUnavailable("db down at 10.0.0.2"), 503, "Service Unavailable", "unavailable"),
        (RuntimeError("tokSECRET leaked"), 500, "Internal Server Error", "internal_error"),
        (RecursionError(), 500, "Internal Server Error", "internal_error"),
    ],
)
def test_storage_and_unexpected_errors_are_mapped(
    scene: Scene, caplog: pytest.LogCaptureFixture, case: tuple[Exception, int, str, str]
) -> None:
    exc, status, message, code = case
    caplog.set_level(logging.INFO, logger="archive_core.http")
    for client in _clients(scene, _failing(exc)):
        answer = client.request("GET", f"/auth/users/{scene.employee.id}", scene.bearer())
        refused(answer, status, message)
        error = answer.json()["error"]
        assert error["code"] == code
        if status == 500:
            assert error == {
                "id": error["id"],
                "message": "Internal Server Error",
                "status": 500,
                "code": "internal_error",
            }
        client.asgi.close()
    text = caplog.text + repr([r.__dict__ for r in caplog.records])
    assert str(exc) not in text or not str(exc)
    assert "Traceback" not in text
    records = [r for r in caplog.records if r.name == "archive_core.http"]
    assert len(records) == 2
    assert all(getattr(r, "status", None) == status for r in records)
    if status == 500:
        assert all(getattr(r, "exception", None) == type(exc).__name__ for r in records)
        assert all(r.levelno == logging.ERROR and r.exc_info is None for r in records)
    if isinstance(exc, StorageUnavailable):
        # The store and the driver's error class, never the driver's text.
        store, driver = exc.store or "unknown", exc.driver_error or "none"
        for record in records:
            assert (getattr(record, "store", None), getattr(record, "driver_error", None)) == (
                store,
                driver,
            )
            assert record.getMessage().endswith(
                f"503 unavailable id={getattr(record, 'error_id', '')} store={store} error={driver}"
            )
            assert record.levelno == logging.WARNING
    else:
        assert all(getattr(r, "store", None) == "" for r in records)


# ---------------------------------------------------------------------------- signing callers
def test_init_without_a_credential_is_401(client: Client, scene: Scene) -> None:
    bare = scene.world.actor(scene.org, credential_kind=None, username="nokey@example.co")
    body = scene.world.init_body("DELETE", f"/auth/users/{scene.employee.id}")
    answer = client.request("POST", "/auth/action/init", scene.bearer(bare), body)
    refused(answer, 401, "User does not have a credential that can be used for the application.")


def test_archived_caller_is_unknown_to_signing_and_unauthorized_elsewhere(
    client: Client, scene: Scene
) -> None:
    scene.world.archive_user(scene.admin, scene.reader.id)
    body = scene.world.init_body("DELETE", f"/auth/users/{scene.employee.id}")
    init = client.request("POST", "/auth/action/init", scene.bearer(scene.reader), body)
    refused(init, 401, "User not found")
    get = client.request("GET", f"/auth/users/{scene.employee.id}", scene.bearer(scene.reader))
    refused(get, 401, "Not Authorized.")


def test_deactivated_caller_cannot_sign(client: Client, scene: Scene) -> None:
    world = scene.world
    user = world.fresh_user(scene.admin.user)
    with world.uow_factory() as uow:
        uow.users.update(attrs.evolve(user, is_active=False), expected_version=user.version)
        uow.commit()
    body = world.init_body("DELETE", f"/auth/users/{scene.employee.id}")
    answer = client.request("POST", "/auth/action/init", scene.bearer(), body)
    refused(answer, 400, "User account has been deactivated.")
