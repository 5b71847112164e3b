"""The contract of `SigningKeyStore`: keys by purpose, oldest first, add-once, retire."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from contextlib import AbstractContextManager

import attrs
import pytest

from adapters.testing.contracts import samples
from adapters.testing.contracts.samples import T0, T0_PARIS
from adapters.testing.contracts.unit_of_work import THREADS, race
from archive_core.ports import SigningKeyStore


class SigningKeyStoreContract(abc.ABC):
    """What every signing key store guarantees."""

    @abc.abstractmethod
    def open(self, request: pytest.FixtureRequest) -> AbstractContextManager[SigningKeyStore]:
        """A fresh, empty store; closed when the context ends."""

    @pytest.fixture
    def keys(self, request: pytest.FixtureRequest) -> Iterator[SigningKeyStore]:
        with self.open(request) as opened:
            yield opened

    def test_an_empty_store_has_no_keys(self, keys: SigningKeyStore) -> None:
        assert list(keys.keys("user-action")) == []

    def test_keys_round_trip_by_purpose_oldest_first(self, keys: SigningKeyStore) -> None:
        first = samples.signing_key("user-action", kid="zzz-first")
        bearer = samples.signing_key("bearer")
        second = samples.signing_key("user-action", kid="aaa-second", retired_at=T0)
        for key in (first, bearer, second):
            assert keys.add(key)
        assert list(keys.keys("user-action")) == [first, second]
        assert list(keys.keys("bearer")) == [bearer]
        assert list(keys.keys("other")) == []

    def test_a_kid_is_added_once(self, keys: SigningKeyStore) -> None:
        original = samples.signing_key()
        assert keys.add(original)
        assert not keys.add(attrs.evolve(original, private_key="another"))
        assert not keys.add(attrs.evolve(original, purpose="bearer"))
        assert list(keys.keys(original.purpose)) == [original]
        assert list(keys.keys("bearer")) == []

    def test_retire_marks_only_that_key(self, keys: SigningKeyStore) -> None:
        old = samples.signing_key()
        new = samples.signing_key()
        keys.add(old)
        keys.add(new)
        keys.retire(old.kid, at=T0_PARIS)
        keys.retire("kid-unknown", at=T0)
        assert list(keys.keys(old.purpose)) == [attrs.evolve(old, retired_at=T0_PARIS), new]

    def test_racing_adds_of_one_kid_store_it_once(self, keys: SigningKeyStore) -> None:
        candidates = [samples.signing_key(kid="kid-raced") for _ in range(THREADS)]
        added = race(THREADS, lambda i: keys.add(candidates[i]))
        assert added.count(True) == 1
        (stored,) = keys.keys("user-action")
        assert stored == candidates[added.index(True)]
