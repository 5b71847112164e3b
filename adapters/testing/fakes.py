"""Fakes of the crypto ports, for fast unit tests of the core and of rules built on it
(the real adapters live in `adapters/crypto`). They are honest implementations of the
ports with toy primitives: a "signature" is an HMAC keyed by the credential's public key
string, tokens are random handles looked up in a table. Never wire them in production:
a fake bearer token is only as secret as the process that issued it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
import threading
from datetime import datetime, timedelta

from archive_core.entities import Credential, CredentialKind, TokenKind, User, UserActionGrant
from archive_core.errors import ArchiveCoreError, Catalogue
from archive_core.ports import AuthenticatorData, BearerClaims

__all__ = [
    "FLAG_BE",
    "FLAG_BS",
    "FLAG_UP",
    "FLAG_UV",
    "FakeAuthenticatorDataParser",
    "FakeBearerTokens",
    "FakeSignatureVerifier",
    "FakeUserActionCodec",
    "fake_sign",
    "make_authenticator_data",
]

FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_BE = 0x08
FLAG_BS = 0x10


def fake_sign(public_key: str, message: bytes) -> bytes:
    """The fake signature scheme: HMAC-SHA256 keyed by the public key string."""
    return hmac.new(public_key.encode(), message, hashlib.sha256).digest()


class FakeSignatureVerifier:
    """Verifies `fake_sign` signatures; refuses public keys that start with `bad`."""

    def __init__(self) -> None:
        self.calls = 0

    def verify(self, credential: Credential, *, message: bytes, signature: bytes) -> None:
        self.calls += 1
        if not hmac.compare_digest(fake_sign(credential.public_key, message), signature):
            raise ArchiveCoreError(Catalogue.ASSERTION_INVALID, reason="signature_invalid")

    def validate_public_key(self, kind: CredentialKind, algorithm: str, public_key: str) -> None:
        if public_key.startswith("bad"):
            raise ArchiveCoreError(Catalogue.CREDENTIAL_REJECTED, reason="key_rejected")


def make_authenticator_data(rp_id: str, flags: int, sign_count: int) -> bytes:
    """Minimal authenticatorData: rpIdHash, flags, counter."""
    return hashlib.sha256(rp_id.encode()).digest() + struct.pack(">BI", flags, sign_count)


class FakeAuthenticatorDataParser:
    """Parses the 37-byte form `make_authenticator_data` builds."""

    def parse(self, raw: bytes) -> AuthenticatorData:
        if len(raw) != 37:
            raise ArchiveCoreError(Catalogue.ASSERTION_INVALID, reason="authenticator_data_length")
        flags, count = struct.unpack(">BI", raw[32:])
        return AuthenticatorData(
            rp_id_hash=raw[:32],
            user_present=bool(flags & FLAG_UP),
            user_verified=bool(flags & FLAG_UV),
            backup_eligible=bool(flags & FLAG_BE),
            backup_state=bool(flags & FLAG_BS),
            sign_count=count,
        )


class FakeBearerTokens:
    """Issues random bearer handles and verifies them against a table and the given time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claims: dict[str, BearerClaims] = {}

    def issue(
        self,
        user: User,
        *,
        now: datetime,
        ttl: timedelta,
        token_kind: TokenKind = TokenKind.LOGIN,
    ) -> str:
        """A handle for `user`'s claims, valid from `now` for `ttl`."""
        token = "tok" + secrets.token_urlsafe(16)
        with self._lock:
            self._claims[token] = BearerClaims(
                token_id=secrets.token_hex(8),
                user_id=user.id,
                org_id=user.org_id,
                token_kind=token_kind,
                issued_at=now,
                expires_at=now + ttl,
            )
        return token

    def verify(self, token: str, *, now: datetime) -> BearerClaims:
        with self._lock:
            claims = self._claims.get(token)
        if claims is None:
            raise ArchiveCoreError(Catalogue.NOT_AUTHORIZED, reason="token_unknown")
        if now >= claims.expires_at:
            raise ArchiveCoreError(Catalogue.NOT_AUTHORIZED, reason="token_expired")
        return claims


class FakeUserActionCodec:
    """Issues random handles for grants; decoding an unknown handle is a forged token."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._grants: dict[str, UserActionGrant] = {}

    def issue(self, grant: UserActionGrant) -> str:
        token = "ua" + secrets.token_urlsafe(16)
        with self._lock:
            self._grants[token] = grant
        return token

    def decode(self, token: str) -> UserActionGrant:
        with self._lock:
            grant = self._grants.get(token)
        if grant is None:
            raise ArchiveCoreError(Catalogue.USER_ACTION_INVALID, reason="token_unknown")
        return grant
