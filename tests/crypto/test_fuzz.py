"""Arbitrary bytes and strings into every parser: only domain errors come out.

Each property feeds hostile input to one entry point of the crypto adapters (and
to the core's clientData path through them) and accepts exactly two outcomes: a
result, or an `ArchiveCoreError` of the kind that entry point owes.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from adapters.crypto.keys import KEY_ALGORITHMS, KeySignatureVerifier, generate_key_credential
from adapters.crypto.signing_keys import (
    BEARER_PURPOSE,
    EDDSA,
    HS256,
    USER_ACTION_PURPOSE,
    SigningKeyRing,
)
from adapters.crypto.tokens import HmacUserActionCodec, JwtBearerTokens
from adapters.crypto.webauthn import (
    COSE_ALGORITHMS,
    Fido2SignatureVerifier,
    WebAuthnAuthenticatorDataParser,
)
from adapters.storage.memory import MemorySigningKeyStore
from adapters.system.clocks import ManualClock
from archive_core.encoding import b64url_encode
from archive_core.entities import CredentialKind, TokenKind
from archive_core.errors import ArchiveCoreError
from archive_core.user_action import parse_factor
from tests.crypto.authenticator import FLAG_ED, FLAG_UP, SoftwareAuthenticator, authenticator_data
from tests.crypto.support import CALLER, GRANT, NOW, credential, load_vectors, verify_case
from tests.crypto.test_keys import key_credential

PARSER = WebAuthnAuthenticatorDataParser()
KEYS = KeySignatureVerifier()
FIDO2 = Fido2SignatureVerifier()
_STORE = MemorySigningKeyStore()
BEARER = JwtBearerTokens(
    SigningKeyRing(_STORE, purpose=BEARER_PURPOSE, algorithm=EDDSA),
    issuer="https://auth.archive-core.test",
    audience="archive-core:api",
)
CODEC = HmacUserActionCodec(
    SigningKeyRing(_STORE, purpose=USER_ACTION_PURPOSE, algorithm=HS256), clock=ManualClock(NOW)
)
GOOD_BEARER = BEARER.issue(CALLER, now=NOW, ttl=timedelta(hours=1), token_kind=TokenKind.LOGIN)
GOOD_USER_ACTION = CODEC.issue(GRANT)
_, ED25519_PEM, ED25519_ALG = generate_key_credential("ed25519")
_, P256_PEM, P256_ALG = generate_key_credential("p256")
DEVICE = SoftwareAuthenticator("ES256")
KEY_VECTORS = load_vectors("key_assertions.json")
WEBAUTHN_VECTORS = load_vectors("webauthn_assertions.json")

TOKEN_ALPHABET = st.sampled_from("abcXYZ019-_.=+/ ~\x00é")


def only_domain_errors(kinds: set[str], call: Any) -> None:
    try:
        call()
    except ArchiveCoreError as error:
        refused = error
    else:
        return
    assert refused.code in kinds, repr(refused)


def mutate(text: str, position: int, replacement: str) -> str:
    index = position % (len(text) + 1)
    return text[:index] + replacement + text[index + 1 :]


# --------------------------------------------------------------------------- authenticatorData


@given(st.binary(max_size=1200))
def test_authenticator_data_from_arbitrary_bytes(raw: bytes) -> None:
    only_domain_errors({"assertion_invalid"}, lambda: PARSER.parse(raw))


@given(st.binary(max_size=300), st.integers(0, 255))
def test_authenticator_data_with_arbitrary_extensions(tail: bytes, flags: int) -> None:
    raw = authenticator_data("app.example", flags | FLAG_UP | FLAG_ED, 1) + tail
    only_domain_errors({"assertion_invalid"}, lambda: PARSER.parse(raw))


# --------------------------------------------------------------------------- keys


@given(
    st.sampled_from([*KEY_ALGORITHMS, "RSA-PKCS1v15-SHA1", "", "-7"]),
    st.text(max_size=600),
)
def test_pem_public_keys_from_arbitrary_text(algorithm: str, text: str) -> None:
    only_domain_errors(
        {"credential_rejected"},
        lambda: KEYS.validate_public_key(CredentialKind.KEY, algorithm, text),
    )


@given(st.binary(max_size=400))
def test_pem_public_keys_with_arbitrary_bodies(body: bytes) -> None:
    import base64

    pem = (
        "-----BEGIN PUBLIC KEY-----\n"
        + base64.b64encode(body).decode()
        + "\n-----END PUBLIC KEY-----\n"
    )
    for algorithm in KEY_ALGORITHMS:
        only_domain_errors(
            {"credential_rejected"},
            lambda algorithm=algorithm: KEYS.validate_public_key(
                CredentialKind.KEY, algorithm, pem
            ),
        )


@given(st.binary(max_size=600))
def test_key_signatures_from_arbitrary_bytes(signature: bytes) -> None:
    for pem, algorithm in ((ED25519_PEM, ED25519_ALG), (P256_PEM, P256_ALG)):
        only_domain_errors(
            {"assertion_invalid"},
            lambda pem=pem, algorithm=algorithm: KEYS.verify(
                key_credential(pem, algorithm), message=b"m", signature=signature
            ),
        )


@given(
    st.sampled_from([str(a) for a in COSE_ALGORITHMS] + ["-65535", "x", "-0"]),
    st.text(max_size=300),
)
def test_cose_keys_from_arbitrary_text(algorithm: str, text: str) -> None:
    only_domain_errors(
        {"credential_rejected"},
        lambda: FIDO2.validate_public_key(CredentialKind.FIDO2, algorithm, text),
    )


@given(st.binary(max_size=300))
def test_cose_keys_from_arbitrary_cbor_bytes(raw: bytes) -> None:
    only_domain_errors(
        {"credential_rejected"},
        lambda: FIDO2.validate_public_key(CredentialKind.FIDO2, "-7", b64url_encode(raw)),
    )


@given(
    st.dictionaries(
        st.integers(-5, 5),
        st.one_of(st.integers(-300, 300), st.binary(max_size=70), st.text(max_size=5)),
        max_size=7,
    )
)
def test_cose_keys_from_arbitrary_maps(mapping: dict[int, Any]) -> None:
    from fido2 import cbor

    encoded = b64url_encode(cbor.encode(mapping))
    for algorithm in ("-7", "-8", "-257"):
        only_domain_errors(
            {"credential_rejected"},
            lambda algorithm=algorithm: FIDO2.validate_public_key(
                CredentialKind.FIDO2, algorithm, encoded
            ),
        )


@given(st.binary(max_size=300))
def test_fido2_signatures_from_arbitrary_bytes(signature: bytes) -> None:
    stored = credential(
        "soft",
        {"kind": "Fido2", "algorithm": "-7", "publicKey": DEVICE.public_key},
    )
    only_domain_errors(
        {"assertion_invalid"},
        lambda: FIDO2.verify(stored, message=b"m" * 69, signature=signature),
    )


# --------------------------------------------------------------------------- clientData, via the core


@given(st.binary(max_size=500), st.sampled_from(KEY_VECTORS["cases"][:2]))
def test_key_client_data_from_arbitrary_bytes(client_data: bytes, case: dict[str, Any]) -> None:
    bent = {**case, "clientData": b64url_encode(client_data)}
    only_domain_errors({"assertion_invalid"}, lambda: verify_case(KEY_VECTORS, bent))


@given(
    st.dictionaries(
        st.sampled_from(["type", "challenge", "origin", "crossOrigin", "topOrigin", "x"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
    ),
    st.binary(max_size=80),
)
def test_webauthn_assertion_parts_from_arbitrary_values(
    client_data: dict[str, Any], authenticator: bytes
) -> None:
    case = {
        **WEBAUTHN_VECTORS["cases"][0],
        "clientData": b64url_encode(json.dumps(client_data).encode()),
        "authenticatorData": b64url_encode(authenticator),
    }
    only_domain_errors({"assertion_invalid"}, lambda: verify_case(WEBAUTHN_VECTORS, case))


@given(
    st.recursive(
        st.none() | st.booleans() | st.text(max_size=8),
        lambda c: st.lists(c) | st.dictionaries(st.text(max_size=8), c),
        max_leaves=10,
    )
)
def test_assertion_bodies_from_arbitrary_json(value: Any) -> None:
    only_domain_errors({"body_invalid"}, lambda: parse_factor(value, "firstFactor"))
    factor = {"kind": "Key", "credentialAssertion": value}
    only_domain_errors({"body_invalid"}, lambda: parse_factor(factor, "firstFactor"))


# --------------------------------------------------------------------------- tokens


@given(st.text(max_size=700))
def test_bearer_tokens_from_arbitrary_text(token: str) -> None:
    only_domain_errors({"not_authorized"}, lambda: BEARER.verify(token, now=NOW))


@given(st.text(TOKEN_ALPHABET, max_size=600))
def test_bearer_tokens_from_token_like_text(token: str) -> None:
    only_domain_errors({"not_authorized"}, lambda: BEARER.verify(token, now=NOW))


@given(st.integers(0, 10_000), st.text(TOKEN_ALPHABET, min_size=1, max_size=3))
def test_mutated_bearer_tokens(position: int, replacement: str) -> None:
    token = mutate(GOOD_BEARER, position, replacement)
    only_domain_errors({"not_authorized"}, lambda: BEARER.verify(token, now=NOW))


@given(
    st.dictionaries(
        st.text(max_size=6), st.one_of(st.none(), st.integers(), st.text(max_size=8)), max_size=5
    ),
    st.binary(max_size=100),
)
def test_bearer_tokens_with_arbitrary_headers(header: dict[str, Any], body: bytes) -> None:
    token = ".".join(
        [b64url_encode(json.dumps(header).encode()), b64url_encode(body), b64url_encode(body[:64])]
    )
    only_domain_errors({"not_authorized"}, lambda: BEARER.verify(token, now=NOW))


@given(st.text(max_size=700))
def test_user_action_tokens_from_arbitrary_text(token: str) -> None:
    only_domain_errors({"user_action_invalid"}, lambda: CODEC.decode(token))
    only_domain_errors({"user_action_invalid"}, lambda: CODEC.decode("ua1." + token))


@given(st.integers(0, 10_000), st.text(TOKEN_ALPHABET, min_size=1, max_size=3))
def test_mutated_user_action_tokens(position: int, replacement: str) -> None:
    token = mutate(GOOD_USER_ACTION, position, replacement)
    only_domain_errors({"user_action_invalid"}, lambda: CODEC.decode(token))


def test_the_fuzzed_originals_are_genuine() -> None:
    assert BEARER.verify(GOOD_BEARER, now=NOW).user_id == CALLER.id
    assert CODEC.decode(GOOD_USER_ACTION) == GRANT
    assert hashlib.sha256(GOOD_BEARER.encode()).digest()
