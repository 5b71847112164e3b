"""SPEC §5: atomicity, exactly once under concurrency, the audit record of a decision,
and the clock-window edges. Elsewhere, beside their rule: the lock-out guard
(test_lockout_guard.py), the archived user's cut-off (test_current_at_commit.py), the
audit chain (test_audit_chain.py), retention (test_purge_expired.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

import attrs
import pytest

from adapters.storage.memory import MemoryStore, MemoryUnitOfWork
from adapters.testing.world import ARCHIVE_OPS, Scene, World
from archive_core.audit import GENESIS_HASH, AuditRecord
from archive_core.entities import UserKind
from archive_core.errors import ArchiveCoreError, Catalogue
from archive_core.ports import UnitOfWorkFactory
from archive_core.requests import Request
from archive_core.use_cases import ARCHIVE_USER, COMPLETE_USER_ACTION, INIT_USER_ACTION
from archive_core.user_action import reverify_evidence
from tests.unit.helpers import WrappedUnitOfWork, refused

# --------------------------------------------------------------------------- atomicity


class InjectedFailure(Exception):
    pass


class _Counting:
    def __init__(self, inner: Any, tick: Callable[[str], None]) -> None:
        self._inner = inner
        self._tick = tick

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self._tick(name)
            return attribute(*args, **kwargs)

        return call


class FailingUnitOfWork(WrappedUnitOfWork):
    """A unit of work that raises at its n-th storage call (commit included)."""

    def __init__(self, inner: MemoryUnitOfWork, plan: FailurePlan) -> None:
        super().__init__(inner)
        self._plan = plan
        for part in (
            "users",
            "credentials",
            "applications",
            "permissions",
            "user_actions",
            "audit",
        ):
            setattr(self, part, _Counting(getattr(inner, part), plan.tick))

    def commit(self) -> None:
        self._plan.tick("commit")
        self._inner.commit()


@attrs.define
class FailurePlan:
    fail_at: int | None = None
    calls: list[str] = attrs.field(factory=list)

    def tick(self, name: str) -> None:
        self.calls.append(name)
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            raise InjectedFailure(name)


def test_a_failure_at_any_step_leaves_nothing_half_done() -> None:
    store = MemoryStore()
    plan = FailurePlan()
    world = World(
        uow_factory=cast(
            UnitOfWorkFactory, lambda: FailingUnitOfWork(MemoryUnitOfWork(store), plan)
        )
    )
    world.store = store
    org = world.new_org()
    admin = world.actor(org, operations=ARCHIVE_OPS)
    target = world.actor(org, kind=UserKind.END_USER)
    request = world.archive_request(admin, target.id)

    # learn the calls an archive makes, on a twin world state
    plan.calls.clear()
    snapshot_users = dict(store.users)
    snapshot_actions = dict(store.user_actions)
    world.call(ARCHIVE_USER, request, target.id)
    archive_calls = list(plan.calls)
    assert (
        archive_calls[-1] == "commit" and "append" in archive_calls and "consume" in archive_calls
    )
    # undo that success so each failure starts from the same state
    store.users.clear()
    store.users.update(snapshot_users)
    store.user_actions.clear()
    store.user_actions.update(snapshot_actions)
    store.audit.clear()

    for step in range(1, len(archive_calls) + 1):
        plan.calls.clear()
        plan.fail_at = step
        with pytest.raises(InjectedFailure):
            world.call(ARCHIVE_USER, request, target.id)
        plan.fail_at = None
        assert store.users == snapshot_users, f"step {step} ({archive_calls[step - 1]})"
        assert store.user_actions == snapshot_actions, f"step {step}"
        assert store.audit == {}, f"step {step}"

    # the token was never consumed: the same request now succeeds, once
    assert world.call(ARCHIVE_USER, request, target.id)["isActive"] is False
    refused(Catalogue.USER_ACTION_REPLAYED, lambda: world.call(ARCHIVE_USER, request, target.id))
    assert len(store.audit[org]) == 1


def test_uow_rolls_back_unless_committed() -> None:
    store = MemoryStore()
    world = World(uow_factory=store)
    org = world.new_org()
    actor = world.actor(org)
    with store() as uow:
        uow.users.update(actor.user.archived(world.clock.now()), expected_version=1)
    assert store.users[actor.user.id].is_active
    with store() as uow:
        uow.users.update(actor.user.archived(world.clock.now()), expected_version=1)
        uow.rollback()
        uow.commit()
    assert store.users[actor.user.id].is_active


# --------------------------------------------------------------------------- exactly once


def _race(count: int, call: Callable[[], Any]) -> tuple[list[Any], list[BaseException]]:
    barrier = threading.Barrier(count)
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        try:
            value = call()
        except BaseException as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(value)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def test_32_threads_race_one_user_action_token(scene: Scene) -> None:
    world = scene.world
    request = world.archive_request(scene.admin, scene.end_user.id)
    results, errors = _race(32, lambda: world.call(ARCHIVE_USER, request, scene.end_user.id))
    assert len(results) == 1
    assert len(errors) == 31
    assert all(isinstance(e, ArchiveCoreError) and e.code == "user_action_replayed" for e in errors)
    assert len(world.store.audit[scene.org]) == 1


def test_32_threads_race_one_nonce(scene: Scene) -> None:
    world = scene.world
    nonce = world.nonce("raced-nonce-0001")
    requests = [
        world.archive_request(scene.admin, scene.end_user.id, extra={"X-DFNS-NONCE": nonce})
        for _ in range(32)
    ]
    index = iter(range(32))
    lock = threading.Lock()

    def one() -> Any:
        with lock:
            request = requests[next(index)]
        return world.call(ARCHIVE_USER, request, scene.end_user.id)

    results, errors = _race(32, one)
    assert len(results) == 1
    assert sorted({e.code for e in errors if isinstance(e, ArchiveCoreError)}) == ["nonce_replayed"]
    assert len(errors) == 31


def test_32_threads_race_one_challenge(scene: Scene) -> None:
    world = scene.world
    challenge = world.call(
        INIT_USER_ACTION,
        Request(
            "POST",
            "/auth/action/init",
            world.headers(scene.admin),
            world.init_body("DELETE", "/auth/users/us-a-b"),
        ),
    )
    body = json.dumps(
        {
            "challengeIdentifier": challenge["challengeIdentifier"],
            "firstFactor": world.sign_challenge(scene.admin, challenge),
        }
    ).encode()
    request = Request("POST", "/auth/action", world.headers(scene.admin), body)
    results, errors = _race(32, lambda: world.call(COMPLETE_USER_ACTION, request))
    assert len(results) == 1
    assert {e.code for e in errors if isinstance(e, ArchiveCoreError)} == {"challenge_invalid"}
    assert len(errors) == 31


# --------------------------------------------------------------------------- audit


def test_audit_record_is_a_full_decision_record(scene: Scene) -> None:
    world = scene.world
    world.archive_user(scene.admin, scene.end_user.id)
    [record] = world.store.audit[scene.org]
    assert record.action == f"DELETE /auth/users/{scene.end_user.id}"
    assert record.actor_id == scene.admin.id and record.actor_username == "admin@example.co"
    assert record.performed_at == world.clock.now()
    assert record.permissions_required == ("Auth:Users:Update", "Auth:Types:EndUser")
    assert record.permissions_matched == ("Auth:Users:Update", "Auth:Types:EndUser")
    assert record.target_before is not None and record.target_before.is_active
    assert not record.target_after.is_active
    assert record.target_after.archived_at == world.clock.now()
    [evidence] = record.evidence
    assert evidence.credential_uuid == scene.admin.credential.uuid  # type: ignore[union-attr]
    assert evidence.credential_kind.value == "Key"
    assert record.user_action_id.startswith("ua-")
    assert record.prev_hash == GENESIS_HASH and record.sequence == 1
    # the evidence re-verifies offline, and a forged one does not
    reverify_evidence(evidence, world.verifiers)
    with pytest.raises(ArchiveCoreError):
        reverify_evidence(
            attrs.evolve(evidence, client_data=evidence.client_data[:-2] + "AA"), world.verifiers
        )
    assert AuditRecord.from_dict(record.to_dict()) == record


# --------------------------------------------------------------------------- clock edges


@pytest.mark.parametrize(
    ("offset", "ok"),
    [
        (timedelta(minutes=5), True),
        (-timedelta(minutes=5), True),
        (timedelta(minutes=5, microseconds=1), False),
        (-timedelta(minutes=5, microseconds=1), False),
    ],
)
def test_nonce_window_edges(scene: Scene, offset: timedelta, ok: bool) -> None:
    world = scene.world
    nonce = world.nonce(f"edge-nonce-{offset.total_seconds()}", offset=offset)

    def call() -> dict[str, Any]:
        return world.archive_user(scene.admin, scene.end_user.id, extra={"X-DFNS-NONCE": nonce})

    if ok:
        assert call()["isActive"] is False
    else:
        refused(Catalogue.NONCE_INVALID, call)


def test_user_action_expiry_edges(scene: Scene) -> None:
    world = scene.world
    request = world.archive_request(scene.admin, scene.end_user.id)
    world.clock.advance(timedelta(minutes=5))
    refused(
        Catalogue.USER_ACTION_INVALID, lambda: world.call(ARCHIVE_USER, request, scene.end_user.id)
    )
    world.clock.advance(-timedelta(microseconds=1))
    assert world.call(ARCHIVE_USER, request, scene.end_user.id)["isActive"] is False


def test_user_action_from_the_future_is_refused(scene: Scene) -> None:
    world = scene.world
    request = world.archive_request(scene.admin, scene.end_user.id)
    world.clock.advance(-timedelta(seconds=1))
    refused(
        Catalogue.USER_ACTION_INVALID, lambda: world.call(ARCHIVE_USER, request, scene.end_user.id)
    )


def test_nonce_is_remembered_until_it_could_no_longer_pass(scene: Scene) -> None:
    world = scene.world
    nonce = world.nonce("remembered-nonce-1")
    world.archive_user(scene.admin, scene.end_user.id, extra={"X-DFNS-NONCE": nonce})
    world.clock.advance(timedelta(minutes=5))
    refused(
        Catalogue.NONCE_REPLAYED,
        lambda: world.archive_user(scene.admin, scene.employee.id, extra={"X-DFNS-NONCE": nonce}),
    )
    world.clock.advance(timedelta(microseconds=1))
    refused(
        Catalogue.NONCE_INVALID,
        lambda: world.archive_user(scene.admin, scene.employee.id, extra={"X-DFNS-NONCE": nonce}),
    )
