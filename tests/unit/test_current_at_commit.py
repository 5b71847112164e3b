"""SPEC §5, current at commit: no action of a user commits after that user's deactivation
or archive committed. The signed pipeline takes the org's turn (the audit head) before
it writes, then reads the caller again: a caller changed since admission sends the unit
of work round again, where admission answers as the caller now stands.

The in-memory store serialises units of work, so nothing can change under one; these
tests stand in for PostgreSQL's `READ COMMITTED`, where another unit may commit while
this one waits for the org's lock: the change is written into the store directly when
the turn is taken (outside the unit's undo log, so its rollback keeps it, as a commit
by another unit would be kept). tests/storage/test_races.py races the real thing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

import attrs
import pytest

from adapters.storage.memory import MemoryStore, MemoryUnitOfWork
from adapters.testing.world import ARCHIVE_OPS, Actor, Scene, World
from archive_core.audit import AuditRecord
from archive_core.entities import User
from archive_core.errors import Catalogue
from archive_core.ids import OrgId
from archive_core.ports import UnitOfWorkFactory
from archive_core.requests import Request
from archive_core.use_cases import (
    ACTIVATE_USER,
    ARCHIVE_USER,
    COMPLETE_USER_ACTION,
    DEACTIVATE_USER,
    GET_USER,
    INIT_USER_ACTION,
)
from tests.unit.helpers import WrappedUnitOfWork, refused, snapshot


class ChangedWhileWaiting(WrappedUnitOfWork):
    """A unit of work over a `MemoryStore` in which the users in `pending` were committed
    by another unit the moment this one takes the org's turn (`audit.head`)."""

    def __init__(self, store: MemoryStore, pending: list[User]) -> None:
        super().__init__(MemoryUnitOfWork(store))
        self._store = store
        self._pending = pending
        self.audit = self

    def head(self, org_id: OrgId) -> AuditRecord | None:
        while self._pending:
            user = self._pending.pop()
            self._store.users[user.id] = user
        return self._inner.audit.head(org_id)

    def append(self, record: AuditRecord) -> None:
        self._inner.audit.append(record)

    def records(self, org_id: OrgId | None = None) -> list[AuditRecord]:
        return self._inner.audit.records(org_id)


@attrs.frozen
class Org:
    world: World
    pending: list[User]
    caller: Actor
    target: Actor


@pytest.fixture
def org() -> Org:
    store = MemoryStore()
    pending: list[User] = []
    world = World(uow_factory=cast(UnitOfWorkFactory, lambda: ChangedWhileWaiting(store, pending)))
    world.store = store
    org = world.new_org()
    world.actor(org, operations=ARCHIVE_OPS)  # keeps the lock-out guard out of the way
    return Org(world, pending, world.actor(org, operations=ARCHIVE_OPS), world.actor(org))


def _act(org: Org, action: str) -> Callable[[], Any]:
    """The caller's signed request on the target, its token issued now."""
    world, caller, target_id = org.world, org.caller, org.target.id
    if action == "archive":
        request = world.archive_request(caller, target_id)
        return lambda: world.call(ARCHIVE_USER, request, target_id)
    path = f"/auth/users/{target_id}/{action}"
    request = world.signed_request(caller, "PUT", path, b"{}" if action == "deactivate" else b"")
    declaration = DEACTIVATE_USER if action == "deactivate" else ACTIVATE_USER
    return lambda: world.call(declaration, request, target_id)


@pytest.mark.parametrize("action", ["deactivate", "archive", "activate"])
@pytest.mark.parametrize("change", ["deactivated", "archived"])
def test_a_caller_removed_while_waiting_for_the_orgs_turn_is_refused_as_it_now_stands(
    org: Org, action: str, change: str
) -> None:
    world = org.world
    if action == "activate":
        world.deactivate_user(org.caller, org.target.id)
    call = _act(org, action)
    caller = world.fresh_user(org.caller.user)
    removed = caller.deactivated(world.clock.now()) if change == "deactivated" else None
    org.pending.append(removed or caller.archived(world.clock.now()))
    records = len(world.audit_records())
    users, tokens, _, _ = snapshot(world)

    refused(Catalogue.NOT_AUTHORIZED, call)

    after = snapshot(world)
    assert after[0][org.target.user.id] == users[org.target.user.id]
    assert after[1] == tokens  # the token stays unused
    assert len(world.audit_records()) == records


def test_a_no_op_takes_the_orgs_turn_too(org: Org) -> None:
    """Deactivating an inactive user commits nothing but the token's consumption; that
    too is refused once the caller is gone, and the token stays unused."""
    world = org.world
    world.deactivate_user(org.caller, org.target.id)
    call = _act(org, "deactivate")
    caller = world.fresh_user(org.caller.user)
    org.pending.append(caller.deactivated(world.clock.now()))
    tokens = snapshot(world)[1]

    refused(Catalogue.NOT_AUTHORIZED, call)

    assert snapshot(world)[1] == tokens


def test_any_other_change_of_the_caller_is_retried_and_then_done(org: Org) -> None:
    world = org.world
    call = _act(org, "archive")
    caller = world.fresh_user(org.caller.user)
    org.pending.append(attrs.evolve(caller, version=caller.version + 1))

    assert call()["isActive"] is False

    [record] = world.audit_records(org.caller.user.org_id)
    assert (record.actor_id, record.target_id) == (org.caller.id, org.target.id)


def test_archived_user_is_cut_off_at_commit(scene: Scene) -> None:
    world = scene.world
    victim = world.actor(scene.org, operations=ARCHIVE_OPS)
    # what the victim holds before it is archived: an open challenge and an unused token
    open_challenge = world.call(
        INIT_USER_ACTION,
        Request(
            "POST",
            "/auth/action/init",
            world.headers(victim),
            world.init_body("DELETE", f"/auth/users/{scene.end_user.id}"),
        ),
    )
    signed = {
        "challengeIdentifier": open_challenge["challengeIdentifier"],
        "firstFactor": world.sign_challenge(victim, open_challenge),
    }
    unused = world.archive_request(victim, scene.employee.id)

    world.archive_user(scene.admin, victim.id)

    # its bearer token answers 401 on a protected request
    refused(Catalogue.NOT_AUTHORIZED, lambda: world.call(ARCHIVE_USER, unused, scene.employee.id))
    refused(
        Catalogue.NOT_AUTHORIZED,
        lambda: world.call(GET_USER, Request("GET", "/", world.headers(victim)), scene.employee.id),
    )
    # its open challenge and credentials can no longer sign
    refused(
        Catalogue.SIGNING_USER_NOT_FOUND,
        lambda: world.call(
            COMPLETE_USER_ACTION,
            Request("POST", "/auth/action", world.headers(victim), json.dumps(signed).encode()),
        ),
    )
    refused(
        Catalogue.SIGNING_USER_NOT_FOUND,
        lambda: world.call(
            INIT_USER_ACTION,
            Request(
                "POST", "/auth/action/init", world.headers(victim), world.init_body("DELETE", "/x")
            ),
        ),
    )
    assert world.fresh_user(scene.employee.user).is_active
