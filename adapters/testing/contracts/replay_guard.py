"""The contract of `ReplayGuard`: a key's first use wins, while it is remembered."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import ClassVar

import pytest

from adapters.testing.contracts.samples import T0
from adapters.testing.contracts.unit_of_work import THREADS, race
from archive_core.ports import ReplayGuard

LIFETIME = timedelta(minutes=5)
SKIP_BOUND = "set purge_every and stored, or forgotten_within, to check the bound"


class ReplayGuardContract(abc.ABC):
    """What every replay guard guarantees."""

    #: A store records at most this many keys before it purges expired ones by itself
    #: (with `stored`, the suite checks storage stays bounded).
    purge_every: ClassVar[int | None] = None
    #: True for a store whose backend expires entries on its own (Redis TTLs): `purge`
    #: then forgets nothing, and `forgotten_within` answers for the bound.
    expires_by_itself: ClassVar[bool] = False

    @abc.abstractmethod
    def open(self, request: pytest.FixtureRequest) -> AbstractContextManager[ReplayGuard]:
        """A fresh, empty guard; closed when the context ends (the one method to write)."""

    def stored(self, guard: ReplayGuard) -> int | None:
        """How many keys it holds right now (None: not measured, the bound is not
        checked)."""
        return None

    def forgotten_within(self, guard: ReplayGuard, lifetime: timedelta) -> bool | None:
        """For a store whose backend forgets entries by itself (`expires_by_itself`):
        whether everything it holds now will be forgotten within `lifetime` (None: not
        measured, the bound is not checked)."""
        return None

    @pytest.fixture
    def guard(self, request: pytest.FixtureRequest) -> Iterator[ReplayGuard]:
        with self.open(request) as opened:
            yield opened

    def test_only_the_first_use_wins(self, guard: ReplayGuard) -> None:
        assert guard.first_use("nonce:a", expires_at=T0 + LIFETIME, now=T0)
        assert not guard.first_use("nonce:a", expires_at=T0 + LIFETIME, now=T0)
        later = T0 + LIFETIME - timedelta(microseconds=1)
        assert not guard.first_use("nonce:a", expires_at=later + LIFETIME, now=later)

    def test_keys_are_independent(self, guard: ReplayGuard) -> None:
        assert guard.first_use("nonce:a", expires_at=T0 + LIFETIME, now=T0)
        assert guard.first_use("nonce:b", expires_at=T0 + LIFETIME, now=T0)

    def test_a_key_is_remembered_through_its_expiry(self, guard: ReplayGuard) -> None:
        expiry = T0 + LIFETIME
        assert guard.first_use("nonce:a", expires_at=expiry, now=T0)
        assert not guard.first_use("nonce:a", expires_at=expiry + LIFETIME, now=expiry)
        after = expiry + timedelta(microseconds=1)
        assert guard.first_use("nonce:a", expires_at=after + LIFETIME, now=after)
        assert not guard.first_use("nonce:a", expires_at=after + LIFETIME, now=after)

    def test_a_key_already_expired_is_not_remembered(self, guard: ReplayGuard) -> None:
        before = T0 - timedelta(seconds=1)
        assert guard.first_use("nonce:a", expires_at=before, now=T0)
        assert guard.first_use("nonce:a", expires_at=before, now=T0)
        assert guard.first_use("nonce:b", expires_at=T0, now=T0)  # remembered for this instant
        assert not guard.first_use("nonce:b", expires_at=T0, now=T0)

    def test_purge_forgets_keys_whose_expiry_has_passed(self, guard: ReplayGuard) -> None:
        earlier = T0 - LIFETIME - timedelta(seconds=1)
        assert guard.first_use("nonce:old", expires_at=earlier + LIFETIME, now=earlier)
        assert guard.first_use("nonce:edge", expires_at=T0, now=T0 - LIFETIME)
        assert guard.first_use("nonce:live", expires_at=T0 + LIFETIME, now=T0)
        purged = guard.purge(now=T0)
        if self.expires_by_itself:
            assert purged == 0  # the backend expires entries by itself
        else:
            assert purged == 1
            assert guard.purge(now=T0) == 0
        assert not guard.first_use("nonce:edge", expires_at=T0 + LIFETIME, now=T0)
        assert not guard.first_use("nonce:live", expires_at=T0 + LIFETIME, now=T0)
        assert guard.first_use("nonce:old", expires_at=T0 + LIFETIME, now=T0)

    def test_racing_threads_use_a_key_once(self, guard: ReplayGuard) -> None:
        wins = race(
            THREADS, lambda _: guard.first_use("nonce:raced", expires_at=T0 + LIFETIME, now=T0)
        )
        assert wins.count(True) == 1

    def test_storage_stays_bounded_under_steady_load(self, guard: ReplayGuard) -> None:
        """One nonce a second, each remembered 60 s, never purged explicitly."""
        purge_every = self.purge_every
        if self.expires_by_itself:  # the backend forgets entries itself (Redis TTLs)
            if self.forgotten_within(guard, timedelta(seconds=60)) is None:
                pytest.skip(SKIP_BOUND)
            for step in range(200):
                now = T0 + timedelta(seconds=step)
                assert guard.first_use(
                    f"nonce:{step}", expires_at=now + timedelta(seconds=60), now=now
                )
            assert self.forgotten_within(guard, timedelta(seconds=60))
            return
        if purge_every is None or self.stored(guard) is None:
            pytest.skip(SKIP_BOUND)
        live = 61
        peak = 0
        total = 10 * (live + purge_every)
        for step in range(total):
            now = T0 + timedelta(seconds=step)
            assert guard.first_use(f"nonce:{step}", expires_at=now + timedelta(seconds=60), now=now)
            peak = max(peak, self.stored(guard) or 0)
        assert peak <= live + purge_every
