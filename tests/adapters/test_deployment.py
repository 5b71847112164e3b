"""What a deployment gives an application with its own login: `issue_bearer_token`, a
bearer token the operations accept, refused for a user who could not authenticate; and
what the operator calls return (`bootstrap_org`'s `NewOrg`, `create_user`'s `NewUser`)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.client import KeySigner
from adapters.testing.world import Actor, World
from adapters.transport.http import HttpHandler
from adapters.wiring import NewOrg, bootstrap_org, build, create_user
from archive_core import ArchiveCoreError, Headers, Request
from archive_core.entities import TokenKind, UserKind
from archive_core.use_cases import GET_USER

HOUR = timedelta(hours=1)


def read_as(world: World, token: str, target: str) -> int:
    """The status of `GET /auth/users/{target}` with `token`."""
    headers = [("Authorization", f"Bearer {token}")]
    return HttpHandler(world.deployment).handle("GET", f"/auth/users/{target}", headers, b"").status


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def reader(world: World) -> Actor:
    return world.actor(world.new_org(), operations=("Auth:Users:Read",))


def test_an_issued_token_is_accepted_by_the_operations_until_its_ttl(
    world: World, reader: Actor
) -> None:
    token = world.deployment.issue_bearer_token(reader.id, ttl=HOUR)
    assert read_as(world, token, reader.id) == 200
    world.clock.advance(HOUR)
    assert read_as(world, token, reader.id) == 401


def test_the_token_kind_is_the_users_unless_told(world: World, reader: Actor) -> None:
    org = reader.user.org_id
    robot = world.actor(org, service_account=True, operations=("Auth:Users:Read",))
    issue = world.deployment.issue_bearer_token
    kinds = {
        issue(reader.id, ttl=HOUR): TokenKind.LOGIN,
        issue(robot.id, ttl=HOUR): TokenKind.SERVICE_ACCOUNT,
        issue(reader.id, ttl=HOUR, token_kind=TokenKind.PERSONAL_ACCESS_TOKEN): (
            TokenKind.PERSONAL_ACCESS_TOKEN
        ),
    }
    now = world.clock.now()
    assert {t: world.bearer.verify(t, now=now).token_kind for t in kinds} == kinds
    assert all(read_as(world, token, reader.id) == 200 for token in kinds)
    with pytest.raises(
        ValueError, match=r"^a token of kind ServiceAccount cannot authenticate a person$"
    ):
        issue(reader.id, ttl=HOUR, token_kind=TokenKind.SERVICE_ACCOUNT)
    with pytest.raises(
        ValueError, match=r"^a token of kind Login cannot authenticate a service account$"
    ):
        issue(robot.id, ttl=HOUR, token_kind=TokenKind.LOGIN)


@pytest.mark.parametrize("ttl", [timedelta(0), -HOUR])
def test_a_ttl_must_be_positive(world: World, reader: Actor, ttl: timedelta) -> None:
    with pytest.raises(ValueError, match=r"^ttl must be positive$"):
        world.deployment.issue_bearer_token(reader.id, ttl=ttl)


def test_no_token_for_a_user_who_could_not_authenticate(world: World, reader: Actor) -> None:
    org = reader.user.org_id
    admin = world.actor(org, full_admin=True)
    archived, deactivated = world.actor(org), world.actor(org)
    world.archive_user(admin, archived.id)
    world.deactivate_user(admin, deactivated.id)
    for user_id, reason in (
        ("us-0000-0000-0000000000000000", "caller_unknown"),
        ("not an id", "caller_unknown"),
        (archived.id, "caller_unknown"),
        (deactivated.id, "caller_inactive"),
    ):
        with pytest.raises(ArchiveCoreError) as refused:
            world.deployment.issue_bearer_token(user_id, ttl=HOUR)
        assert (refused.value.status, refused.value.message, refused.value.reason) == (
            401,
            "Not Authorized.",
            reason,
        )


def test_bootstrap_org_and_create_user_return_what_they_made() -> None:
    with build(db_url="memory:") as deployment:
        org = bootstrap_org(deployment, username="ada@example.com")
        assert isinstance(org, NewOrg)
        admin, app_id = org  # still unpacks as the pair it is
        assert (admin, app_id) == (org.admin, org.app_id)
        assert app_id.startswith("ap-")
        assert org.admin.user.username == "ada@example.com"
        assert org.admin.credential is not None and org.admin.private_key_pem is not None
        assert org.admin.auth_token is not None
        KeySigner(org.admin.credential.cred_id, org.admin.private_key_pem)  # a usable key pair

        org_id = org.admin.user.org_id
        bare = create_user(deployment, org_id, "bob@example.com", UserKind.END_USER)
        assert (bare.credential, bare.private_key_pem, bare.auth_token) == (None, None, None)
        full = create_user(
            deployment,
            org_id,
            "eve@example.com",
            UserKind.END_USER,
            key_algorithm="p256",
            token=True,
        )
        assert full.credential is not None and full.private_key_pem is not None
        assert full.auth_token is not None
        claims = deployment.bearer_tokens.verify(full.auth_token, now=deployment.clock.now())
        assert (claims.user_id, claims.token_kind) == (full.user.id, TokenKind.LOGIN)
        # the admin's token reads through the operations
        headers = Headers([("Authorization", f"Bearer {org.admin.auth_token}")])
        path, params = f"/auth/users/{full.user.id}", {"userId": full.user.id}
        answer = deployment.endpoints.handler(GET_USER)(
            Request("GET", path, headers, params=params)
        )
        assert answer.document is not None and answer.document["userId"] == full.user.id
