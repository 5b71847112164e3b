"""Key-kind credentials: the official SDK's signatures verify, keys load once, keys are vetted."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from dfns_sdk.auth import KeySigner  # type: ignore[import-untyped]  # the SDK ships no types

from adapters.crypto.keys import (
    ECDSA_P256,
    ECDSA_P384,
    ECDSA_SECP256K1,
    ED25519,
    RSA_PKCS1V15,
    RSA_PSS,
    KeyChoice,
    KeySignatureVerifier,
    algorithm_for_public_key,
    check_ed25519_point,
    generate_key_credential,
)
from archive_core.encoding import b64url_decode
from archive_core.entities import Credential, CredentialKind
from archive_core.ids import CredentialUuid, OrgId, UserId
from tests.crypto.support import expect_error
from tests.vectors.generate import NON_CANONICAL_ED25519, SMALL_ORDER_ED25519

CHOICES: tuple[KeyChoice, ...] = ("ed25519", "p256", "secp256k1", "rsa")


def key_credential(
    public_key: str, algorithm: str, kind: CredentialKind = CredentialKind.KEY
) -> Credential:
    return Credential(
        uuid=CredentialUuid("cr-test-cred-000000000001"),
        cred_id="cred-1",
        user_id=UserId("us-test-user-000000000001"),
        org_id=OrgId("or-test-org-000000000001"),
        kind=kind,
        public_key=public_key,
        algorithm=algorithm,
    )


def sdk_assertion(private_pem: str, challenge: str = "Y2hhbGxlbmdl") -> tuple[bytes, bytes]:
    signed: Any = KeySigner("cred-1", private_pem).sign(
        {"challenge": challenge}  # the signer reads only the challenge
    )
    assertion = signed["credentialAssertion"]
    return b64url_decode(assertion["clientData"]), b64url_decode(assertion["signature"])


@pytest.mark.parametrize("choice", CHOICES)
@pytest.mark.parametrize(
    "kind",
    [CredentialKind.KEY, CredentialKind.PASSWORD_PROTECTED_KEY, CredentialKind.RECOVERY_KEY],
)
def test_generated_keys_sign_with_the_official_sdk_and_verify(
    choice: KeyChoice, kind: CredentialKind
) -> None:
    private_pem, public_pem, algorithm = generate_key_credential(choice)
    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8
    verifier = KeySignatureVerifier()
    verifier.validate_public_key(kind, algorithm, public_pem)
    client_data, signature = sdk_assertion(private_pem)
    verifier.verify(
        key_credential(public_pem, algorithm, kind), message=client_data, signature=signature
    )


def test_generated_key_algorithms() -> None:
    assert [generate_key_credential(c)[2] for c in CHOICES] == [
        ED25519,
        ECDSA_P256,
        ECDSA_SECP256K1,
        RSA_PKCS1V15,
    ]
    with pytest.raises(ValueError, match="unknown key choice"):
        generate_key_credential("dsa")  # type: ignore[arg-type]


def test_p384_and_pss_verify() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    rsa_key = rsa.generate_private_key(65537, 2048)
    verifier = KeySignatureVerifier()
    message = b'{"type":"key.get","challenge":"abc"}'
    pem = (
        p384.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    verifier.verify(
        key_credential(pem, ECDSA_P384),
        message=message,
        signature=p384.sign(message, ec.ECDSA(hashes.SHA256())),
    )
    rsa_pem = (
        rsa_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    verifier.verify(
        key_credential(rsa_pem, RSA_PSS),
        message=message,
        signature=rsa_key.sign(message, pss, hashes.SHA256()),
    )
    # A PSS signature is not a PKCS#1 v1.5 one: the stored algorithm decides.
    expect_error(
        lambda: verifier.verify(
            key_credential(rsa_pem, RSA_PKCS1V15),
            message=message,
            signature=rsa_key.sign(message, pss, hashes.SHA256()),
        ),
        "assertion_invalid",
        "signature_invalid",
    )
    # PSS with a salt other than the digest length is refused.
    long_salt = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=64)
    expect_error(
        lambda: verifier.verify(
            key_credential(rsa_pem, RSA_PSS),
            message=message,
            signature=rsa_key.sign(message, long_salt, hashes.SHA256()),
        ),
        "assertion_invalid",
        "signature_invalid",
    )


def test_the_assertions_algorithm_field_is_not_trusted() -> None:
    # An Ed25519 credential stays Ed25519 whatever a client claims: only the stored
    # algorithm picks the verification, so an RSA "algorithm" cannot downgrade it.
    private_pem, public_pem, _ = generate_key_credential("ed25519")
    client_data, signature = sdk_assertion(private_pem)
    verifier = KeySignatureVerifier()
    expect_error(
        lambda: verifier.verify(
            key_credential(public_pem, RSA_PKCS1V15), message=client_data, signature=signature
        ),
        "assertion_invalid",
        "key_type_mismatch",
    )


def test_each_public_key_is_loaded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[bytes] = []
    real = serialization.load_der_public_key

    def counting(data: bytes, backend: Any = None) -> Any:
        loads.append(data)
        return real(data)

    monkeypatch.setattr(serialization, "load_der_public_key", counting)
    private_pem, public_pem, algorithm = generate_key_credential("p256")
    client_data, signature = sdk_assertion(private_pem)
    verifier = KeySignatureVerifier()
    verifier.validate_public_key(CredentialKind.KEY, algorithm, public_pem)
    for _ in range(5):
        verifier.verify(
            key_credential(public_pem, algorithm), message=client_data, signature=signature
        )
    assert len(loads) == 1


def test_the_key_cache_is_bounded_and_evicted_keys_load_again() -> None:
    verifier = KeySignatureVerifier(max_cached_keys=2)
    material = [generate_key_credential("ed25519") for _ in range(3)]
    for _round in range(2):
        for private_pem, public_pem, algorithm in material:
            client_data, signature = sdk_assertion(private_pem)
            verifier.verify(
                key_credential(public_pem, algorithm), message=client_data, signature=signature
            )
    with pytest.raises(ValueError, match="at least 1"):
        KeySignatureVerifier(max_cached_keys=0)


def test_a_damaged_stored_key_is_an_assertion_failure_not_a_crash() -> None:
    expect_error(
        lambda: KeySignatureVerifier().verify(
            key_credential("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", ED25519),
            message=b"m",
            signature=bytes(64),
        ),
        "assertion_invalid",
        "public_key_malformed",
    )


def test_a_fido2_credential_is_not_a_key_credential() -> None:
    _, public_pem, algorithm = generate_key_credential("ed25519")
    verifier = KeySignatureVerifier()
    expect_error(
        lambda: verifier.verify(
            key_credential(public_pem, algorithm, CredentialKind.FIDO2),
            message=b"m",
            signature=bytes(64),
        ),
        "assertion_invalid",
        "kind_not_supported",
    )
    expect_error(
        lambda: verifier.validate_public_key(CredentialKind.FIDO2, algorithm, public_pem),
        "credential_rejected",
        "kind_not_supported",
    )


@pytest.mark.parametrize("encoding", SMALL_ORDER_ED25519)
def test_every_small_order_ed25519_point_is_refused(encoding: str) -> None:
    assert check_ed25519_point(bytes.fromhex(encoding)) == "ed25519_small_order"


@pytest.mark.parametrize("encoding", NON_CANONICAL_ED25519)
def test_non_canonical_ed25519_encodings_are_refused(encoding: str) -> None:
    assert check_ed25519_point(bytes.fromhex(encoding)) == "ed25519_non_canonical"


def test_ordinary_ed25519_keys_pass_and_off_curve_points_do_not() -> None:
    for _ in range(20):
        raw = (
            ed25519.Ed25519PrivateKey.generate()
            .public_key()
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        assert check_ed25519_point(raw) is None
    # y = 2 has no x on the curve.
    assert check_ed25519_point((2).to_bytes(32, "little")) == "ed25519_not_on_curve"
    assert check_ed25519_point(b"\x01" * 31) == "public_key_malformed"


def test_algorithm_for_public_key() -> None:
    def pem(key: Any) -> str:
        data: bytes = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return data.decode()

    assert algorithm_for_public_key(pem(ed25519.Ed25519PrivateKey.generate())) == ED25519
    assert algorithm_for_public_key(pem(ec.generate_private_key(ec.SECP256R1()))) == ECDSA_P256
    assert algorithm_for_public_key(pem(ec.generate_private_key(ec.SECP384R1()))) == ECDSA_P384
    assert algorithm_for_public_key(pem(ec.generate_private_key(ec.SECP256K1()))) == ECDSA_SECP256K1
    assert algorithm_for_public_key(pem(rsa.generate_private_key(65537, 2048))) == RSA_PKCS1V15
    expect_error(
        lambda: algorithm_for_public_key(pem(ec.generate_private_key(ec.SECP521R1()))),
        "credential_rejected",
        "key_type_mismatch",
    )
    expect_error(
        lambda: algorithm_for_public_key("nope"), "credential_rejected", "public_key_malformed"
    )


def test_pem_with_windows_line_endings_and_surrounding_space_is_accepted() -> None:
    _, public_pem, algorithm = generate_key_credential("p256")
    KeySignatureVerifier().validate_public_key(
        CredentialKind.KEY, algorithm, "\n  " + public_pem.replace("\n", "\r\n") + "  "
    )


def test_non_ascii_pem_is_malformed() -> None:
    _, public_pem, algorithm = generate_key_credential("p256")
    expect_error(
        lambda: KeySignatureVerifier().validate_public_key(
            CredentialKind.KEY, algorithm, public_pem.replace("A", "\u0410", 1)
        ),
        "credential_rejected",
        "public_key_malformed",
    )


def test_a_cached_key_does_not_let_another_kind_through() -> None:
    private_pem, public_pem, algorithm = generate_key_credential("ed25519")
    client_data, signature = sdk_assertion(private_pem)
    verifier = KeySignatureVerifier()
    verifier.verify(key_credential(public_pem, algorithm), message=client_data, signature=signature)
    expect_error(
        lambda: verifier.verify(
            key_credential(public_pem, algorithm, CredentialKind.FIDO2),
            message=client_data,
            signature=signature,
        ),
        "assertion_invalid",
        "kind_not_supported",
    )


_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P


def _times_eight_is_identity(raw: bytes) -> bool:
    """An independent oracle: decode the point (RFC 8032 §5.1.3), double it three times."""
    value = int.from_bytes(raw, "little")
    sign, y = value >> 255, value & ((1 << 255) - 1)
    u, v = (y * y - 1) % _P, (_D * y * y + 1) % _P
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    if (v * x * x - u) % _P:
        x = x * pow(2, (_P - 1) // 4, _P) % _P
    assert (v * x * x - u) % _P == 0, "not on the curve"
    if x & 1 != sign:
        x = _P - x
    for _ in range(3):
        xx, yy = x * x % _P, y * y % _P
        dxxyy = _D * xx * yy % _P
        x, y = (
            2 * x * y * pow(1 + dxxyy, _P - 2, _P) % _P,
            (yy + xx) * pow(1 - dxxyy, _P - 2, _P) % _P,
        )
    return (x, y) == (0, 1)


@pytest.mark.parametrize("encoding", SMALL_ORDER_ED25519)
def test_the_small_order_list_is_what_the_curve_says(encoding: str) -> None:
    assert _times_eight_is_identity(bytes.fromhex(encoding))


def test_ordinary_keys_are_not_small_order_by_the_oracle_either() -> None:
    for _ in range(5):
        raw = (
            ed25519.Ed25519PrivateKey.generate()
            .public_key()
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        assert not _times_eight_is_identity(raw)
        assert check_ed25519_point(raw) is None


def test_a_compressed_ec_point_is_not_the_canonical_encoding() -> None:
    import base64

    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    )
    spki = bytes.fromhex("3039301306072a8648ce3d020106082a8648ce3d030107032200") + point
    pem = (
        f"-----BEGIN PUBLIC KEY-----\n{base64.b64encode(spki).decode()}\n-----END PUBLIC KEY-----\n"
    )
    expect_error(
        lambda: KeySignatureVerifier().validate_public_key(CredentialKind.KEY, ECDSA_P256, pem),
        "credential_rejected",
        "public_key_not_canonical",
    )
