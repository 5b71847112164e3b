"""docs/embedding.md's application with its own users, its own login and its own
operation, run as the guide shows it: its blocks executed in order (the operation, the
users table, the deployment with the users linked, then the framework's application),
driven over HTTP through the framework — FastAPI inside its lifespan. A client logs in
through the application's login, reads through the application's own route under
`/auth/users/` (which calls our handler), and signs the application's own operation
with its key; refusals are byte for byte the reference handler's."""

from __future__ import annotations

import asyncio
import json
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from adapters.client import KeySigner, init_body
from adapters.transport.http import HttpHandler
from archive_core.errors import ArchiveCoreError, Catalogue
from tests.transport.frameworks import (
    BLOCKS,
    DOC,
    Pairs,
    Send,
    block_index,
    django_sender,
    flask_sender,
    is_ours,
    without_error_id,
)

PASSWORDS = {"ada": "correct horse battery staple", "bob": "Tr0ub4dor&3"}
# The guide's blocks that every framework's application starts from, in order.
COMMON = ("class SignOut", "class Accounts", "bootstrap_org(deployment")
APPLICATIONS = {
    "fastapi": "FastAPI(lifespan=lifespan)",
    "flask": 'flask.Flask("accounts")',
    "django": 'path("login", login)',
}


def run_guide(framework: str) -> dict[str, Any]:
    """The guide's blocks for `framework`, run in one namespace as one module would."""
    namespace: dict[str, Any] = {"__name__": f"embedding_guide_{framework}"}
    for marker in (*COMMON, APPLICATIONS[framework]):
        index = block_index(marker)
        exec(compile(BLOCKS[index], f"{DOC}#block-{index}", "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace


@contextmanager
def inside_lifespan(app: Any) -> Iterator[Send]:
    """A sender to `app` while its lifespan runs (entered first, left last)."""
    loop = asyncio.new_event_loop()
    lifespan = app.router.lifespan_context(app)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")

    def send(
        method: str, path: str, headers: Pairs, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        request = client.request(method, path, headers=headers, content=body)
        response = loop.run_until_complete(request)
        return response.status_code, dict(response.headers), response.content

    loop.run_until_complete(lifespan.__aenter__())
    try:
        yield send
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(lifespan.__aexit__(None, None, None))
        loop.close()


def log_in(send: Send, login: str, password: str) -> tuple[int, bytes]:
    body = json.dumps({"login": login, "password": password}).encode()
    status, _, answer = send("POST", "/login", [("Content-Type", "application/json")], body)
    return status, answer


def token_of(send: Send, login: str) -> Pairs:
    status, body = log_in(send, login, PASSWORDS[login])
    assert status == 200, body
    return [("Authorization", f"Bearer {json.loads(body)['token']}")]


def signed(send: Send, guide: dict[str, Any], caller: Pairs, method: str, path: str) -> Pairs:
    """Ada's signature for `method path` (empty body): init, sign with her key, complete."""
    admin = guide["org"].admin
    signer = KeySigner(admin.credential.cred_id, admin.private_key_pem)
    status, _, body = send("POST", "/auth/action/init", caller, init_body(method, path))
    assert status == 200, body
    status, _, body = send("POST", "/auth/action", caller, signer.complete_body(json.loads(body)))
    assert status == 200, body
    return [*caller, ("X-DFNS-USERACTION", json.loads(body)["userAction"])]


def the_guides_story(send: Send, guide: dict[str, Any]) -> None:
    deployment, org, bob_id = guide["deployment"], guide["org"], guide["bob"].user.id
    ada_id = org.admin.user.id
    reference = HttpHandler(deployment)

    # the application's login checks its own passwords; a wrong one is its own 401
    for login, password in (("ada", "wrong"), ("nobody", "x"), ("bob", PASSWORDS["ada"])):
        status, body = log_in(send, login, password)
        assert status == 401 and not is_ours(body), (login, body)
    as_ada, as_bob = token_of(send, "ada"), token_of(send, "bob")

    # its own route under /auth/users/ (added after our router) joins our user and its row
    status, _, body = send("GET", f"/auth/users/{bob_id}/profile", as_ada, b"")
    assert status == 200, body
    profile = json.loads(body)
    assert (profile["userId"], profile["username"]) == (bob_id, "bob@example.com")
    assert profile["displayName"] == "Bob"
    # ... and answers our refusal as the server answers it: Bob may read nothing of ours
    status, _, body = send("GET", f"/auth/users/{ada_id}/profile", as_bob, b"")
    assert (status, without_error_id(body)) == (
        403,
        without_error_id(reference.handle("GET", f"/auth/users/{ada_id}", as_bob, b"").body),
    )

    # our routes, beside: Ada's token is ours
    status, _, body = send("GET", f"/auth/users/{bob_id}", as_ada, b"")
    assert (status, json.loads(body)["userId"]) == (200, bob_id)

    # the application's own operation, refused and served exactly as ours are
    path = f"/auth/users/{bob_id}/sign-out"
    status, _, body = send("PUT", path, as_ada, b"")
    assert (status, without_error_id(body)) == (
        403,
        without_error_id(reference.handle("PUT", path, as_ada, b"").body),
    )
    status, _, body = send("PUT", path, signed(send, guide, as_ada, "PUT", path), b"")
    assert status == 200, body
    assert json.loads(body)["userId"] == bob_id
    with deployment.storage.uow_factory() as uow:
        assert uow.audit.records(org.admin.user.org_id)[-1].action == f"PUT {path}"
    # from then on Bob's token is refused, by our route and by the application's alike
    want = reference.handle("GET", f"/auth/users/{ada_id}", as_bob, b"")
    assert want.status == 401
    status, _, body = send("GET", f"/auth/users/{ada_id}/profile", as_bob, b"")
    assert (status, without_error_id(body)) == (401, without_error_id(want.body))
    status, _, body = send("GET", f"/auth/users/{ada_id}", as_bob, b"")
    assert (status, without_error_id(body)) == (401, without_error_id(want.body))
    assert send("GET", f"/auth/users/{ada_id}", as_ada, b"")[0] == 200

    # archived, Bob can no longer log in: the login answers our 401
    target = f"/auth/users/{bob_id}"
    status, _, body = send("DELETE", target, signed(send, guide, as_ada, "DELETE", target), b"")
    assert status == 200, body
    status, body = log_in(send, "bob", PASSWORDS["bob"])
    refused = HttpHandler.refusal(
        ArchiveCoreError(Catalogue.NOT_AUTHORIZED, reason="caller_unknown")
    )
    assert (status, without_error_id(body)) == (401, without_error_id(refused.body))


def test_the_fastapi_application_of_the_guide() -> None:
    guide = run_guide("fastapi")
    closed: list[str] = []
    guide["deployment"].storage.closers.append(lambda: closed.append("deployment"))
    with inside_lifespan(guide["app"]) as send:
        the_guides_story(send, guide)
        assert not closed
    assert closed == ["deployment"]  # the lifespan closed the deployment ...
    with pytest.raises(Exception, match="closed"):  # ... and the application's own table
        guide["accounts"].display_name(guide["bob"].user.id)


def test_the_flask_application_of_the_guide() -> None:
    guide = run_guide("flask")
    the_guides_story(flask_sender(guide["app"]), guide)


def test_the_django_application_of_the_guide(django_urls: types.ModuleType) -> None:
    guide = run_guide("django")
    the_guides_story(django_sender(django_urls, guide["urlpatterns"]), guide)


def test_the_guides_operation_is_in_the_openapi_document_of_its_deployment() -> None:
    guide = run_guide("fastapi")
    document = json.loads(
        HttpHandler(guide["deployment"]).handle("GET", "/openapi.json", [], b"").body
    )
    assert document["paths"]["/auth/users/{userId}/sign-out"]["put"]["operationId"] == "signOutUser"
    guide["deployment"].close()
