"""Bearer tokens (JWT) and user action tokens (HMAC): shape, and every refusal by name."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from adapters.crypto.signing_keys import (
    BEARER_PURPOSE,
    EDDSA,
    ES256,
    HS256,
    USER_ACTION_PURPOSE,
    LoadedSigningKey,
    SigningKeyRing,
)
from adapters.crypto.tokens import (
    APP_METADATA_CLAIM,
    BEARER_TYP,
    HmacUserActionCodec,
    JwtBearerTokens,
)
from adapters.storage.memory import MemorySigningKeyStore
from adapters.system.clocks import ManualClock
from archive_core.encoding import b64url_encode
from archive_core.entities import TokenKind
from tests.crypto.support import CALLER, GRANT, NOW, expect_error

ISSUER = "https://auth.archive-core.test"
AUDIENCE = "archive-core:api"
HOUR = timedelta(hours=1)
DROP: Any = object()


def seconds(delta: timedelta = timedelta(0)) -> int:
    return int((NOW + delta).timestamp())


class Bearer:
    """A bearer verifier with its ring, and a forge for tokens of any shape."""

    def __init__(self, *, algorithms: tuple[str, ...] = (EDDSA,), leeway: int = 30) -> None:
        self.store = MemorySigningKeyStore()
        self.ring = SigningKeyRing(
            self.store,
            purpose=BEARER_PURPOSE,
            algorithm=algorithms[0],
            allowed_algorithms=algorithms,
        )
        self.tokens = JwtBearerTokens(
            self.ring, issuer=ISSUER, audience=AUDIENCE, leeway=timedelta(seconds=leeway)
        )
        self.key = self.ring.signing_key(now=NOW)

    def issue(self, token_kind: TokenKind = TokenKind.LOGIN) -> str:
        return self.tokens.issue(CALLER, now=NOW, ttl=HOUR, token_kind=token_kind)

    def forge(
        self,
        header: dict[str, Any] | bytes | None = None,
        payload: dict[str, Any] | bytes | None = None,
        *,
        key: LoadedSigningKey | None = None,
        signature: bytes | None = None,
    ) -> str:
        """A JWS of this header and payload, signed with `key` (the ring's by default)."""
        header = {"alg": EDDSA, "kid": "bearer-1", "typ": BEARER_TYP} if header is None else header
        payload = claims() if payload is None else payload
        encoded = [
            b64url_encode(part if isinstance(part, bytes) else json.dumps(part).encode())
            for part in (header, payload)
        ]
        signing_input = ".".join(encoded).encode()
        if signature is None:
            signer = key or self.key
            signature = signer.jwt_algorithm.sign(signing_input, signer.signer)
        return ".".join([*encoded, b64url_encode(signature)])

    def verify(self, token: str, *, after: timedelta = timedelta(0)) -> Any:
        return self.tokens.verify(token, now=NOW + after)


def claims(**changes: Any) -> dict[str, Any]:
    """Valid claims for CALLER, with changes (`DROP` removes a claim)."""
    document: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": CALLER.id,
        "iat": seconds(),
        "exp": seconds(HOUR),
        "jti": "tk-forged-0001",
        APP_METADATA_CLAIM: {
            "orgId": CALLER.org_id,
            "userId": CALLER.id,
            "tokenKind": "Login",
        },
    }
    metadata = changes.pop("metadata", None)
    if metadata is not None:
        document[APP_METADATA_CLAIM] = metadata
    for name, value in changes.items():
        if value is DROP:
            document.pop(name, None)
        else:
            document[name] = value
    return document


def header(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {"alg": EDDSA, "kid": "bearer-1", "typ": BEARER_TYP}
    for name, value in changes.items():
        if value is DROP:
            document.pop(name, None)
        else:
            document[name.replace("_", "#")] = value
    return document


# --------------------------------------------------------------------------- bearer: good


def test_issued_tokens_have_the_shape_the_sdks_read() -> None:
    bearer = Bearer()
    token = bearer.issue(TokenKind.PERSONAL_ACCESS_TOKEN)
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": "bearer-1", "typ": "at+jwt"}
    body = jwt.decode(token, options={"verify_signature": False})
    assert body["iss"] == ISSUER and body["aud"] == AUDIENCE and body["sub"] == CALLER.id
    assert body["exp"] - body["iat"] == 3600
    assert body[APP_METADATA_CLAIM] == {
        "orgId": CALLER.org_id,
        "userId": CALLER.id,
        "tokenKind": "Pat",
    }
    verified = bearer.verify(token)
    assert (verified.user_id, verified.org_id) == (CALLER.id, CALLER.org_id)
    assert verified.token_kind is TokenKind.PERSONAL_ACCESS_TOKEN
    assert verified.token_id == body["jti"]
    assert verified.issued_at == NOW and verified.expires_at == NOW + HOUR


def test_every_token_kind_round_trips() -> None:
    bearer = Bearer()
    for kind in TokenKind:
        assert bearer.verify(bearer.issue(kind)).token_kind is kind


def test_es256_tokens_verify_and_are_the_library_s_own_jws() -> None:
    bearer = Bearer(algorithms=(ES256,))
    token = bearer.issue()
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    assert bearer.verify(token).user_id == CALLER.id
    # PyJWT itself agrees with the signature.
    public: Any = bearer.key.verifier
    assert jwt.decode(
        token, public, algorithms=["ES256"], audience=AUDIENCE, options={"verify_exp": False}
    )


def test_the_audience_may_be_a_list_holding_ours() -> None:
    bearer = Bearer()
    assert bearer.verify(bearer.forge(payload=claims(aud=["other", AUDIENCE])))


def test_time_is_the_callers_and_leeway_is_configurable() -> None:
    bearer = Bearer(leeway=30)
    token = bearer.issue()
    assert bearer.verify(token, after=HOUR + timedelta(seconds=29))
    expect_error(
        lambda: bearer.verify(token, after=HOUR + timedelta(seconds=30)),
        "not_authorized",
        "token_expired",
    )
    strict = Bearer(leeway=0)
    token = strict.issue()
    assert strict.verify(token, after=HOUR - timedelta(seconds=1))
    expect_error(lambda: strict.verify(token, after=HOUR), "not_authorized", "token_expired")
    # A token issued slightly in the future (clock skew) passes within the leeway.
    skewed = bearer.forge(
        payload=claims(iat=seconds(timedelta(seconds=20)), nbf=seconds(timedelta(seconds=20)))
    )
    assert bearer.verify(skewed)


def test_three_calls_of_one_flow_check_the_signature_once(monkeypatch: pytest.MonkeyPatch) -> None:
    bearer = Bearer()
    token = bearer.issue()
    calls: list[int] = []
    real = type(bearer.key.jwt_algorithm).verify

    def counting(self: Any, msg: bytes, key: Any, sig: bytes) -> bool:
        calls.append(1)
        return bool(real(self, msg, key, sig))

    monkeypatch.setattr(type(bearer.key.jwt_algorithm), "verify", counting)
    for offset in (0, 5, 10):  # init, complete, DELETE
        bearer.verify(token, after=timedelta(seconds=offset))
    assert len(calls) == 1
    # The cache never outlives the token: the expiry is checked on every hit.
    expect_error(lambda: bearer.verify(token, after=2 * HOUR), "not_authorized", "token_expired")
    assert len(calls) == 1


def test_a_refused_token_is_not_cached() -> None:
    bearer = Bearer()
    token = bearer.forge(payload=claims(iss="https://evil.example"))
    for _ in range(2):
        expect_error(lambda: bearer.verify(token), "not_authorized", "iss_mismatch")


def test_a_remembered_header_spares_only_its_own_decoding() -> None:
    # Tokens of one key share their header segment: steps 2 and 3 ran for the first,
    # every later step still runs for each token.
    bearer = Bearer()
    first = bearer.issue()
    assert bearer.verify(first)
    head = first.split(".")[0]
    tampered = f"{head}.{b64url_encode(json.dumps(claims(jti='tk-other-0002')).encode())}."
    tampered += first.split(".")[2]
    expect_error(lambda: bearer.verify(tampered), "not_authorized", "signature_invalid")
    expired = bearer.forge(
        header=base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)),
        payload=claims(jti="tk-other-0003", iat=seconds(-2 * HOUR), exp=seconds(-HOUR)),
    )
    assert expired.split(".")[0] == head
    expect_error(lambda: bearer.verify(expired), "not_authorized", "token_expired")
    bearer.ring.rotate(now=NOW)
    bearer.ring.retire(bearer.key.kid, at=NOW)
    late = bearer.forge(
        header=base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)),
        payload=claims(jti="tk-other-0004"),
    )
    expect_error(lambda: bearer.verify(late), "not_authorized", "kid_retired")


def test_a_refused_header_is_refused_every_time() -> None:
    bearer = Bearer()
    token = bearer.forge(header(jku="https://evil.example/keys"))
    for _ in range(2):
        expect_error(lambda: bearer.verify(token), "not_authorized", "header_jku")
    wrong_typ = bearer.forge(header(typ="JWT"))
    for _ in range(2):
        expect_error(lambda: bearer.verify(wrong_typ), "not_authorized", "typ_mismatch")


def test_remembered_headers_are_bounded() -> None:
    bearer = Bearer()
    tokens = [bearer.forge(header(kid=f"bearer-{n}")) for n in range(2, 72)] + [bearer.issue()]
    for token in tokens[:-1]:
        expect_error(lambda: bearer.verify(token), "not_authorized", "kid_unknown")  # noqa: B023
    assert bearer.verify(tokens[-1])
    assert len(bearer.tokens._headers) <= 64


def test_the_verified_token_cache_is_bounded() -> None:
    store = MemorySigningKeyStore()
    ring = SigningKeyRing(store, purpose=BEARER_PURPOSE, algorithm=EDDSA)
    tokens = JwtBearerTokens(ring, issuer=ISSUER, audience=AUDIENCE, max_cached_tokens=2)
    issued = [tokens.issue(CALLER, now=NOW, ttl=HOUR, token_kind=TokenKind.LOGIN) for _ in range(5)]
    for token in issued * 2:
        assert tokens.verify(token, now=NOW)
    with pytest.raises(ValueError, match="ttl"):
        tokens.issue(CALLER, now=NOW, ttl=timedelta(0), token_kind=TokenKind.LOGIN)


# --------------------------------------------------------------------------- bearer: refusals


def _public_pem(bearer: Bearer) -> bytes:
    public: Any = bearer.key.verifier
    data: bytes = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data


def _hs256_with_public_key(bearer: Bearer) -> str:
    head = b64url_encode(json.dumps(header(alg="HS256")).encode())
    body = b64url_encode(json.dumps(claims()).encode())
    mac = jwt.get_algorithm_by_name("HS256").sign(
        f"{head}.{body}".encode(),
        _public_pem(bearer),
    )
    return f"{head}.{body}.{b64url_encode(mac)}"


def _other_key(bearer: Bearer) -> LoadedSigningKey:
    other = SigningKeyRing(MemorySigningKeyStore(), purpose=BEARER_PURPOSE, algorithm=EDDSA)
    return other.signing_key(now=NOW)


def _tampered(bearer: Bearer) -> str:
    head, _, signature = bearer.issue().split(".")
    body = b64url_encode(json.dumps(claims(sub="us-other-user-000000000002")).encode())
    return f"{head}.{body}.{signature}"


def _user_action_token(bearer: Bearer) -> str:
    ring = SigningKeyRing(bearer.store, purpose=USER_ACTION_PURPOSE, algorithm=HS256)
    return HmacUserActionCodec(ring, clock=ManualClock(NOW)).issue(GRANT)


def _es256_header_on_eddsa_key(bearer: Bearer) -> str:
    return bearer.forge(header(alg=ES256))


def _mixed() -> Bearer:
    return Bearer(algorithms=(EDDSA, ES256))


BEARER_REFUSALS: list[tuple[str, Callable[[Bearer], str], str]] = [
    ("alg-none", lambda b: b.forge(header(alg="none"), signature=b""), "alg_not_allowed"),
    ("alg-None", lambda b: b.forge(header(alg="None"), signature=b""), "alg_not_allowed"),
    ("alg-NONE", lambda b: b.forge(header(alg="NONE"), signature=b""), "alg_not_allowed"),
    ("alg-nOnE", lambda b: b.forge(header(alg="nOnE"), signature=b""), "alg_not_allowed"),
    ("alg-missing", lambda b: b.forge(header(alg=DROP)), "alg_not_allowed"),
    ("alg-not-a-string", lambda b: b.forge(header(alg=["EdDSA"])), "alg_not_allowed"),
    ("alg-rs256", lambda b: b.forge(header(alg="RS256")), "alg_not_allowed"),
    ("hs256-signed-with-the-public-key", _hs256_with_public_key, "alg_not_allowed"),
    ("kid-dot-dot", lambda b: b.forge(header(kid="../bearer-1")), "kid_malformed"),
    ("kid-path", lambda b: b.forge(header(kid="bearer-1/../../etc/passwd")), "kid_malformed"),
    ("kid-absolute-path", lambda b: b.forge(header(kid="/etc/passwd")), "kid_malformed"),
    ("kid-percent", lambda b: b.forge(header(kid="bearer-1%2f..%2f")), "kid_malformed"),
    ("kid-url", lambda b: b.forge(header(kid="https://evil.example/k")), "kid_malformed"),
    ("kid-upper-case", lambda b: b.forge(header(kid="BEARER-1")), "kid_malformed"),
    ("kid-newline", lambda b: b.forge(header(kid="bearer-1\n")), "kid_malformed"),
    ("kid-nul", lambda b: b.forge(header(kid="bearer-1\u0000")), "kid_malformed"),
    ("kid-empty", lambda b: b.forge(header(kid="")), "kid_malformed"),
    ("kid-number", lambda b: b.forge(header(kid=1)), "kid_malformed"),
    ("kid-leading-zero", lambda b: b.forge(header(kid="bearer-01")), "kid_unknown"),
    ("kid-unknown", lambda b: b.forge(header(kid="bearer-7")), "kid_unknown"),
    ("kid-missing", lambda b: b.forge(header(kid=DROP)), "kid_missing"),
    ("header-jku", lambda b: b.forge(header(jku="https://evil.example/jwks")), "header_jku"),
    ("header-x5u", lambda b: b.forge(header(x5u="https://evil.example/cert")), "header_x5u"),
    ("header-jwk", lambda b: b.forge(header(jwk={"kty": "OKP", "crv": "Ed25519"})), "header_jwk"),
    ("header-x5c", lambda b: b.forge(header(x5c=["MIIB"])), "header_x5c"),
    ("header-x5t", lambda b: b.forge(header(x5t="abc")), "header_x5t"),
    ("header-x5t-s256", lambda b: b.forge(header(x5t_S256="abc")), "header_x5t"),
    ("crit-unknown", lambda b: b.forge(header(crit=["exp"], exp=1)), "crit_unsupported"),
    ("crit-b64", lambda b: b.forge(header(crit=["b64"], b64=False)), "crit_unsupported"),
    ("header-unknown", lambda b: b.forge(header(cty="JWT")), "header_unknown"),
    ("typ-missing", lambda b: b.forge(header(typ=DROP)), "typ_mismatch"),
    ("typ-jwt", lambda b: b.forge(header(typ="JWT")), "typ_mismatch"),
    ("typ-upper-case", lambda b: b.forge(header(typ="AT+JWT")), "typ_mismatch"),
    ("user-action-token-as-bearer", _user_action_token, "typ_mismatch"),
    (
        "expired",
        lambda b: b.forge(payload=claims(exp=seconds(-HOUR), iat=seconds(-2 * HOUR))),
        "token_expired",
    ),
    (
        "nbf-in-the-future",
        lambda b: b.forge(payload=claims(nbf=seconds(timedelta(minutes=5)))),
        "token_not_yet_valid",
    ),
    (
        "iat-in-the-future",
        lambda b: b.forge(payload=claims(iat=seconds(timedelta(minutes=5)))),
        "token_issued_in_future",
    ),
    ("aud-missing", lambda b: b.forge(payload=claims(aud=DROP)), "aud_missing"),
    ("aud-other", lambda b: b.forge(payload=claims(aud="other-api")), "aud_mismatch"),
    ("aud-superstring", lambda b: b.forge(payload=claims(aud=AUDIENCE + ":evil")), "aud_mismatch"),
    ("aud-substring", lambda b: b.forge(payload=claims(aud="archive-core")), "aud_mismatch"),
    ("aud-list-without-ours", lambda b: b.forge(payload=claims(aud=["a", "b"])), "aud_mismatch"),
    ("aud-empty-list", lambda b: b.forge(payload=claims(aud=[])), "aud_mismatch"),
    ("iss-missing", lambda b: b.forge(payload=claims(iss=DROP)), "iss_missing"),
    (
        "iss-superstring",
        lambda b: b.forge(payload=claims(iss=ISSUER + ".evil.example")),
        "iss_mismatch",
    ),
    (
        "iss-substring",
        lambda b: b.forge(payload=claims(iss="https://auth.archive-core")),
        "iss_mismatch",
    ),
    ("iss-in-a-list", lambda b: b.forge(payload=claims(iss=[ISSUER])), "iss_mismatch"),
    ("iss-case", lambda b: b.forge(payload=claims(iss=ISSUER.upper())), "iss_mismatch"),
    ("exp-missing", lambda b: b.forge(payload=claims(exp=DROP)), "exp_missing"),
    ("iat-missing", lambda b: b.forge(payload=claims(iat=DROP)), "iat_missing"),
    ("exp-text", lambda b: b.forge(payload=claims(exp=str(seconds(HOUR)))), "claims_malformed"),
    ("exp-float", lambda b: b.forge(payload=claims(exp=seconds(HOUR) + 0.5)), "claims_malformed"),
    ("exp-boolean", lambda b: b.forge(payload=claims(exp=True)), "claims_malformed"),
    (
        "exp-before-iat",
        lambda b: b.forge(payload=claims(exp=seconds(), iat=seconds())),
        "claims_malformed",
    ),
    ("exp-huge", lambda b: b.forge(payload=claims(exp=10**20)), "claims_malformed"),
    ("jti-missing", lambda b: b.forge(payload=claims(jti=DROP)), "claims_malformed"),
    (
        "metadata-missing",
        lambda b: b.forge(payload=claims(**{APP_METADATA_CLAIM: DROP})),
        "claims_malformed",
    ),
    (
        "metadata-org-not-an-id",
        lambda b: b.forge(
            payload=claims(metadata={"orgId": "OR-1", "userId": CALLER.id, "tokenKind": "Login"})
        ),
        "claims_malformed",
    ),
    (
        "sub-of-another-user",
        lambda b: b.forge(payload=claims(sub="us-other-user-000000000002")),
        "sub_mismatch",
    ),
    (
        "token-kind-unknown",
        lambda b: b.forge(
            payload=claims(
                metadata={"orgId": CALLER.org_id, "userId": CALLER.id, "tokenKind": "Root"}
            )
        ),
        "token_kind_unknown",
    ),
    (
        "token-kind-list",
        lambda b: b.forge(
            payload=claims(
                metadata={"orgId": CALLER.org_id, "userId": CALLER.id, "tokenKind": ["Login"]}
            )
        ),
        "token_kind_unknown",
    ),
    ("tampered-payload", _tampered, "signature_invalid"),
    ("signed-by-another-key", lambda b: b.forge(key=_other_key(b)), "signature_invalid"),
    ("signature-truncated", lambda b: b.issue()[:-4], "signature_invalid"),
    ("signature-empty", lambda b: b.issue().rpartition(".")[0] + ".", "signature_invalid"),
    ("signature-not-base64url", lambda b: b.issue()[:-2] + "+/", "signature_invalid"),
    ("payload-not-json", lambda b: b.forge(payload=b"not json"), "payload_malformed"),
    (
        "payload-duplicate-claim",
        lambda b: b.forge(payload=b'{"iss":"a","iss":"b"}'),
        "payload_malformed",
    ),
    ("payload-array", lambda b: b.forge(payload=b"[1]"), "payload_malformed"),
    ("header-not-base64url", lambda b: "!!!." + b.issue().split(".", 1)[1], "header_malformed"),
    ("header-not-json", lambda b: b.forge(b"{alg"), "header_malformed"),
    (
        "header-duplicate-alg",
        lambda b: b.forge(b'{"alg":"EdDSA","alg":"none","kid":"bearer-1","typ":"at+jwt"}'),
        "header_malformed",
    ),
    ("header-array", lambda b: b.forge(b"[]"), "header_malformed"),
    ("header-nan", lambda b: b.forge(b'{"alg":NaN}'), "header_malformed"),
    ("two-segments", lambda b: b.issue().rpartition(".")[0], "token_malformed"),
    ("four-segments", lambda b: b.issue() + ".x", "token_malformed"),
    ("empty", lambda b: "", "token_malformed"),
    ("non-ascii", lambda b: b.issue() + "\u00e9", "token_malformed"),
    ("oversized-token", lambda b: "a" * 4097, "token_too_long"),
    (
        "oversized-header-segment",
        lambda b: "e" * 600 + "." + b.issue().split(".", 1)[1],
        "segment_too_large",
    ),
    (
        "oversized-payload-segment",
        lambda b: b.forge(payload=claims(pad="x" * 2000)),
        "segment_too_large",
    ),
    ("oversized-signature-segment", lambda b: b.issue() + "A" * 300, "segment_too_large"),
]


@pytest.mark.parametrize(
    ("build", "reason"),
    [pytest.param(build, reason, id=name) for name, build, reason in BEARER_REFUSALS],
)
def test_bearer_refusal(build: Callable[[Bearer], str], reason: str) -> None:
    bearer = Bearer()
    token = build(bearer)
    expect_error(lambda: bearer.verify(token), "not_authorized", reason)


def test_an_algorithm_must_be_the_keys_own() -> None:
    bearer = _mixed()
    expect_error(
        lambda: bearer.verify(_es256_header_on_eddsa_key(bearer)),
        "not_authorized",
        "alg_key_mismatch",
    )


# --------------------------------------------------------------------------- user actions


class UserActions:
    def __init__(self) -> None:
        self.store = MemorySigningKeyStore()
        self.clock = ManualClock(NOW)
        self.ring = SigningKeyRing(self.store, purpose=USER_ACTION_PURPOSE, algorithm=HS256)
        self.codec = HmacUserActionCodec(self.ring, clock=self.clock)

    def mac(self, signing_input: str) -> str:
        import hmac

        key = self.ring.signing_key(now=NOW).signer
        assert isinstance(key, bytes)
        return b64url_encode(hmac.digest(key, signing_input.encode(), "sha256"))

    def resign(self, token: str, **fields: str) -> str:
        """The token with some segments replaced, MAC'd again with the right key."""
        names = ["prefix", "kid", "token_id", "user_id", "org_id", "credential", "method",
                 "digest", "issued", "expires", "path"]  # fmt: skip
        parts = token.split(".")[:-1]
        for name, value in fields.items():
            parts[names.index(name)] = value
        signing_input = ".".join(parts)
        return f"{signing_input}.{self.mac(signing_input)}"


def test_a_user_action_token_carries_the_whole_grant_exactly() -> None:
    actions = UserActions()
    token = actions.codec.issue(GRANT)
    assert token.startswith("ua1.user-action-1.")
    assert actions.codec.decode(token) == GRANT  # microseconds included


def test_old_user_action_tokens_decode_after_rotation() -> None:
    actions = UserActions()
    old = actions.codec.issue(GRANT)
    actions.ring.rotate(now=NOW)
    new = actions.codec.issue(GRANT)
    assert new.split(".")[1] == "user-action-2"
    assert actions.codec.decode(old) == actions.codec.decode(new) == GRANT


def test_grants_that_cannot_travel_are_a_programming_error() -> None:
    import attrs

    actions = UserActions()
    with pytest.raises(ValueError, match="cannot travel"):
        actions.codec.issue(attrs.evolve(GRANT, token_id="ua.dotted"))
    with pytest.raises(ValueError, match="out of range"):
        actions.codec.issue(attrs.evolve(GRANT, issued_at=NOW.replace(year=1960)))
    # The path is encoded, so anything a path can hold travels.
    odd = attrs.evolve(GRANT, path="/a.b/c%2F..?x=é")
    assert actions.codec.decode(actions.codec.issue(odd)) == odd


def _flip_last(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def _retired(actions: UserActions) -> str:
    token = actions.codec.issue(GRANT)
    actions.ring.rotate(now=NOW)
    actions.ring.retire("user-action-1", at=NOW)
    return token


def _other_store_same_kid(actions: UserActions) -> str:
    actions.ring.signing_key(now=NOW)  # this deployment has its own user-action-1
    return UserActions().codec.issue(GRANT)


USER_ACTION_REFUSALS: list[tuple[str, Callable[[UserActions], str], str]] = [
    ("bearer-token-as-user-action", lambda a: Bearer().issue(), "typ_mismatch"),
    ("other-version", lambda a: "ua2" + a.codec.issue(GRANT)[3:], "typ_mismatch"),
    ("no-marker", lambda a: a.codec.issue(GRANT)[4:], "typ_mismatch"),
    ("empty", lambda a: "", "typ_mismatch"),
    (
        "tampered-user",
        lambda a: a.codec.issue(GRANT).replace(CALLER.id, "us-other-user-000000000002"),
        "signature_invalid",
    ),
    (
        "tampered-method",
        lambda a: a.codec.issue(GRANT).replace(".DELETE.", ".POST."),
        "signature_invalid",
    ),
    ("tampered-expiry", lambda a: a.codec.issue(GRANT).replace(".17", ".18"), "signature_invalid"),
    ("tampered-mac", lambda a: _flip_last(a.codec.issue(GRANT)), "signature_invalid"),
    ("short-mac", lambda a: a.codec.issue(GRANT)[:-2], "signature_invalid"),
    ("mac-of-another-store", _other_store_same_kid, "signature_invalid"),
    (
        "kid-unknown",
        lambda a: a.codec.issue(GRANT).replace("user-action-1", "user-action-9"),
        "kid_unknown",
    ),
    (
        "kid-path",
        lambda a: a.codec.issue(GRANT).replace("user-action-1", "%2e%2e%2fkeys"),
        "kid_malformed",
    ),
    ("kid-empty", lambda a: a.codec.issue(GRANT).replace("user-action-1", ""), "kid_malformed"),
    ("retired-key", _retired, "kid_retired"),
    ("extra-segment", lambda a: a.codec.issue(GRANT) + ".x", "token_malformed"),
    ("missing-segment", lambda a: a.codec.issue(GRANT).rpartition(".")[0], "token_malformed"),
    ("non-ascii", lambda a: a.codec.issue(GRANT) + "\u00e9", "token_malformed"),
    ("oversized", lambda a: "ua1." + "a" * 4100, "token_too_long"),
    (
        "method-unknown",
        lambda a: a.resign(a.codec.issue(GRANT), method="TRACE"),
        "payload_malformed",
    ),
    (
        "digest-not-hex",
        lambda a: a.resign(a.codec.issue(GRANT), digest="z" * 64),
        "payload_malformed",
    ),
    ("time-not-digits", lambda a: a.resign(a.codec.issue(GRANT), issued="-1"), "payload_malformed"),
    (
        "issued-after-expiry",
        lambda a: a.resign(a.codec.issue(GRANT), issued="9" * 16),
        "payload_malformed",
    ),
    (
        "time-beyond-range",
        lambda a: a.resign(a.codec.issue(GRANT), issued="1", expires="9" * 30),
        "payload_malformed",
    ),
    (
        "path-not-base64url",
        lambda a: a.resign(a.codec.issue(GRANT), path="!!"),
        "payload_malformed",
    ),
    (
        "path-not-utf8",
        lambda a: a.resign(a.codec.issue(GRANT), path=b64url_encode(b"\xff\xfe")),
        "payload_malformed",
    ),
    ("token-id-empty", lambda a: a.resign(a.codec.issue(GRANT), token_id=""), "payload_malformed"),
]


@pytest.mark.parametrize(
    ("build", "reason"),
    [pytest.param(build, reason, id=name) for name, build, reason in USER_ACTION_REFUSALS],
)
def test_user_action_refusal(build: Callable[[UserActions], str], reason: str) -> None:
    actions = UserActions()
    token = build(actions)
    expect_error(lambda: actions.codec.decode(token), "user_action_invalid", reason)


def test_a_kid_from_a_damaged_store_entry_is_named_as_such() -> None:
    from adapters.crypto.signing_keys import HS256 as HMAC
    from archive_core.ports import SigningKey

    actions = UserActions()
    token = actions.codec.issue(GRANT)
    actions.store.add(
        SigningKey(
            kid="user-action-2",
            purpose=USER_ACTION_PURPOSE,
            algorithm=HMAC,
            private_key="short",
            created_at=NOW,
        )
    )
    actions.ring.refresh(now=NOW)
    forged = token.replace("user-action-1", "user-action-2")
    expect_error(lambda: actions.codec.decode(forged), "user_action_invalid", "kid_unusable")
    bearer = Bearer()
    bearer.store.add(
        SigningKey(
            kid="bearer-2",
            purpose=BEARER_PURPOSE,
            algorithm=EDDSA,
            private_key="junk",
            created_at=NOW,
        )
    )
    bearer.ring.refresh(now=NOW)
    expect_error(
        lambda: bearer.verify(bearer.forge(header(kid="bearer-2"))),
        "not_authorized",
        "kid_unusable",
    )


def test_base64_helpers_agree() -> None:
    assert base64.urlsafe_b64decode(b64url_encode(b"\xff\x00") + "==") == b"\xff\x00"
