"""Tokens: JWT bearer tokens (PyJWT) and one-time user action tokens (HMAC-SHA256).

Both kinds are signed with keys of a `SigningKeyRing` (generated on first use,
shared through the `SigningKeyStore`, rotated and retired there), and neither is
ever accepted as the other: a bearer token is a JWS whose header says
`"typ": "at+jwt"`, a user action token is a compact `ua1.` token (format below).

Bearer verification, in order (reasons in brackets; every failure is 401
`Not Authorized.`):

 1. size bounds before any decoding [token_too_long, segment_too_large], three
    segments [token_malformed; a `ua1.` token: typ_mismatch]
 2. header: strict JSON [header_malformed]; only `alg`, `typ`, `kid`: `jku`, `x5u`,
    `jwk`, `x5c`, `x5t` name keys we do not choose [header_jku, ...], `crit` names
    extensions we do not implement [crit_unsupported], anything else [header_unknown]
 3. `typ` is `at+jwt` [typ_mismatch]
 4. `alg` is on the ring's allow-list (never `none`, never HS*) [alg_not_allowed]
 5. `kid` well-formed [kid_missing, kid_malformed], known [kid_unknown], not retired
    [kid_retired], and the key's own algorithm is `alg` [alg_key_mismatch]
 6. the signature verifies with that key (PyJWT's algorithm) [signature_invalid]
 7. claims: strict JSON [payload_malformed]; `iss` and `aud` present and exactly
    equal [iss_missing, iss_mismatch, aud_missing, aud_mismatch]; `exp`, `iat`
    present [exp_missing, iat_missing]; shapes [claims_malformed, sub_mismatch,
    token_kind_unknown]
 8. time, from the `now` argument with the configured leeway: not expired
    [token_expired], not issued or valid only in the future [token_issued_in_future,
    token_not_yet_valid]

A verified token is cached (by its text) with its claims, so the three calls of
one signed flow pay for one signature check; a cache hit re-runs step 8 and the
key's retirement check against the `now` of that call. Steps 2 and 3 depend on the
header segment's text alone, and every token of one signing key has the same: a
header that passed them is remembered by its text (bounded), and steps 4 to 8 run
for every token: the header's strict decoding is otherwise a large part of a first
check's cost over the signature (`flow_time_ratio`, docs/benchmarks.md §1).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

import jwt

from adapters.crypto.boundary import Boundary
from adapters.crypto.cache import BoundedCache
from adapters.crypto.signing_keys import (
    EDDSA,
    ES256,
    HS256,
    KID_PATTERN,
    LoadedSigningKey,
    SigningKeyRing,
)
from archive_core.encoding import EPOCH, b64url_decode, micros, parse_json_object
from archive_core.entities import TokenKind, User, UserActionGrant
from archive_core.errors import Catalogue
from archive_core.ids import CredentialUuid, OrgId, UserId, is_canonical_id
from archive_core.ports import BearerClaims, Clock

__all__ = [
    "APP_METADATA_CLAIM",
    "BEARER_TYP",
    "USER_ACTION_PREFIX",
    "HmacUserActionCodec",
    "JwtBearerTokens",
]

BEARER_TYP: Final = "at+jwt"
APP_METADATA_CLAIM: Final = "https://custom/app_metadata"
USER_ACTION_PREFIX: Final = "ua1"

MAX_BEARER_TOKEN: Final = 4096
MAX_HEADER_SEGMENT: Final = 512
MAX_PAYLOAD_SEGMENT: Final = 2048
MAX_SIGNATURE_SEGMENT: Final = 256
MAX_CLAIM_TEXT: Final = 256
_MAX_CACHED_HEADERS: Final = 64

_HEADER_PARAMETERS: Final = frozenset({"alg", "typ", "kid"})
_KEY_REFERENCES: Final = {
    "jku": "header_jku",
    "x5u": "header_x5u",
    "jwk": "header_jwk",
    "x5c": "header_x5c",
    "x5t": "header_x5t",
    "x5t#S256": "header_x5t",
}
_TOKEN_KINDS: Final = {kind.value: kind for kind in TokenKind}


#: A verified bearer token as cached: its claims, its kid, then what step 8 re-checks
#: (`iat`, `nbf` or None, `exp`, in seconds). A plain tuple: one is built per new token.
_Verified = tuple[BearerClaims, str, int, "int | None", int]


_HEADER: Final = Boundary(Catalogue.NOT_AUTHORIZED, "header_malformed")
_BEARER_SIGNATURE: Final = Boundary(Catalogue.NOT_AUTHORIZED, "signature_invalid")
_PAYLOAD: Final = Boundary(Catalogue.NOT_AUTHORIZED, "payload_malformed")


class JwtBearerTokens:
    """`BearerTokenVerifier` (and issuer) for signed JWTs, EdDSA or ES256."""

    def __init__(
        self,
        ring: SigningKeyRing,
        *,
        issuer: str,
        audience: str,
        leeway: timedelta = timedelta(seconds=30),
        max_cached_tokens: int = 10_000,
    ) -> None:
        if not ring.allowed_algorithms <= {EDDSA, ES256}:
            raise ValueError("bearer tokens are signed with EdDSA or ES256 only")
        if not issuer or not audience:
            raise ValueError("issuer and audience are required")
        if leeway < timedelta(0):
            raise ValueError("leeway cannot be negative")
        self.ring = ring
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self._leeway_seconds = leeway.total_seconds()
        # Keyed by the token itself: the process that holds the keys these tokens are
        # signed with gains nothing from holding digests instead, and a digest per
        # request would cost a third of a cache hit (docs/benchmarks.md §1).
        self._verified: BoundedCache[str, _Verified] = BoundedCache(max_cached_tokens)
        #: Header segments that passed steps 2 and 3 (one per signing key in practice).
        self._headers: BoundedCache[str, Mapping[str, Any]] = BoundedCache(_MAX_CACHED_HEADERS)

    # ------------------------------------------------------------------ issue
    def issue(self, user: User, *, now: datetime, ttl: timedelta, token_kind: TokenKind) -> str:
        """A signed bearer token for `user`, valid from `now` for `ttl`."""
        if ttl <= timedelta(0):
            raise ValueError("ttl must be positive")
        key = self.ring.signing_key(now=now)
        issued_at = int(now.timestamp())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user.id,
            "iat": issued_at,
            "exp": issued_at + max(1, int(ttl.total_seconds())),
            "jti": "tk-" + secrets.token_urlsafe(18),
            APP_METADATA_CLAIM: {
                "orgId": user.org_id,
                "userId": user.id,
                "tokenKind": token_kind.value,
            },
        }
        return jwt.encode(
            claims,
            key.signer,  # type: ignore[arg-type]  # a PEM-loaded private key object
            algorithm=key.algorithm,
            headers={"kid": key.kid, "typ": BEARER_TYP},
        )

    # ------------------------------------------------------------------ verify
    def verify(self, token: str, *, now: datetime) -> BearerClaims:
        """The token's claims; raise ArchiveCoreError(NOT_AUTHORIZED) for any defect."""
        if len(token) > MAX_BEARER_TOKEN:
            raise Catalogue.NOT_AUTHORIZED.error("token_too_long")
        if not token.isascii():
            raise Catalogue.NOT_AUTHORIZED.error("token_malformed")
        verified = self._verified.get(token)
        remembered = verified is not None
        if verified is None:
            verified = self._verify_signed(token, now)  # its key found usable at `now`
            self._verified.put(token, verified)
        claims, kid, issued_at, not_before, expires_at = verified
        # 8. time, from the caller's clock (exp is exclusive: valid while now < exp)
        at = now.timestamp()
        leeway = self._leeway_seconds
        if at >= expires_at + leeway:
            raise Catalogue.NOT_AUTHORIZED.error("token_expired")
        if issued_at > at + leeway:
            raise Catalogue.NOT_AUTHORIZED.error("token_issued_in_future")
        if not_before is not None and not_before > at + leeway:
            raise Catalogue.NOT_AUTHORIZED.error("token_not_yet_valid")
        # A key retired since the token was cached takes its tokens with it.
        if remembered:
            key = self.ring.verification_key(kid, now=now)
            if key is None or not key.usable_at(now):
                raise Catalogue.NOT_AUTHORIZED.error("kid_retired")
        return claims

    def _verify_signed(self, token: str, now: datetime) -> _Verified:
        # 1. shape and sizes, before decoding anything
        parts = token.split(".")
        if len(parts) != 3:
            is_user_action = token.startswith(USER_ACTION_PREFIX + ".")
            raise Catalogue.NOT_AUTHORIZED.error(
                "typ_mismatch" if is_user_action else "token_malformed"
            )
        header_b64, payload_b64, signature_b64 = parts
        if (
            len(header_b64) > MAX_HEADER_SEGMENT
            or len(payload_b64) > MAX_PAYLOAD_SEGMENT
            or len(signature_b64) > MAX_SIGNATURE_SEGMENT
        ):
            raise Catalogue.NOT_AUTHORIZED.error("segment_too_large")

        # 2. and 3. header and typ: a function of the segment's text alone, so a header
        # that passed them once (every token of one key has the same) is not decoded again
        header = self._headers.get(header_b64)
        if header is None:
            header = _checked_header(header_b64)
            self._headers.put(header_b64, header)
        # 4. alg on the allow-list
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.ring.allowed_algorithms:
            raise Catalogue.NOT_AUTHORIZED.error("alg_not_allowed")
        # 5. kid → key → its algorithm
        key = self._key_for(header.get("kid"), now)
        if key.algorithm != alg:
            raise Catalogue.NOT_AUTHORIZED.error("alg_key_mismatch")
        # 6. signature
        with _BEARER_SIGNATURE:
            signature = b64url_decode(signature_b64)
            signing_input = token[: len(header_b64) + 1 + len(payload_b64)].encode("ascii")
            genuine = key.jwt_algorithm.verify(signing_input, key.verifier, signature)
        if not genuine:
            raise Catalogue.NOT_AUTHORIZED.error("signature_invalid")
        # 7. claims
        with _PAYLOAD:
            claims = parse_json_object(
                b64url_decode(payload_b64), max_bytes=MAX_PAYLOAD_SEGMENT, max_depth=3
            )
        return self._claims(claims, key.kid)

    def _key_for(self, kid: object, now: datetime) -> LoadedSigningKey:
        if kid is None:
            raise Catalogue.NOT_AUTHORIZED.error("kid_missing")
        if not isinstance(kid, str) or KID_PATTERN.match(kid) is None:
            raise Catalogue.NOT_AUTHORIZED.error("kid_malformed")
        key = self.ring.verification_key(kid, now=now)
        if key is None:
            raise Catalogue.NOT_AUTHORIZED.error(
                "kid_unusable" if self.ring.is_unusable(kid) else "kid_unknown"
            )
        if not key.usable_at(now):
            raise Catalogue.NOT_AUTHORIZED.error("kid_retired")
        return key

    def _claims(self, claims: dict[str, Any], kid: str) -> _Verified:
        # Checked inline, in one frame: this runs for every new token.
        if "iss" not in claims:
            raise Catalogue.NOT_AUTHORIZED.error("iss_missing")
        if claims["iss"] != self.issuer:
            raise Catalogue.NOT_AUTHORIZED.error("iss_mismatch")
        if "aud" not in claims:
            raise Catalogue.NOT_AUTHORIZED.error("aud_missing")
        audience = claims["aud"]
        # A JSON value equals our (string) audience only when it is that string.
        if audience != self.audience and not (
            isinstance(audience, list)
            and any(isinstance(a, str) and a == self.audience for a in audience)
        ):
            raise Catalogue.NOT_AUTHORIZED.error("aud_mismatch")
        if "exp" not in claims:
            raise Catalogue.NOT_AUTHORIZED.error("exp_missing")
        if "iat" not in claims:
            raise Catalogue.NOT_AUTHORIZED.error("iat_missing")
        expires_at, issued_at = claims["exp"], claims["iat"]
        not_before = claims.get("nbf")
        subject, token_id = claims.get("sub"), claims.get("jti")
        metadata = claims.get(APP_METADATA_CLAIM)
        # ints are ints (a bool is not one), texts are non-empty and bounded
        if (
            type(expires_at) is not int
            or type(issued_at) is not int
            or (not_before is not None and type(not_before) is not int)
            or not isinstance(subject, str)
            or not 0 < len(subject) <= MAX_CLAIM_TEXT
            or not isinstance(token_id, str)
            or not 0 < len(token_id) <= MAX_CLAIM_TEXT
            or not isinstance(metadata, dict)
        ):
            raise Catalogue.NOT_AUTHORIZED.error("claims_malformed")
        user_id, org_id = metadata.get("userId"), metadata.get("orgId")
        if (
            not isinstance(user_id, str)
            or not isinstance(org_id, str)
            or not is_canonical_id(user_id, "us")
            or not is_canonical_id(org_id, "or")
            or expires_at <= issued_at
        ):
            raise Catalogue.NOT_AUTHORIZED.error("claims_malformed")
        if subject != user_id:
            raise Catalogue.NOT_AUTHORIZED.error("sub_mismatch")
        kind_value = metadata.get("tokenKind")
        token_kind = _TOKEN_KINDS.get(kind_value) if isinstance(kind_value, str) else None
        if token_kind is None:
            raise Catalogue.NOT_AUTHORIZED.error("token_kind_unknown")
        try:
            issued = datetime.fromtimestamp(issued_at, UTC)
            expires = datetime.fromtimestamp(expires_at, UTC)
        except (OverflowError, ValueError, OSError) as exc:
            raise Catalogue.NOT_AUTHORIZED.error("claims_malformed") from exc
        return (
            BearerClaims(token_id, UserId(user_id), OrgId(org_id), token_kind, issued, expires),
            kid,
            issued_at,
            not_before,
            expires_at,
        )


def _checked_header(header_b64: str) -> Mapping[str, Any]:
    """Steps 2 and 3: the header segment as strict JSON with known parameters only, and
    `typ` right. Read-only: the result may be shared by every token with this header."""
    with _HEADER:
        header = parse_json_object(
            b64url_decode(header_b64), max_bytes=MAX_HEADER_SEGMENT, max_depth=2
        )
    for name in header:
        if name in _KEY_REFERENCES:
            raise Catalogue.NOT_AUTHORIZED.error(_KEY_REFERENCES[name])
        if name == "crit":
            raise Catalogue.NOT_AUTHORIZED.error("crit_unsupported")
        if name not in _HEADER_PARAMETERS:
            raise Catalogue.NOT_AUTHORIZED.error("header_unknown")
    if header.get("typ") != BEARER_TYP:
        raise Catalogue.NOT_AUTHORIZED.error("typ_mismatch")
    return MappingProxyType(header)


# --------------------------------------------------------------------------- user actions

_MAX_MICROS: Final = micros(datetime(9999, 1, 1, tzinfo=UTC))
MAX_USER_ACTION_TOKEN: Final = 4096
_USER_ACTION_SEGMENTS: Final = 12
_MAC_LENGTH: Final = 43  # base64url of 32 bytes, unpadded
_MAX_KEYED_SECRETS: Final = 64  # one per key generation in practice
_METHODS: Final = frozenset({"POST", "PUT", "DELETE", "GET", "PATCH"})
_SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}\Z")
_USER_ACTION_PATH: Final = Boundary(Catalogue.USER_ACTION_INVALID, "payload_malformed")
#: The shape `issue` writes, field by field (groups: kid, token id, user, org, credential,
#: method, digest, issued, expires, path, MAC): `KID_PATTERN`, `_grant`'s checks and a
#: 43-character MAC in one pass (`flow_time_ratio`, docs/benchmarks.md §1).
_USER_ACTION_TOKEN: Final = re.compile(
    rf"ua1\.([a-z][a-z0-9-]{{0,62}}[0-9])\.([^.]{{1,{MAX_CLAIM_TEXT}}})\.([^.]+)\.([^.]+)"
    r"\.([^.]+)\.(POST|PUT|DELETE|GET|PATCH)\.([0-9a-f]{64})\.([0-9]+)\.([0-9]+)"
    r"\.([^.]*)\.([^.]{43})\Z"
)


def _micros(moment: datetime) -> str:
    value = micros(moment)
    if not 0 <= value <= _MAX_MICROS:
        raise ValueError("grant time out of range")
    return str(value)


_TO_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE: Final = bytes.maketrans(b"-_+/", b"+/-_")


def _b64url(data: bytes) -> str:
    # `b64url_encode` without the `base64` module's wrappers (this runs twice per token).
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode()


class HmacUserActionCodec:
    """`UserActionTokenCodec`: a compact token authenticated with HMAC-SHA256.

    Format (twelve dot-separated segments, all ASCII):

        ua1.<kid>.<tokenId>.<userId>.<orgId>.<credentialUuid>.<method>.<payloadSha256>
           .<issuedAtMicros>.<expiresAtMicros>.<base64url(path)>.<mac>

    `mac` is base64url(HMAC-SHA256(key, everything before its dot)). The `ua1` marker
    (kind and version) is inside the authenticated input, so a token of another kind
    or version never verifies as this one; a bearer JWT (three segments, `eyJ…`) is
    refused before any key is looked up. Times are integer microseconds since the
    epoch, so a grant comes back exactly as it was issued. Expiry and binding are
    checked by the core; single use by the user action store.
    """

    def __init__(
        self, ring: SigningKeyRing, *, clock: Clock, max_remembered_tokens: int = 1024
    ) -> None:
        if ring.allowed_algorithms != {HS256}:
            raise ValueError("user action tokens are authenticated with HS256 only")
        self.ring = ring
        self._clock = clock
        #: Tokens this codec issued and no one has presented yet, with their grant and
        #: kid (bounded, oldest out first; a token leaves when it is first presented).
        self._issued: BoundedCache[str, tuple[UserActionGrant, str]] = BoundedCache(
            max_remembered_tokens
        )
        #: HMAC-SHA256 keyed with each secret once (copied per token: the one-shot
        #: `hmac.digest` keys OpenSSL's context anew every time, a third of its cost).
        self._keyed: BoundedCache[bytes, hmac.HMAC] = BoundedCache(_MAX_KEYED_SECRETS)

    def _mac(self, secret: bytes, data: bytes) -> bytes:
        keyed = self._keyed.get(secret)
        if keyed is None:
            keyed = hmac.new(secret, digestmod=hashlib.sha256)
            self._keyed.put(secret, keyed)
        mac = keyed.copy()
        mac.update(data)
        return mac.digest()

    def issue(self, grant: UserActionGrant) -> str:
        """A signed token carrying the grant."""
        key = self.ring.signing_key(now=self._clock.now())
        fields = (
            grant.token_id,
            grant.user_id,
            grant.org_id,
            grant.credential_uuid,
            grant.method,
            grant.payload_sha256,
        )
        plain = ".".join(fields)
        # These travel as dot-separated segments: non-empty printable ASCII without dots.
        if (
            not all(fields)
            or plain.count(".") != 5
            or not plain.isascii()
            or not plain.isprintable()
        ):
            raise ValueError("grant field cannot travel in a user action token")
        signing_input = (
            f"{USER_ACTION_PREFIX}.{key.kid}.{plain}.{_micros(grant.issued_at)}"
            f".{_micros(grant.expires_at)}.{_b64url(grant.path.encode('utf-8'))}"
        )
        mac = self._mac(key.signer, signing_input.encode("ascii"))  # type: ignore[arg-type]
        token = f"{signing_input}.{_b64url(mac)}"
        self._issued.put(token, (grant, key.kid))
        return token

    def decode(self, token: str) -> UserActionGrant:
        """The grant a genuine token carries; raise ArchiveCoreError(USER_ACTION_INVALID)."""
        # 1. sizes, kind marker and shape, before any key is looked up
        if len(token) > MAX_USER_ACTION_TOKEN:
            raise Catalogue.USER_ACTION_INVALID.error("token_too_long")
        if not token.isascii():
            raise Catalogue.USER_ACTION_INVALID.error("token_malformed")
        # A token this codec issued is, character for character, what its MAC was
        # computed over: its grant is the one remembered (the retirement of its key
        # still applies). In a signed flow served by one process — one connection, one
        # worker — this spares the MAC, the pattern and the grant's parsing. It is
        # remembered until first presented: a replay, or a retried unit of work, goes
        # the long way (and the store refuses a second use).
        issued = self._issued.take(token)
        if issued is not None:
            self._key(issued[1])  # refused with the reason the long way would give
            return issued[0]
        # A token of the shape `issue` writes is taken apart by one pattern (which
        # accepts exactly what the segment-by-segment checks accept); any other goes
        # the long way, which finds the precise reason.
        shaped = _USER_ACTION_TOKEN.match(token)
        if shaped is None:
            return self._decode_segments(token)
        # 2. the key its kid names; 3. the MAC
        self._check_mac(self._key(shaped[1]), token, shaped[11])
        # 4. the grant: the pattern checked every field's shape but the times' range
        return _built_grant(shaped.group(2, 3, 4, 5, 6, 7, 8, 9, 10))

    def _decode_segments(self, token: str) -> UserActionGrant:
        if not token.startswith(USER_ACTION_PREFIX + "."):
            raise Catalogue.USER_ACTION_INVALID.error("typ_mismatch")
        parts = token.split(".")
        if len(parts) != _USER_ACTION_SEGMENTS:
            raise Catalogue.USER_ACTION_INVALID.error("token_malformed")
        # 2. the key its kid names
        if KID_PATTERN.match(parts[1]) is None:
            raise Catalogue.USER_ACTION_INVALID.error("kid_malformed")
        # 3. the MAC
        self._check_mac(self._key(parts[1]), token, parts[11])
        # 4. the grant (authenticated, so ours: its shape is checked all the same)
        return _grant(parts)

    def _check_mac(self, key: LoadedSigningKey, token: str, mac: str) -> None:
        # The MAC of everything before its dot, compared in constant time.
        signing_input = token[: len(token) - len(mac) - 1].encode("ascii")
        expected = self._mac(key.signer, signing_input)  # type: ignore[arg-type]
        if len(mac) != _MAC_LENGTH or not hmac.compare_digest(_b64url(expected), mac):
            raise Catalogue.USER_ACTION_INVALID.error("signature_invalid")

    def _key(self, kid: str) -> LoadedSigningKey:
        now = self._clock.now()
        key = self.ring.verification_key(kid, now=now)
        if key is None:
            raise Catalogue.USER_ACTION_INVALID.error(
                "kid_unusable" if self.ring.is_unusable(kid) else "kid_unknown"
            )
        if not key.usable_at(now):
            raise Catalogue.USER_ACTION_INVALID.error("kid_retired")
        return key


def _path(encoded: str) -> str:
    with _USER_ACTION_PATH:
        path = binascii.a2b_base64(
            (encoded + "=" * (-len(encoded) % 4)).encode().translate(_FROM_URLSAFE),
            strict_mode=True,
        ).decode("utf-8")
    if not path:
        raise Catalogue.USER_ACTION_INVALID.error("payload_malformed")
    return path


def _grant(parts: list[str]) -> UserActionGrant:
    _prefix, _kid, token_id, user_id, org_id, credential, method, digest, issued, expires = parts[
        :10
    ]
    if (
        method not in _METHODS
        or _SHA256_HEX.match(digest) is None
        or not issued.isdigit()
        or not expires.isdigit()
        or not 0 < len(token_id) <= MAX_CLAIM_TEXT
        or not user_id
        or not org_id
        or not credential
    ):
        raise Catalogue.USER_ACTION_INVALID.error("payload_malformed")
    return _built_grant(parts[2:11])


def _built_grant(segments: Sequence[str]) -> UserActionGrant:
    # The nine segments from the token id to the path, in the token's order, their
    # shapes checked: the times' range and the path remain.
    token_id, user_id, org_id, credential, method, digest, issued, expires, encoded_path = segments
    issued_micros, expires_micros = int(issued), int(expires)
    if not issued_micros <= expires_micros <= _MAX_MICROS:
        raise Catalogue.USER_ACTION_INVALID.error("payload_malformed")
    return UserActionGrant(
        token_id,
        UserId(user_id),
        OrgId(org_id),
        CredentialUuid(credential),
        method,
        _path(encoded_path),
        digest,
        EPOCH + timedelta(0, 0, issued_micros),
        EPOCH + timedelta(0, 0, expires_micros),
    )
