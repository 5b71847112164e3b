"""The real use cases (init, complete, archive, purge) on every storage combination that
`open_storage` builds: the guarantees of SPEC §5 hold whatever the storage."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.storage.urls import Storage, open_storage
from adapters.testing.contracts.unit_of_work import THREADS, race
from adapters.testing.world import ARCHIVE_OPS, World
from archive_core.audit import verify_audit_chain
from archive_core.config import Policy
from archive_core.entities import UserKind
from archive_core.errors import ArchiveCoreError, Catalogue, ErrorKind
from archive_core.operations import DFNS_CURRENT_PRESET
from archive_core.requests import Request
from archive_core.use_cases import ACTIVATE_USER, ARCHIVE_USER, DEACTIVATE_USER, INIT_USER_ACTION
from tests.services import PgSchema, RedisPrefix

COMBINATIONS = ("memory", "sqlite", "sqlite+redis", "postgresql", "postgresql+redis")


@pytest.fixture(params=COMBINATIONS)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    combination: str = request.param
    main, _, replay = combination.partition("+")
    replay_url = None
    if replay == "redis":
        prefix: RedisPrefix = request.getfixturevalue("redis_prefix")
        replay_url = prefix.replay_url
    if main == "postgresql":
        place: PgSchema = request.getfixturevalue("pg_schema")
        url = place.url
    elif main == "sqlite":
        url = str(tmp_path / "archive.db")
    else:
        url = "memory:"
    with open_storage(url, replay_url=replay_url) as opened:
        yield opened


@pytest.fixture
def world(storage: Storage) -> World:
    return World(
        uow_factory=storage.uow_factory,
        challenges=storage.challenges,
        replay_guard=storage.replay_guard,
    )


def refused(kind: ErrorKind, call: Callable[[], object]) -> None:
    with pytest.raises(ArchiveCoreError) as caught:
        call()
    assert caught.value.code == kind.code


def test_an_archive_and_its_replays(world: World) -> None:
    org = world.new_org()
    admin = world.actor(org, operations=ARCHIVE_OPS)
    target = world.actor(org)
    nonce = world.nonce("flow-nonce-000001")
    request = world.archive_request(admin, target.id, extra={"X-DFNS-NONCE": nonce})
    answer = world.call(ARCHIVE_USER, request, target.id)
    assert answer["userId"] == target.id
    assert answer["isActive"] is False
    # the same request again: its nonce is burnt
    refused(Catalogue.NONCE_REPLAYED, lambda: world.call(ARCHIVE_USER, request, target.id))
    # the same token with a fresh nonce: the token is used
    token = request.headers.values("x-dfns-useraction")[0]
    again = world.archive_request(
        admin, target.id, token=token, extra={"X-DFNS-NONCE": world.nonce("flow-nonce-000002")}
    )
    refused(Catalogue.USER_ACTION_REPLAYED, lambda: world.call(ARCHIVE_USER, again, target.id))
    # a fresh token: the user is gone
    refused(Catalogue.TARGET_NOT_FOUND, lambda: world.archive_user(admin, target.id))
    assert not world.fresh_user(target.user).is_active
    with world.uow_factory() as uow:
        records = uow.audit.records(org)
    assert [r.target_id for r in records] == [target.id]
    assert verify_audit_chain(records).ok


def test_a_refused_archive_leaves_the_token_unused_and_the_user_untouched(world: World) -> None:
    org = world.new_org()
    admin = world.actor(org, operations=ARCHIVE_OPS)
    request = world.archive_request(admin, admin.id)
    refused(Catalogue.SELF_ARCHIVE, lambda: world.call(ARCHIVE_USER, request, admin.id))
    refused(
        Catalogue.SELF_ARCHIVE, lambda: world.call(ARCHIVE_USER, request, admin.id)
    )  # token unused
    assert world.fresh_user(admin.user).is_active
    with world.uow_factory() as uow:
        assert uow.audit.records(org) == []


def test_the_last_archiver_is_kept(world: World) -> None:
    org = world.new_org()
    human = world.actor(org, operations=ARCHIVE_OPS)
    robot = world.actor(org, operations=ARCHIVE_OPS, service_account=True)
    refused(Catalogue.LAST_ARCHIVER, lambda: world.archive_user(robot, human.id))
    admin = world.actor(org, full_admin=True)
    world.archive_user(robot, human.id)  # the full admin remains
    refused(Catalogue.LAST_ARCHIVER, lambda: world.archive_user(robot, admin.id))
    with world.uow_factory() as uow:
        records = uow.audit.records(org)
    assert [r.target_id for r in records] == [human.id]
    assert verify_audit_chain(records).ok


def test_the_guard_counts_only_whom_the_active_matrix_lets_act(storage: Storage) -> None:
    """Under `dfns-current` an EndUser full admin can undo nothing: a service account may
    neither deactivate nor archive the org's one employee admin, on every store."""
    world = World(
        policy=Policy(matrix=DFNS_CURRENT_PRESET),
        uow_factory=storage.uow_factory,
        challenges=storage.challenges,
        replay_guard=storage.replay_guard,
    )
    org = world.new_org()
    human = world.actor(org, full_admin=True)
    world.actor(org, kind=UserKind.END_USER, full_admin=True)
    robot = world.actor(org, full_admin=True, service_account=True)
    refused(Catalogue.LAST_ACTIVATOR, lambda: world.deactivate_user(robot, human.id))
    refused(Catalogue.LAST_ARCHIVER, lambda: world.archive_user(robot, human.id))
    world.actor(org, operations=("Auth:Users:Activate", "Auth:Users:Delete"))
    assert world.deactivate_user(robot, human.id)["isActive"] is False
    assert world.archive_user(robot, human.id)["isActive"] is False


def test_racing_requests_with_one_token_archive_once(world: World) -> None:
    org = world.new_org()
    admin = world.actor(org, operations=ARCHIVE_OPS)
    target = world.actor(org)
    request = world.archive_request(admin, target.id)

    def attempt(_: int) -> str:
        try:
            world.call(ARCHIVE_USER, request, target.id)
        except ArchiveCoreError as refusal:
            return refusal.code
        return "archived"

    outcomes = race(THREADS, attempt)
    assert outcomes.count("archived") == 1
    assert outcomes.count(Catalogue.USER_ACTION_REPLAYED.code) == THREADS - 1
    with world.uow_factory() as uow:
        assert len(uow.audit.records(org)) == 1


def test_purge_forgets_what_expired(world: World) -> None:
    org = world.new_org()
    admin = world.actor(org, operations=ARCHIVE_OPS)
    target = world.actor(org)
    world.archive_user(admin, target.id, extra={"X-DFNS-NONCE": world.nonce("purge-nonce-00001")})
    world.user_action(admin, "DELETE", "/auth/users/us-aaaaa-bbbbb-ccccc")  # an unused grant
    init = world.init_body("DELETE", "/auth/users/us-aaaaa-bbbbb-ccccc")
    world.call(
        INIT_USER_ACTION, Request("POST", "/auth/action/init", world.headers(admin), init)
    )  # left open
    assert world.purge().user_actions == 0
    world.clock.advance(timedelta(minutes=6))
    report = world.purge()
    assert report.user_actions == 2
    # stores whose backend expires entries itself (Redis) report 0 and forget on their own
    assert report.challenges in (0, 1)
    assert report.nonces in (0, 1)


def test_deactivate_and_activate_with_their_cut_off(world: World) -> None:
    org = world.new_org()
    admin = world.actor(org, operations=ARCHIVE_OPS)
    target = world.actor(org, operations=ARCHIVE_OPS)
    path = f"/auth/users/{target.id}"
    held = world.user_action(target, "DELETE", f"/auth/users/{admin.id}")

    def signed(action: str, body: bytes) -> Request:
        token = world.user_action(admin, "PUT", f"{path}/{action}", body.decode())
        headers = world.headers(admin, **{"X-DFNS-USERACTION": token})
        return Request("PUT", f"{path}/{action}", headers, body)

    assert world.call(DEACTIVATE_USER, signed("deactivate", b"{}"), target.id)["isActive"] is False
    stored = world.fresh_user(target.user)
    assert stored.cut_off_at == world.clock.now()
    world.clock.advance(timedelta(seconds=1))
    assert world.call(ACTIVATE_USER, signed("activate", b""), target.id)["isActive"] is True
    # what the target held before its deactivation stays dead
    refused(Catalogue.NOT_AUTHORIZED, lambda: world.archive_user(target, admin.id, token=held))
    with world.uow_factory() as uow:
        records = uow.audit.records(org)
    assert [r.action for r in records] == [f"PUT {path}/deactivate", f"PUT {path}/activate"]
    assert verify_audit_chain(records).ok
