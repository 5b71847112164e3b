"""The contract of `ChallengeStore`: open signing sessions, each taken at most once,
only by its owner, only before it expires."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import ClassVar

import attrs
import pytest

from adapters.testing.contracts import samples
from adapters.testing.contracts.samples import T0
from adapters.testing.contracts.unit_of_work import THREADS, race
from archive_core.ids import UserId
from archive_core.ports import ChallengeStore

OWNER = UserId("us-owner-test")
STRANGER = UserId("us-stranger-test")
SKIP_BOUND = "set purge_every and stored, or forgotten_within, to check the bound"


class ChallengeStoreContract(abc.ABC):
    """What every challenge store guarantees."""

    #: A store records at most this many challenges before it purges expired ones by itself
    #: (with `stored`, the suite checks storage stays bounded).
    purge_every: ClassVar[int | None] = None
    #: True for a store whose backend expires entries on its own (Redis TTLs): `purge`
    #: then forgets nothing, and `forgotten_within` answers for the bound.
    expires_by_itself: ClassVar[bool] = False

    @abc.abstractmethod
    def open(self, request: pytest.FixtureRequest) -> AbstractContextManager[ChallengeStore]:
        """A fresh, empty store; closed when the context ends (the one method to write)."""

    def stored(self, store: ChallengeStore) -> int | None:
        """How many challenges it holds right now (None: not measured, the bound is not
        checked)."""
        return None

    def forgotten_within(self, store: ChallengeStore, lifetime: timedelta) -> bool | None:
        """For a store whose backend forgets entries by itself (`expires_by_itself`):
        whether everything it holds now will be forgotten within `lifetime` (None: not
        measured, the bound is not checked)."""
        return None

    @pytest.fixture
    def store(self, request: pytest.FixtureRequest) -> Iterator[ChallengeStore]:
        with self.open(request) as opened:
            yield opened

    def test_the_owner_takes_its_challenge_once(self, store: ChallengeStore) -> None:
        opened = samples.challenge(OWNER)
        store.put(opened)
        assert store.take(opened.key, user_id=OWNER, now=T0) == opened
        assert store.take(opened.key, user_id=OWNER, now=T0) is None

    def test_an_unknown_key_is_none(self, store: ChallengeStore) -> None:
        assert store.take("0" * 64, user_id=OWNER, now=T0) is None

    def test_a_stranger_neither_sees_nor_burns_it(self, store: ChallengeStore) -> None:
        opened = samples.challenge(OWNER)
        store.put(opened)
        assert store.take(opened.key, user_id=STRANGER, now=T0) is None
        assert store.take(opened.key, user_id=OWNER, now=T0) == opened

    def test_an_expired_challenge_is_burnt_and_not_returned(self, store: ChallengeStore) -> None:
        opened = samples.challenge(OWNER)
        store.put(opened)
        assert store.take(opened.key, user_id=OWNER, now=opened.expires_at) is None
        assert store.take(opened.key, user_id=OWNER, now=T0) is None

    def test_it_can_be_taken_until_the_instant_before_expiry(self, store: ChallengeStore) -> None:
        opened = samples.challenge(OWNER)
        store.put(opened)
        last = opened.expires_at - timedelta(microseconds=1)
        assert store.take(opened.key, user_id=OWNER, now=last) == opened

    def test_putting_a_key_again_replaces_the_challenge(self, store: ChallengeStore) -> None:
        first = samples.challenge(OWNER)
        replacement = attrs.evolve(samples.challenge(STRANGER), key=first.key)
        store.put(first)
        store.put(replacement)
        assert store.take(first.key, user_id=OWNER, now=T0) is None
        assert store.take(first.key, user_id=STRANGER, now=T0) == replacement

    def test_challenges_are_independent(self, store: ChallengeStore) -> None:
        mine = [samples.challenge(OWNER) for _ in range(3)]
        for opened in mine:
            store.put(opened)
        assert store.take(mine[1].key, user_id=OWNER, now=T0) == mine[1]
        assert store.take(mine[0].key, user_id=OWNER, now=T0) == mine[0]
        assert store.take(mine[2].key, user_id=OWNER, now=T0) == mine[2]

    def test_purge_forgets_expired_challenges_only(self, store: ChallengeStore) -> None:
        expired = samples.challenge(OWNER, issued_at=T0 - timedelta(minutes=10))
        at_edge = samples.challenge(OWNER, issued_at=T0 - timedelta(minutes=5))
        live = samples.challenge(OWNER, issued_at=T0)
        for opened in (expired, at_edge, live):
            store.put(opened)
        purged = store.purge(now=T0)
        if self.expires_by_itself:
            assert purged == 0  # the backend expires entries by itself
        else:
            assert purged == 2
            assert store.purge(now=T0) == 0
        assert store.take(live.key, user_id=OWNER, now=T0) == live
        assert store.take(expired.key, user_id=OWNER, now=T0) is None

    def test_racing_threads_take_it_once(self, store: ChallengeStore) -> None:
        opened = samples.challenge(OWNER)
        store.put(opened)
        taken = race(THREADS, lambda _: store.take(opened.key, user_id=OWNER, now=T0))
        assert taken.count(opened) == 1
        assert taken.count(None) == THREADS - 1

    def test_storage_stays_bounded_under_steady_load(self, store: ChallengeStore) -> None:
        """One challenge a second, each living 60 s, never taken nor purged explicitly."""
        purge_every = self.purge_every
        if self.expires_by_itself:  # the backend forgets entries itself (Redis TTLs)
            if self.forgotten_within(store, timedelta(seconds=60)) is None:
                pytest.skip(SKIP_BOUND)
            for step in range(200):
                store.put(
                    samples.challenge(
                        OWNER, issued_at=T0 + timedelta(seconds=step), ttl=timedelta(seconds=60)
                    )
                )
            assert self.forgotten_within(store, timedelta(seconds=60))
            return
        if purge_every is None or self.stored(store) is None:
            pytest.skip(SKIP_BOUND)
        live = 61
        peak = 0
        total = 10 * (live + purge_every)
        for step in range(total):
            store.put(
                samples.challenge(
                    OWNER, issued_at=T0 + timedelta(seconds=step), ttl=timedelta(seconds=60)
                )
            )
            peak = max(peak, self.stored(store) or 0)
        assert peak <= live + purge_every
