"""Server signing keys for tokens, over the `SigningKeyStore` port: first use, rotation, retirement.

A `SigningKeyRing` serves one purpose (`bearer` or `user-action`). Its keys live in
the store, so every process of a deployment signs and verifies with the same ones
(the CLI's `bootstrap` issues a token that `serve` accepts).

- **First use**: when the store holds no usable key, the ring generates one. Key ids
  are `<purpose>-<generation>` (`bearer-1`, `bearer-2`, ...), so two processes that
  race to create the first key (or to rotate) propose the *same* kid: the store
  accepts one (`add` is True), the other sees False, re-reads and uses the winner.
- **Rotation**: `rotate` adds the next generation; the newest usable key signs, and
  every older key still verifies until it is retired.
- **Retirement**: a key with `retired_at <= now` neither signs nor verifies.
- **Freshness**: a ring re-reads the store every `refresh_interval` (so a rotation or
  retirement made by another process is seen within it), and at once — at most every
  `min_refresh_interval` — when a token names a newer generation than it knows.

Times come from the caller (`now`), never from the system clock. Private keys are
stored as PKCS#8 PEM (EdDSA, ES256) or base64url (HS256 secrets).
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final

import attrs
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import Algorithm

from archive_core.encoding import b64url_decode, b64url_encode
from archive_core.ports import SigningKey, SigningKeyStore

__all__ = [
    "BEARER_PURPOSE",
    "EDDSA",
    "ES256",
    "HS256",
    "KID_PATTERN",
    "USER_ACTION_PURPOSE",
    "LoadedSigningKey",
    "SigningKeyRing",
]

BEARER_PURPOSE: Final = "bearer"
USER_ACTION_PURPOSE: Final = "user-action"

EDDSA: Final = "EdDSA"
ES256: Final = "ES256"
HS256: Final = "HS256"

#: Every kid a token may name: lowercase letters, digits and dashes, bounded. A kid is
#: only ever a dictionary key (never a path or URL), and anything else is refused early.
KID_PATTERN: Final = re.compile(r"[a-z][a-z0-9-]{0,62}[0-9]\Z")
_HMAC_SECRET_BYTES: Final = 32
_MAX_CREATE_ATTEMPTS: Final = 5


@attrs.frozen
class LoadedSigningKey:
    """A stored key made usable: the `cryptography` objects (or HMAC secret) behind a kid."""

    kid: str
    algorithm: str
    generation: int | None
    created_at: datetime
    retired_at: datetime | None
    #: Private key object (EdDSA/ES256) or secret bytes (HS256).
    signer: object = attrs.field(repr=False)
    #: Public key object (EdDSA/ES256) or secret bytes (HS256).
    verifier: object = attrs.field(repr=False)
    #: PyJWT's implementation of `algorithm` (signature encoding, DER/raw conversion).
    jwt_algorithm: Algorithm = attrs.field(repr=False)

    def usable_at(self, now: datetime) -> bool:
        """False once the key is retired."""
        return self.retired_at is None or now < self.retired_at


def _generation(kid: str, purpose: str) -> int | None:
    prefix, _, number = kid.rpartition("-")
    if prefix != purpose or not number.isdigit() or number.startswith("0"):
        return None
    return int(number)


def _new_private_key(algorithm: str) -> str:
    if algorithm == HS256:
        return b64url_encode(secrets.token_bytes(_HMAC_SECRET_BYTES))
    private: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    if algorithm == EDDSA:
        private = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == ES256:
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(f"no generator for {algorithm!r}")
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def _load(key: SigningKey, purpose: str) -> LoadedSigningKey:
    signer: object
    verifier: object
    if key.algorithm == HS256:
        secret = b64url_decode(key.private_key)
        if len(secret) < _HMAC_SECRET_BYTES:
            raise ValueError("HMAC secret too short")
        signer = verifier = secret
    else:
        private = serialization.load_pem_private_key(key.private_key.encode("ascii"), None)
        eddsa = key.algorithm == EDDSA and isinstance(private, ed25519.Ed25519PrivateKey)
        es256 = (
            key.algorithm == ES256
            and isinstance(private, ec.EllipticCurvePrivateKey)
            and isinstance(private.curve, ec.SECP256R1)
        )
        if eddsa or es256:
            verifier = private.public_key()
        else:
            raise ValueError("key type does not match its algorithm")
        signer = private
    return LoadedSigningKey(
        kid=key.kid,
        algorithm=key.algorithm,
        generation=_generation(key.kid, purpose),
        created_at=key.created_at,
        retired_at=key.retired_at,
        signer=signer,
        verifier=verifier,
        jwt_algorithm=jwt.get_algorithm_by_name(key.algorithm),
    )


class SigningKeyRing:
    """The keys of one purpose: which one signs now, which ones verify (see module doc)."""

    def __init__(
        self,
        store: SigningKeyStore,
        *,
        purpose: str,
        algorithm: str,
        allowed_algorithms: Sequence[str] | None = None,
        refresh_interval: timedelta = timedelta(seconds=30),
        min_refresh_interval: timedelta = timedelta(seconds=1),
    ) -> None:
        if KID_PATTERN.match(f"{purpose}-1") is None:
            raise ValueError(f"purpose {purpose!r} cannot form key ids")
        allowed = frozenset(allowed_algorithms or (algorithm,))
        if algorithm not in allowed or not allowed <= {EDDSA, ES256, HS256}:
            raise ValueError("algorithm must be one of the allowed EdDSA / ES256 / HS256")
        self.store = store
        self.purpose = purpose
        self.algorithm = algorithm
        #: The allow-list: a stored key of another algorithm is never used.
        self.allowed_algorithms = allowed
        self._refresh_interval = refresh_interval
        self._min_refresh_interval = min_refresh_interval
        self._lock = threading.Lock()
        self._keys: Mapping[str, LoadedSigningKey] = {}
        self._unusable: frozenset[str] = frozenset()
        self._newest_generation = 0
        self._refreshed_at: datetime | None = None
        #: `_refreshed_at + refresh_interval` (compared, not computed, per token)
        self._refresh_due = datetime.max
        self._current: LoadedSigningKey | None = None

    # ------------------------------------------------------------------ reading
    def signing_key(self, *, now: datetime) -> LoadedSigningKey:
        """The key that signs at `now`: the newest usable one, created on first use."""
        self._refresh_if_due(now)
        key = self._current
        if key is None or not key.usable_at(now):
            key = self._newest_usable(now)
        if key is not None:
            return key
        with self._lock:
            self._refresh_locked(now)
            key = self._newest_usable(now)
            if key is not None:
                return key
            return self._create_locked(now)

    def verification_key(self, kid: str, *, now: datetime) -> LoadedSigningKey | None:
        """The key a token names, or None when there is none (retired keys are returned:
        the caller refuses them with its own reason, see `LoadedSigningKey.usable_at`)."""
        self._refresh_if_due(now)
        key = self._keys.get(kid)
        if key is None and self._may_know_more(kid, now):
            with self._lock:
                self._refresh_locked(now)
            key = self._keys.get(kid)
        return key

    def is_unusable(self, kid: str) -> bool:
        """True when the store holds this kid but its key could not be loaded."""
        return kid in self._unusable

    def loaded_keys(self) -> list[LoadedSigningKey]:
        """Every loaded key, oldest first (for operators and tests)."""
        return list(self._keys.values())

    # ------------------------------------------------------------------ writing
    def rotate(self, *, now: datetime) -> LoadedSigningKey:
        """Add the next generation; it signs from now on, older keys keep verifying."""
        with self._lock:
            self._refresh_locked(now)
            return self._create_locked(now)

    def retire(self, kid: str, *, at: datetime) -> None:
        """Retire a key: from `at` on it neither signs nor verifies (in every process,
        within one refresh interval)."""
        with self._lock:
            self.store.retire(kid, at=at)
            self._refresh_locked(at)

    def refresh(self, *, now: datetime) -> None:
        """Re-read the store now."""
        with self._lock:
            self._refresh_locked(now)

    # ------------------------------------------------------------------ internals
    def _newest_usable(self, now: datetime) -> LoadedSigningKey | None:
        usable = [
            k
            for k in self._keys.values()
            if k.usable_at(now) and k.algorithm in self.allowed_algorithms
        ]
        if not usable:
            return None
        return max(usable, key=lambda k: (k.generation or 0, k.created_at))

    def _refresh_if_due(self, now: datetime) -> None:
        # Once the refresh interval has passed (or the clock went back): a comparison
        # with the deadline set at the last refresh, once per token checked or issued.
        last = self._refreshed_at
        if last is None or now < last or now >= self._refresh_due:
            with self._lock:
                self._refresh_locked(now)

    def _may_know_more(self, kid: str, now: datetime) -> bool:
        generation = _generation(kid, self.purpose)
        if generation is None or generation <= self._newest_generation:
            return False
        last = self._refreshed_at
        return last is None or now < last or now - last >= self._min_refresh_interval

    def _refresh_locked(self, now: datetime) -> None:
        loaded: dict[str, LoadedSigningKey] = {}
        unusable: set[str] = set()
        stored_keys = self.store.keys(self.purpose)
        for stored in stored_keys:
            if stored.algorithm not in self.allowed_algorithms:
                unusable.add(stored.kid)
                continue
            previous = self._keys.get(stored.kid)
            if previous is not None and previous.algorithm == stored.algorithm:
                loaded[stored.kid] = attrs.evolve(previous, retired_at=stored.retired_at)
                continue
            try:
                loaded[stored.kid] = _load(stored, self.purpose)
            except (ValueError, TypeError, jwt.PyJWTError):
                # A damaged entry is skipped (tokens naming it are refused), not fatal.
                unusable.add(stored.kid)
        generations = [_generation(k.kid, self.purpose) or 0 for k in stored_keys]
        self._keys = loaded
        self._unusable = frozenset(unusable)
        self._newest_generation = max(generations, default=0)
        self._refreshed_at = now
        try:
            self._refresh_due = now + self._refresh_interval
        except OverflowError:  # pragma: no cover - a clock at the end of time
            self._refresh_due = now
        self._current = self._newest_usable(now)

    def _create_locked(self, now: datetime) -> LoadedSigningKey:
        for _attempt in range(_MAX_CREATE_ATTEMPTS):
            kid = f"{self.purpose}-{self._newest_generation + 1}"
            candidate = SigningKey(
                kid=kid,
                purpose=self.purpose,
                algorithm=self.algorithm,
                private_key=_new_private_key(self.algorithm),
                created_at=now,
            )
            added = self.store.add(candidate)
            # Either way the store now holds `kid`: ours, or the one another process won with.
            self._refresh_locked(now)
            key = self._keys.get(kid)
            if key is not None and key.usable_at(now):
                return key
            if added:  # pragma: no cover - a store that drops what it accepted
                break
        raise RuntimeError(f"could not create a usable {self.purpose} signing key")
