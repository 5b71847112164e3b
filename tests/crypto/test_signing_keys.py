"""Signing keys: generated on first use, shared through the store, rotated, retired."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs
import pytest

from adapters.crypto.signing_keys import (
    BEARER_PURPOSE,
    EDDSA,
    ES256,
    HS256,
    USER_ACTION_PURPOSE,
    SigningKeyRing,
)
from adapters.crypto.tokens import HmacUserActionCodec, JwtBearerTokens
from adapters.storage.memory import MemorySigningKeyStore
from adapters.system.clocks import ManualClock
from archive_core.entities import TokenKind
from archive_core.ports import SigningKey
from tests.crypto.support import CALLER, GRANT, NOW, expect_error

ISSUER = "https://auth.archive-core.test"
AUDIENCE = "archive-core:api"


def bearer_tokens(store: MemorySigningKeyStore, algorithm: str = EDDSA) -> JwtBearerTokens:
    ring = SigningKeyRing(store, purpose=BEARER_PURPOSE, algorithm=algorithm)
    return JwtBearerTokens(ring, issuer=ISSUER, audience=AUDIENCE)


def issue(tokens: JwtBearerTokens, at: datetime = NOW) -> str:
    return tokens.issue(CALLER, now=at, ttl=timedelta(hours=1), token_kind=TokenKind.LOGIN)


class RacingStore(MemorySigningKeyStore):
    """A store where another process wins every race to add a kid, once per kid."""

    def __init__(self) -> None:
        super().__init__()
        self.raced: list[str] = []
        self.winner = ""

    def add(self, key: SigningKey) -> bool:
        if key.kid not in self.raced:
            self.raced.append(key.kid)
            elsewhere = MemorySigningKeyStore()
            SigningKeyRing(elsewhere, purpose=key.purpose, algorithm=key.algorithm).signing_key(
                now=key.created_at
            )
            (competitor,) = elsewhere.keys(key.purpose)
            assert super().add(attrs.evolve(competitor, kid=key.kid))
            self.winner = competitor.private_key
        return super().add(key)


def test_the_first_use_generates_a_key_and_keeps_it_in_the_store() -> None:
    store = MemorySigningKeyStore()
    ring = SigningKeyRing(store, purpose=BEARER_PURPOSE, algorithm=EDDSA)
    assert store.keys(BEARER_PURPOSE) == []
    key = ring.signing_key(now=NOW)
    assert key.kid == "bearer-1"
    assert [k.kid for k in store.keys(BEARER_PURPOSE)] == ["bearer-1"]
    stored = store.keys(BEARER_PURPOSE)[0]
    assert stored.private_key.startswith("-----BEGIN PRIVATE KEY-----")
    assert ring.signing_key(now=NOW + timedelta(minutes=1)).kid == "bearer-1"
    assert len(store.keys(BEARER_PURPOSE)) == 1


def test_user_action_keys_are_hmac_secrets_of_their_own_purpose() -> None:
    store = MemorySigningKeyStore()
    ring = SigningKeyRing(store, purpose=USER_ACTION_PURPOSE, algorithm=HS256)
    key = ring.signing_key(now=NOW)
    assert key.kid == "user-action-1"
    assert isinstance(key.signer, bytes) and len(key.signer) == 32
    assert store.keys(BEARER_PURPOSE) == []


def test_a_token_issued_in_one_process_verifies_in_another() -> None:
    store = MemorySigningKeyStore()  # what SQLite/PostgreSQL share between processes
    bootstrap, serve = bearer_tokens(store), bearer_tokens(store)
    token = issue(bootstrap)
    assert serve.verify(token, now=NOW).user_id == CALLER.id
    clock = ManualClock(NOW)
    grant_codec = HmacUserActionCodec(
        SigningKeyRing(store, purpose=USER_ACTION_PURPOSE, algorithm=HS256), clock=clock
    )
    other_codec = HmacUserActionCodec(
        SigningKeyRing(store, purpose=USER_ACTION_PURPOSE, algorithm=HS256), clock=clock
    )
    assert other_codec.decode(grant_codec.issue(GRANT)) == GRANT


def test_a_lost_race_for_the_first_key_rereads_and_uses_the_winner() -> None:
    store = RacingStore()
    tokens = bearer_tokens(store)
    token = issue(tokens)
    assert store.raced == ["bearer-1"]
    assert [k.kid for k in store.keys(BEARER_PURPOSE)] == ["bearer-1"]
    assert store.keys(BEARER_PURPOSE)[0].private_key == store.winner
    # The ring signs with the key that is in the store (the winner's), so everyone agrees.
    assert bearer_tokens(MemorySigningKeyStoreCopy.of(store)).verify(token, now=NOW)


class MemorySigningKeyStoreCopy(MemorySigningKeyStore):
    """Another process's view of the same keys."""

    @classmethod
    def of(cls, store: MemorySigningKeyStore) -> MemorySigningKeyStoreCopy:
        copy = cls()
        for purpose in (BEARER_PURPOSE, USER_ACTION_PURPOSE):
            for key in store.keys(purpose):
                copy.add(key)
        return copy


def test_rotation_signs_with_the_new_key_and_old_tokens_keep_verifying() -> None:
    store = MemorySigningKeyStore()
    tokens = bearer_tokens(store)
    old = issue(tokens)
    new_key = tokens.ring.rotate(now=NOW)
    assert new_key.kid == "bearer-2"
    new = issue(tokens)
    assert tokens.ring.signing_key(now=NOW).kid == "bearer-2"
    assert tokens.verify(old, now=NOW).user_id == CALLER.id
    assert tokens.verify(new, now=NOW).user_id == CALLER.id


def test_a_retired_key_no_longer_verifies_even_for_cached_tokens() -> None:
    store = MemorySigningKeyStore()
    tokens = bearer_tokens(store)
    old = issue(tokens)
    assert tokens.verify(old, now=NOW)  # now cached
    tokens.ring.rotate(now=NOW)
    tokens.ring.retire("bearer-1", at=NOW + timedelta(minutes=1))
    assert tokens.verify(old, now=NOW + timedelta(seconds=59))
    expect_error(
        lambda: tokens.verify(old, now=NOW + timedelta(minutes=1)), "not_authorized", "kid_retired"
    )
    fresh = bearer_tokens(store)  # another process, nothing cached
    expect_error(
        lambda: fresh.verify(old, now=NOW + timedelta(minutes=2)), "not_authorized", "kid_retired"
    )
    assert tokens.ring.signing_key(now=NOW + timedelta(minutes=2)).kid == "bearer-2"


def test_retiring_the_only_key_makes_the_next_issue_generate_a_new_one() -> None:
    store = MemorySigningKeyStore()
    ring = SigningKeyRing(store, purpose=BEARER_PURPOSE, algorithm=EDDSA)
    ring.signing_key(now=NOW)
    ring.retire("bearer-1", at=NOW)
    assert ring.signing_key(now=NOW).kid == "bearer-2"


def test_other_processes_learn_a_rotation_when_a_token_names_the_new_key() -> None:
    store = MemorySigningKeyStore()
    serve = bearer_tokens(store)
    admin = bearer_tokens(store)
    assert serve.verify(issue(admin), now=NOW)  # serve has read bearer-1
    admin.ring.rotate(now=NOW)
    token = issue(admin)  # signed with bearer-2, unknown to serve so far
    assert serve.verify(token, now=NOW + timedelta(seconds=2)).user_id == CALLER.id


def test_other_processes_learn_a_retirement_within_the_refresh_interval() -> None:
    store = MemorySigningKeyStore()
    serve, admin = bearer_tokens(store), bearer_tokens(store)
    token = issue(admin)
    assert serve.verify(token, now=NOW)
    admin.ring.rotate(now=NOW)
    admin.ring.retire("bearer-1", at=NOW + timedelta(seconds=1))
    # Until its next refresh, serve still trusts what it read (bounded staleness) ...
    assert serve.verify(token, now=NOW + timedelta(seconds=5))
    # ... and after the refresh interval it has seen the retirement.
    expect_error(
        lambda: serve.verify(token, now=NOW + timedelta(seconds=31)),
        "not_authorized",
        "kid_retired",
    )


def test_unknown_kids_do_not_hammer_the_store() -> None:
    reads: list[str] = []

    class CountingStore(MemorySigningKeyStore):
        def keys(self, purpose: str) -> Sequence[SigningKey]:
            reads.append(purpose)
            return super().keys(purpose)

    store = CountingStore()
    ring = SigningKeyRing(store, purpose=BEARER_PURPOSE, algorithm=EDDSA)
    ring.signing_key(now=NOW)
    before = len(reads)
    for kid in ("bearer-1", "bearer-01", "other-5", "bearer-9", "bearer-9", "bearer-10"):
        ring.verification_key(kid, now=NOW)
    # Only a newer generation may trigger a read, and at most once per second.
    assert len(reads) - before == 0
    ring.verification_key("bearer-9", now=NOW + timedelta(seconds=1))
    assert len(reads) - before == 1


def test_a_damaged_or_foreign_key_in_the_store_is_skipped_not_fatal() -> None:
    store = MemorySigningKeyStore()
    store.add(
        SigningKey(
            kid="bearer-1",
            purpose=BEARER_PURPOSE,
            algorithm=EDDSA,
            private_key="junk",
            created_at=NOW,
        )
    )
    store.add(
        SigningKey(
            kid="bearer-2",
            purpose=BEARER_PURPOSE,
            algorithm=HS256,
            private_key="x" * 43,
            created_at=NOW,
        )
    )
    tokens = bearer_tokens(store)
    token = issue(tokens)  # generates bearer-3, the first usable key
    assert tokens.ring.signing_key(now=NOW).kid == "bearer-3"
    assert tokens.verify(token, now=NOW)
    assert tokens.ring.is_unusable("bearer-1") and tokens.ring.is_unusable("bearer-2")


def test_a_key_of_the_wrong_type_for_its_algorithm_is_unusable() -> None:
    store = MemorySigningKeyStore()
    es_ring = SigningKeyRing(MemorySigningKeyStore(), purpose=BEARER_PURPOSE, algorithm=ES256)
    es_ring.signing_key(now=NOW)
    ec_pem = es_ring.store.keys(BEARER_PURPOSE)[0].private_key
    store.add(
        SigningKey(
            kid="bearer-1",
            purpose=BEARER_PURPOSE,
            algorithm=EDDSA,
            private_key=ec_pem,
            created_at=NOW,
        )
    )
    ring = SigningKeyRing(store, purpose=BEARER_PURPOSE, algorithm=EDDSA)
    assert ring.signing_key(now=NOW).kid == "bearer-2"
    assert ring.is_unusable("bearer-1")


def test_es256_bearer_keys() -> None:
    tokens = bearer_tokens(MemorySigningKeyStore(), ES256)
    assert tokens.verify(issue(tokens), now=NOW).org_id == CALLER.org_id
    assert [k.algorithm for k in tokens.ring.loaded_keys()] == [ES256]


def test_ring_configuration_is_checked() -> None:
    store = MemorySigningKeyStore()
    with pytest.raises(ValueError, match="cannot form key ids"):
        SigningKeyRing(store, purpose="Bearer", algorithm=EDDSA)
    with pytest.raises(ValueError, match="allowed"):
        SigningKeyRing(store, purpose=BEARER_PURPOSE, algorithm="RS256")
    with pytest.raises(ValueError, match="allowed"):
        SigningKeyRing(store, purpose=BEARER_PURPOSE, algorithm=EDDSA, allowed_algorithms=[ES256])
    hs = SigningKeyRing(store, purpose=BEARER_PURPOSE, algorithm=HS256)
    with pytest.raises(ValueError, match="EdDSA or ES256"):
        JwtBearerTokens(hs, issuer=ISSUER, audience=AUDIENCE)
    ed = SigningKeyRing(store, purpose=USER_ACTION_PURPOSE, algorithm=EDDSA)
    with pytest.raises(ValueError, match="HS256"):
        HmacUserActionCodec(ed, clock=ManualClock(NOW))
    good = SigningKeyRing(store, purpose=BEARER_PURPOSE, algorithm=EDDSA)
    with pytest.raises(ValueError, match="required"):
        JwtBearerTokens(good, issuer="", audience=AUDIENCE)
    with pytest.raises(ValueError, match="negative"):
        JwtBearerTokens(good, issuer=ISSUER, audience=AUDIENCE, leeway=timedelta(seconds=-1))


def test_loaded_keys_do_not_show_secrets() -> None:
    ring = SigningKeyRing(MemorySigningKeyStore(), purpose=USER_ACTION_PURPOSE, algorithm=HS256)
    key = ring.signing_key(now=NOW)
    assert repr(key.signer) not in repr(key)
    assert attrs.evolve(key, retired_at=NOW).usable_at(NOW) is False
