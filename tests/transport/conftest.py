"""Fixtures: a world with an org of actors, the handler, both applications, a client
parametrized over ASGI and WSGI, and a snapshot proving refusals changed nothing."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from adapters.testing.world import ARCHIVE_OPS, Actor, World
from adapters.transport.asgi import AsgiApplication
from adapters.transport.http import HttpHandler
from adapters.transport.wsgi import WsgiApplication
from archive_core.entities import UserKind
from archive_core.ids import OrgId
from tests.transport.client import Client

READ_OPS = ("Auth:Users:Read",)


@attrs.frozen
class Scene:
    """An org with an archiving admin, a reader, a bystander, an employee and an end user;
    a second org with its own admin and user."""

    world: World
    org: OrgId
    admin: Actor
    reader: Actor
    nobody: Actor
    employee: Actor
    end_user: Actor
    other_admin: Actor
    other_user: Actor

    def bearer(self, actor: Actor | None = None) -> list[tuple[str, str]]:
        return [("Authorization", f"Bearer {(actor or self.admin).token}")]

    def archive_headers(
        self, target: Actor | str, *, actor: Actor | None = None, payload: str = ""
    ) -> list[tuple[str, str]]:
        """Bearer + a fresh user action token for `DELETE /auth/users/{target}`."""
        caller = actor or self.admin
        target_id = target if isinstance(target, str) else target.id
        token = self.world.user_action(caller, "DELETE", f"/auth/users/{target_id}", payload)
        return [*self.bearer(caller), ("X-DFNS-USERACTION", token)]

    def snapshot(self) -> tuple[Any, ...]:
        """Everything a request could change."""
        store = self.world.store
        return (
            dict(store.users),
            {k: r.used_at for k, r in store.user_actions.items()},
            {k: list(v) for k, v in store.audit.items()},
            dict(store.credentials),
        )

    def is_active(self, actor: Actor) -> bool:
        user = self.world.fresh_user(actor.user)
        return user.is_active and not user.is_archived


def make_scene(world: World) -> Scene:
    org = world.new_org()
    other = world.new_org()
    return Scene(
        world=world,
        org=org,
        admin=world.actor(org, operations=ARCHIVE_OPS + READ_OPS, username="admin@example.co"),
        reader=world.actor(org, operations=READ_OPS, username="reader@example.co"),
        nobody=world.actor(org, username="nobody@example.co"),
        employee=world.actor(org, username="employee@example.co"),
        end_user=world.actor(org, kind=UserKind.END_USER, username="end.user@example.co"),
        other_admin=world.actor(
            other, operations=ARCHIVE_OPS + READ_OPS, username="admin@other.example"
        ),
        other_user=world.actor(other, username="user@other.example"),
    )


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def scene(world: World) -> Scene:
    return make_scene(world)


@pytest.fixture
def handler(world: World) -> HttpHandler:
    return HttpHandler(world.deployment)


@pytest.fixture
def asgi_app(handler: HttpHandler) -> Iterator[AsgiApplication]:
    app = AsgiApplication(handler=handler, max_workers=4)
    yield app
    app.close()


@pytest.fixture
def wsgi_app(handler: HttpHandler) -> WsgiApplication:
    return WsgiApplication(handler=handler)


@pytest.fixture(params=["asgi", "wsgi"])
def client(
    request: pytest.FixtureRequest, asgi_app: AsgiApplication, wsgi_app: WsgiApplication
) -> Client:
    return Client(transport=request.param, asgi=asgi_app, wsgi=wsgi_app)


@pytest.fixture(scope="module")
def django_urls() -> Iterator[types.ModuleType]:
    """A URLconf module the Django examples' patterns are placed in (no project needed)."""
    import django  # type: ignore[import-untyped]  # Django ships no type hints
    from django.conf import settings  # type: ignore[import-untyped]

    module = types.ModuleType("archive_core_embedding_urls")
    module.urlpatterns = []  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="embedding-test-only",
            ALLOWED_HOSTS=["testserver"],
            ROOT_URLCONF=module.__name__,
            MIDDLEWARE=[
                "django.middleware.common.CommonMiddleware",
                "django.middleware.csrf.CsrfViewMiddleware",
            ],
            INSTALLED_APPS=[],
        )
        django.setup()
    yield module
    del sys.modules[module.__name__]
