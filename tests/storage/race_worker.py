"""The child side of the multi-process races (imported by `spawn` children).

Each child opens the storage from its URL, as a separate server instance would, and
meets the others at a barrier before every contested step.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs

from adapters.storage.urls import open_storage
from adapters.testing.contracts.samples import T0
from archive_core.errors import ConcurrencyConflict
from archive_core.ids import UserId
from archive_core.ports import UnitOfWork, UnitOfWorkFactory


@attrs.frozen
class RacePlan:
    """What the children race for."""

    url: str
    replay_url: str | None
    token_id: str | None
    nonce_key: str
    challenge_key: str
    challenge_owner: UserId
    counter_id: UserId | None
    increments: int


@attrs.frozen
class RaceOutcome:
    """What one child got."""

    consumed: str | None
    first_use: bool
    took_challenge: bool
    conflicts: int


def _increment(factory: UnitOfWorkFactory, user_id: UserId) -> int:
    """Bump the user's version by one, retrying on conflicts; return the conflicts met."""
    for conflicts in range(10_000):
        try:
            with factory() as uow:
                _bump(uow, user_id)
                uow.commit()
        except ConcurrencyConflict:
            continue
        return conflicts
    raise AssertionError("no progress")


def _bump(uow: UnitOfWork, user_id: UserId) -> None:
    current = uow.users.get(user_id)
    assert current is not None
    uow.users.update(
        attrs.evolve(current, version=current.version + 1), expected_version=current.version
    )


def race(plan: RacePlan, barrier: Any, results: Any) -> None:
    """Run every contested step in lock-step with the other children."""
    storage = open_storage(plan.url, replay_url=plan.replay_url)
    try:
        consumed = None
        barrier.wait()
        if plan.token_id is not None:
            with storage.uow_factory() as uow:
                consumed = uow.user_actions.consume(plan.token_id, at=T0).status.value
                uow.commit()
        barrier.wait()
        first_use = storage.replay_guard.first_use(
            plan.nonce_key, expires_at=T0 + timedelta(minutes=5), now=T0
        )
        barrier.wait()
        taken = storage.challenges.take(plan.challenge_key, user_id=plan.challenge_owner, now=T0)
        barrier.wait()
        conflicts = 0
        if plan.counter_id is not None:
            for _ in range(plan.increments):
                conflicts += _increment(storage.uow_factory, plan.counter_id)
        results.put(RaceOutcome(consumed, first_use, taken is not None, conflicts))
    finally:
        storage.close()
