"""Retention: forget what can no longer pass a check, so storage stays bounded."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from archive_core.ports import ChallengeStore, Clock, ReplayGuard, UnitOfWorkFactory

__all__ = ["PurgeExpired", "PurgeReport"]


@attrs.frozen
class PurgeReport:
    """How many entries each store forgot."""

    challenges: int
    nonces: int
    user_actions: int


@attrs.frozen(kw_only=True)
class PurgeExpired:
    """Purges expired challenges, nonces and user action grants (used or not).

    A used grant is kept until its expiry so that a replay is answered
    `user action has already been used`; after expiry the token fails its own
    expiry check first, so forgetting it changes no answer.
    """

    uow_factory: UnitOfWorkFactory
    challenges: ChallengeStore
    replay_guard: ReplayGuard
    clock: Clock

    def __call__(self, on_step: Callable[[str, int], None] | None = None) -> PurgeReport:
        """Purge everything expired as of now; `on_step(store, forgotten)` after each of
        the three stores (`userActions`, `challenges`, `nonces`), for progress reports."""
        report = on_step or _ignore
        now = self.clock.now()
        with self.uow_factory() as uow:
            user_actions = uow.user_actions.purge(now=now)
            uow.commit()
        report("userActions", user_actions)
        challenges = self.challenges.purge(now=now)
        report("challenges", challenges)
        nonces = self.replay_guard.purge(now=now)
        report("nonces", nonces)
        return PurgeReport(challenges=challenges, nonces=nonces, user_actions=user_actions)


def _ignore(store: str, forgotten: int) -> None:
    """No progress report wanted."""
