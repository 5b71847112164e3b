"""Fido2: the parser's reading of authenticatorData, COSE keys of every accepted algorithm."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from fido2 import cbor

from adapters.crypto.webauthn import (
    COSE_ES256,
    COSE_ES384,
    COSE_PS256,
    COSE_RS256,
    Fido2SignatureVerifier,
    WebAuthnAuthenticatorDataParser,
)
from archive_core.encoding import b64url_encode
from archive_core.entities import Credential, CredentialKind
from archive_core.ids import CredentialUuid, OrgId, UserId
from tests.crypto.authenticator import (
    FLAG_BE,
    FLAG_BS,
    FLAG_ED,
    FLAG_UP,
    FLAG_UV,
    SoftwareAuthenticator,
    authenticator_data,
    cose_key,
)
from tests.crypto.support import expect_error

MESSAGE = authenticator_data("app.example", FLAG_UP, 1) + hashlib.sha256(b"{}").digest()


def fido2_credential(public_key: str, algorithm: str) -> Credential:
    return Credential(
        uuid=CredentialUuid("cr-test-cred-000000000001"),
        cred_id="soft-cred",
        user_id=UserId("us-test-user-000000000001"),
        org_id=OrgId("or-test-org-000000000001"),
        kind=CredentialKind.FIDO2,
        public_key=public_key,
        algorithm=algorithm,
    )


def test_the_parser_reads_every_field() -> None:
    parser = WebAuthnAuthenticatorDataParser()
    raw = authenticator_data("app.example", FLAG_UP | FLAG_UV | FLAG_BE | FLAG_BS, 0x01020304)
    data = parser.parse(raw)
    assert data.rp_id_hash == hashlib.sha256(b"app.example").digest()
    assert (data.user_present, data.user_verified) == (True, True)
    assert (data.backup_eligible, data.backup_state) == (True, True)
    assert data.sign_count == 0x01020304
    bare = parser.parse(authenticator_data("app.example", 0, 0))
    assert not (bare.user_present or bare.user_verified or bare.backup_eligible)


def test_the_parser_accepts_canonical_extensions_and_its_bound_is_configurable() -> None:
    extensions = cbor.encode({"credProtect": 2, "hmac-secret": True})
    raw = authenticator_data("app.example", FLAG_UP | FLAG_ED, 1, extensions=extensions)
    assert WebAuthnAuthenticatorDataParser().parse(raw).sign_count == 1
    expect_error(
        lambda: WebAuthnAuthenticatorDataParser(max_length=40).parse(raw),
        "assertion_invalid",
        "authenticator_data_too_long",
    )


def test_non_canonical_extension_maps_are_refused() -> None:
    # Same map, keys out of CTAP2 canonical order: a second spelling of the same data.
    swapped = b"\xa2" + cbor.encode("zz") + cbor.encode(1) + cbor.encode("a") + cbor.encode(2)
    raw = authenticator_data("app.example", FLAG_UP | FLAG_ED, 1, extensions=swapped)
    expect_error(
        lambda: WebAuthnAuthenticatorDataParser().parse(raw),
        "assertion_invalid",
        "authenticator_data_extensions_malformed",
    )


def test_deeply_nested_extensions_are_a_domain_error_not_a_recursion_error() -> None:
    nested = b"\xa1\x61a" + b"\x81" * 900 + b"\x00"
    raw = authenticator_data("app.example", FLAG_UP | FLAG_ED, 1, extensions=nested)
    expect_error(
        lambda: WebAuthnAuthenticatorDataParser().parse(raw),
        "assertion_invalid",
        "authenticator_data_extensions_malformed",
    )


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
def test_software_authenticator_signatures_verify(algorithm: str) -> None:
    device = SoftwareAuthenticator(algorithm)  # type: ignore[arg-type]
    verifier = Fido2SignatureVerifier()
    verifier.validate_public_key(CredentialKind.FIDO2, device.cose_algorithm, device.public_key)
    credential = fido2_credential(device.public_key, device.cose_algorithm)
    verifier.verify(credential, message=MESSAGE, signature=device.sign(MESSAGE))
    expect_error(
        lambda: verifier.verify(credential, message=MESSAGE + b"x", signature=device.sign(MESSAGE)),
        "assertion_invalid",
        "signature_invalid",
    )


def test_rsa_and_p384_cose_keys_verify() -> None:
    rsa_key = rsa.generate_private_key(65537, 2048)
    p384 = ec.generate_private_key(ec.SECP384R1())
    verifier = Fido2SignatureVerifier()
    rs256 = b64url_encode(cbor.encode(cose_key(rsa_key.public_key(), "RS256")))
    verifier.verify(
        fido2_credential(rs256, COSE_RS256),
        message=MESSAGE,
        signature=rsa_key.sign(MESSAGE, padding.PKCS1v15(), hashes.SHA256()),
    )
    ps256 = b64url_encode(cbor.encode(cose_key(rsa_key.public_key(), "PS256")))
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    verifier.verify(
        fido2_credential(ps256, COSE_PS256),
        message=MESSAGE,
        signature=rsa_key.sign(MESSAGE, pss, hashes.SHA256()),
    )
    es384 = b64url_encode(cbor.encode(cose_key(p384.public_key(), "ES384")))
    verifier.verify(
        fido2_credential(es384, COSE_ES384),
        message=MESSAGE,
        signature=p384.sign(MESSAGE, ec.ECDSA(hashes.SHA384())),
    )


def test_a_cose_key_is_decoded_once() -> None:
    device = SoftwareAuthenticator("ES256")
    verifier = Fido2SignatureVerifier(max_cached_keys=1)
    credential = fido2_credential(device.public_key, COSE_ES256)
    verifier.verify(credential, message=MESSAGE, signature=device.sign(MESSAGE))
    # Evicted by another key, then loaded again: both still verify.
    other = SoftwareAuthenticator("ES256")
    verifier.verify(
        fido2_credential(other.public_key, COSE_ES256),
        message=MESSAGE,
        signature=other.sign(MESSAGE),
    )
    verifier.verify(credential, message=MESSAGE, signature=device.sign(MESSAGE))


def test_a_key_credential_is_not_a_fido2_credential() -> None:
    device = SoftwareAuthenticator("ES256")
    verifier = Fido2SignatureVerifier()
    credential = Credential(
        uuid=CredentialUuid("cr-test-cred-000000000001"),
        cred_id="soft-cred",
        user_id=UserId("us-test-user-000000000001"),
        org_id=OrgId("or-test-org-000000000001"),
        kind=CredentialKind.KEY,
        public_key=device.public_key,
        algorithm=COSE_ES256,
    )
    expect_error(
        lambda: verifier.verify(credential, message=MESSAGE, signature=device.sign(MESSAGE)),
        "assertion_invalid",
        "kind_not_supported",
    )
    expect_error(
        lambda: verifier.validate_public_key(CredentialKind.KEY, COSE_ES256, device.public_key),
        "credential_rejected",
        "kind_not_supported",
    )


def test_a_damaged_stored_cose_key_is_an_assertion_failure() -> None:
    expect_error(
        lambda: Fido2SignatureVerifier().verify(
            fido2_credential("not-cbor", COSE_ES256), message=MESSAGE, signature=b"\x30"
        ),
        "assertion_invalid",
        "public_key_malformed",
    )
    expect_error(
        lambda: Fido2SignatureVerifier().verify(
            fido2_credential("A" * 3000, COSE_ES256), message=MESSAGE, signature=b"\x30"
        ),
        "assertion_invalid",
        "public_key_too_large",
    )


def test_a_cached_cose_key_does_not_let_another_kind_through() -> None:
    device = SoftwareAuthenticator("EdDSA")
    verifier = Fido2SignatureVerifier()
    credential = fido2_credential(device.public_key, device.cose_algorithm)
    verifier.verify(credential, message=MESSAGE, signature=device.sign(MESSAGE))
    as_key = Credential(
        uuid=credential.uuid,
        cred_id=credential.cred_id,
        user_id=credential.user_id,
        org_id=credential.org_id,
        kind=CredentialKind.RECOVERY_KEY,
        public_key=credential.public_key,
        algorithm=credential.algorithm,
    )
    expect_error(
        lambda: verifier.verify(as_key, message=MESSAGE, signature=device.sign(MESSAGE)),
        "assertion_invalid",
        "kind_not_supported",
    )
