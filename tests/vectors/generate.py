"""Generate the committed crypto test vectors (JSON) beside this file.

Run from the repository root:

    .venv/bin/python tests/vectors/generate.py

Keys are fresh on every run (ECDSA signatures are randomised anyway), so the files
change completely; the *cases* and their expected outcomes do not. Three files:

- `key_assertions.json`: Key-kind assertions for every algorithm, with clientData
  built both ways the official SDKs build it (the Python SDK's `KeySigner` itself,
  and the TypeScript SDK's `JSON.stringify({type, challenge})`), plus negatives.
- `key_registration.json`: public keys offered at credential creation (PEM and COSE).
- `webauthn_assertions.json`: Fido2 assertions from the software authenticator.

Every case names its expected outcome: `{"ok": true}` or the domain error's
`{"code", "reason"}`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(_ROOT))

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402 - after sys.path
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import (  # noqa: E402
    decode_dss_signature,
    encode_dss_signature,
)
from dfns_sdk.auth import KeySigner  # type: ignore[import-untyped]  # noqa: E402 - untyped SDK
from fido2 import cbor  # noqa: E402

from tests.crypto.authenticator import (  # noqa: E402
    FLAG_AT,
    FLAG_BE,
    FLAG_BS,
    FLAG_ED,
    FLAG_UP,
    FLAG_UV,
    SoftwareAuthenticator,
    authenticator_data,
    cose_key,
)

HERE = Path(__file__).resolve().parent
CHALLENGE = "dmVjdG9yLWNoYWxsZW5nZS0wMDAxLWFyY2hpdmUtY29yZQ"
OTHER_CHALLENGE = "dmVjdG9yLWNoYWxsZW5nZS0wMDAyLWFyY2hpdmUtY29yZQ"
SDK_ORIGIN = "https://app.dfns.io"
RP_ID = "app.example"
ORIGIN = "https://app.example"

OK: dict[str, Any] = {"ok": True}
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fail(code: str, reason: str) -> dict[str, Any]:
    return {"code": code, "reason": reason}


def assertion_error(reason: str) -> dict[str, Any]:
    return fail("assertion_invalid", reason)


def rejected(reason: str) -> dict[str, Any]:
    return fail("credential_rejected", reason)


def compact(document: dict[str, Any]) -> bytes:
    """`json.dumps(..., separators=(",", ":"))`; equal to JS `JSON.stringify` for ASCII."""
    return json.dumps(document, separators=(",", ":")).encode()


def private_pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_pem(key: Any, form: serialization.PublicFormat | None = None) -> str:
    pem: bytes = key.public_bytes(
        serialization.Encoding.PEM, form or serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


def spki_pem(der: bytes) -> str:
    body = base64.b64encode(der).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"


# --------------------------------------------------------------------------- key kinds

KEY_ALGORITHMS: dict[str, tuple[str, Callable[[], PrivateKey]]] = {
    "ed25519": ("Ed25519", ed25519.Ed25519PrivateKey.generate),
    "p256": ("ECDSA-P256-SHA256", lambda: ec.generate_private_key(ec.SECP256R1())),
    "p384": ("ECDSA-P384-SHA256", lambda: ec.generate_private_key(ec.SECP384R1())),
    "secp256k1": ("ECDSA-secp256k1-SHA256", lambda: ec.generate_private_key(ec.SECP256K1())),
    "rsa": ("RSA-PKCS1v15-SHA256", lambda: rsa.generate_private_key(65537, 2048)),
    "rsa_pss": ("RSA-PSS-SHA256", lambda: rsa.generate_private_key(65537, 2048)),
}
CURVE_ORDERS = {
    "p256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "p384": int(
        "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf"
        "581a0db248b0a77aecec196accc52973",
        16,
    ),
    "secp256k1": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
}


def sign(name: str, key: PrivateKey, message: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(message, ec.ECDSA(hashes.SHA256()))
    if name == "rsa_pss":
        return key.sign(
            message,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
            hashes.SHA256(),
        )
    return key.sign(message, padding.PKCS1v15(), hashes.SHA256())


def python_sdk_assertion(name: str, key: PrivateKey) -> tuple[bytes, bytes]:
    """clientData and signature exactly as `dfns_sdk.KeySigner` produces them."""
    if name == "rsa_pss":  # the SDK signs RSA with PKCS#1 v1.5 only
        client_data = compact(
            {"type": "key.get", "challenge": CHALLENGE, "origin": SDK_ORIGIN, "crossOrigin": False}
        )
        return client_data, sign(name, key, client_data)
    signed = KeySigner("vector", private_pem(key)).sign(
        {"challenge": CHALLENGE}  # the signer reads only the challenge
    )["credentialAssertion"]
    pad = "=="
    return (
        base64.urlsafe_b64decode(signed["clientData"] + pad),
        base64.urlsafe_b64decode(signed["signature"] + pad),
    )


def ecdsa_variants(name: str, signature: bytes) -> tuple[bytes, bytes, bytes]:
    """(low-S DER, high-S DER, raw r||s) of one signature."""
    r, s = decode_dss_signature(signature)
    order = CURVE_ORDERS[name]
    low, high = min(s, order - s), max(s, order - s)
    size = (order.bit_length() + 7) // 8
    raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return encode_dss_signature(r, low), encode_dss_signature(r, high), raw


def key_assertions() -> dict[str, Any]:
    credentials: dict[str, Any] = {}
    cases: list[dict[str, Any]] = []

    def case(
        name: str, credential: str, client_data: bytes, signature: bytes, **extra: Any
    ) -> None:
        cases.append(
            {
                "name": name,
                "credential": credential,
                "clientData": b64(client_data),
                "signature": b64(signature),
                **extra,
            }
        )

    for name, (algorithm, generate) in KEY_ALGORITHMS.items():
        key, other = generate(), generate()
        credentials[name] = {
            "kind": "Key",
            "algorithm": algorithm,
            "publicKey": public_pem(key.public_key()),
        }
        sdk_data, sdk_signature = python_sdk_assertion(name, key)
        ts_data = compact({"type": "key.get", "challenge": CHALLENGE})
        ts_signature = sign(name, key, ts_data)
        case(f"{name}/python-sdk", name, sdk_data, sdk_signature, expect=OK)
        case(f"{name}/typescript-sdk", name, ts_data, ts_signature, expect=OK)
        case(
            f"{name}/wrong-key",
            name,
            ts_data,
            sign(name, other, ts_data),
            expect=assertion_error("signature_invalid"),
        )
        tampered = compact({"type": "key.get", "challenge": CHALLENGE, "origin": "https://x"})
        case(
            f"{name}/tampered-client-data",
            name,
            tampered,
            ts_signature,
            expect=assertion_error("signature_invalid"),
        )
        ecdsa = isinstance(key, ec.EllipticCurvePrivateKey)
        short = "signature_not_der" if ecdsa else "signature_length"
        case(
            f"{name}/truncated-signature",
            name,
            ts_data,
            ts_signature[:-1],
            expect=assertion_error(short),
        )
        case(f"{name}/empty-signature", name, ts_data, b"", expect=assertion_error(short))
        wrong_type = compact({"type": "webauthn.get", "challenge": CHALLENGE})
        case(
            f"{name}/wrong-type",
            name,
            wrong_type,
            sign(name, key, wrong_type),
            expect=assertion_error("client_data_type"),
        )
        wrong_challenge = compact({"type": "key.get", "challenge": OTHER_CHALLENGE})
        case(
            f"{name}/wrong-challenge",
            name,
            wrong_challenge,
            sign(name, key, wrong_challenge),
            expect=assertion_error("challenge_mismatch"),
        )
        case(
            f"{name}/origin-not-allowed",
            name,
            sdk_data,
            sdk_signature,
            policy={"keyOrigins": [ORIGIN]},
            expect=assertion_error("origin_not_allowed"),
        )
        cross = compact(
            {"type": "key.get", "challenge": CHALLENGE, "origin": SDK_ORIGIN, "crossOrigin": True}
        )
        case(
            f"{name}/cross-origin-true",
            name,
            cross,
            sign(name, key, cross),
            expect=assertion_error("cross_origin_not_allowed"),
        )
        cross_text = cross.replace(b"true", b'"false"')
        case(
            f"{name}/cross-origin-string",
            name,
            cross_text,
            sign(name, key, cross_text),
            expect=assertion_error("cross_origin_not_boolean"),
        )
        if ecdsa:
            low, high, raw = ecdsa_variants(name, ts_signature)
            case(f"{name}/low-s", name, ts_data, low, expect=OK)
            case(f"{name}/high-s", name, ts_data, high, expect=OK)
            case(
                f"{name}/raw-r-s",
                name,
                ts_data,
                raw,
                expect=assertion_error("signature_raw_ecdsa"),
            )
            case(
                f"{name}/der-trailing-bytes",
                name,
                ts_data,
                ts_signature + b"\x00",
                expect=assertion_error("signature_not_der"),
            )
            case(
                f"{name}/r-s-zero",
                name,
                ts_data,
                encode_dss_signature(0, 0),
                expect=assertion_error("signature_invalid"),
            )
    return {
        "description": "Key-kind assertions; verify with the core's verify_assertion.",
        "challenge": CHALLENGE,
        "credentials": credentials,
        "cases": cases,
    }


# --------------------------------------------------------------------------- registration

SMALL_ORDER_ED25519 = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
]
NON_CANONICAL_ED25519 = [
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p + 1
    "0100000000000000000000000000000000000000000000000000000000000080",  # x = -0
]
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def weak_rsa_key() -> rsa.RSAPublicKey:
    """A 1024-bit RSA key: made to be refused."""
    return rsa.generate_private_key(65537, 1024).public_key()  # noqa: S505 - refused on purpose


def cose_b64(mapping: dict[int, Any]) -> str:
    return b64(cbor.encode(mapping))


def key_registration() -> dict[str, Any]:
    cases: list[dict[str, Any]] = []

    def case(name: str, kind: str, algorithm: str, public_key: str, expect: dict[str, Any]) -> None:
        cases.append(
            {
                "name": name,
                "kind": kind,
                "algorithm": algorithm,
                "publicKey": public_key,
                "expect": expect,
            }
        )

    for name, (algorithm, generate) in KEY_ALGORITHMS.items():
        case(f"{name}/spki", "Key", algorithm, public_pem(generate().public_key()), OK)
    rsa_key = rsa.generate_private_key(65537, 2048).public_key()
    case(
        "rsa/pkcs1-pem",
        "Key",
        "RSA-PKCS1v15-SHA256",
        public_pem(rsa_key, serialization.PublicFormat.PKCS1),
        OK,
    )
    case("rsa/recovery-key", "RecoveryKey", "RSA-PKCS1v15-SHA256", public_pem(rsa_key), OK)
    p256 = public_pem(ec.generate_private_key(ec.SECP256R1()).public_key())
    case("p256/password-protected-key", "PasswordProtectedKey", "ECDSA-P256-SHA256", p256, OK)
    case(
        "rsa/1024-bits",
        "Key",
        "RSA-PKCS1v15-SHA256",
        public_pem(weak_rsa_key()),
        rejected("rsa_key_too_small"),
    )
    e3 = rsa.RSAPublicNumbers(3, rsa_key.public_numbers().n).public_key()
    case(
        "rsa/exponent-3",
        "Key",
        "RSA-PKCS1v15-SHA256",
        public_pem(e3),
        rejected("rsa_exponent_not_65537"),
    )
    p384 = public_pem(ec.generate_private_key(ec.SECP384R1()).public_key())
    case("p384-key/as-p256", "Key", "ECDSA-P256-SHA256", p384, rejected("curve_mismatch"))
    case("p256-key/as-secp256k1", "Key", "ECDSA-secp256k1-SHA256", p256, rejected("curve_mismatch"))
    ed = public_pem(ed25519.Ed25519PrivateKey.generate().public_key())
    case("ed25519-key/as-p256", "Key", "ECDSA-P256-SHA256", ed, rejected("key_type_mismatch"))
    case("p256-key/as-ed25519", "Key", "Ed25519", p256, rejected("key_type_mismatch"))
    case("rsa-key/as-ed25519", "Key", "Ed25519", public_pem(rsa_key), rejected("key_type_mismatch"))
    case(
        "rsa-pkcs1-pem/as-p256",
        "Key",
        "ECDSA-P256-SHA256",
        public_pem(rsa_key, serialization.PublicFormat.PKCS1),
        rejected("key_type_mismatch"),
    )
    case(
        "rsa/sha1",
        "Key",
        "RSA-PKCS1v15-SHA1",
        public_pem(rsa_key),
        rejected("algorithm_sha1_refused"),
    )
    case("ecdsa/sha-1", "Key", "ECDSA-P256-SHA-1", p256, rejected("algorithm_sha1_refused"))
    case("unknown-algorithm", "Key", "ES256", p256, rejected("algorithm_not_supported"))
    lines = ed.splitlines()
    truncated = "\n".join([lines[0], lines[1][:40], lines[-1]]) + "\n"
    case("pem/truncated", "Key", "Ed25519", truncated, rejected("public_key_malformed"))
    case("pem/junk-before", "Key", "Ed25519", "junk\n" + ed, rejected("public_key_malformed"))
    case("pem/not-pem", "Key", "Ed25519", "not a key", rejected("public_key_malformed"))
    case("pem/empty", "Key", "Ed25519", "", rejected("public_key_malformed"))
    case(
        "pem/private-key",
        "Key",
        "Ed25519",
        private_pem(ed25519.Ed25519PrivateKey.generate()),
        rejected("public_key_malformed"),
    )
    case("pem/oversized", "Key", "Ed25519", ed + " " * 5000, rejected("public_key_too_large"))
    for index, encoding in enumerate(SMALL_ORDER_ED25519):
        pem = spki_pem(ED25519_SPKI_PREFIX + bytes.fromhex(encoding))
        case(f"ed25519/small-order-{index}", "Key", "Ed25519", pem, rejected("ed25519_small_order"))
    for index, encoding in enumerate(NON_CANONICAL_ED25519):
        pem = spki_pem(ED25519_SPKI_PREFIX + bytes.fromhex(encoding))
        case(
            f"ed25519/non-canonical-{index}",
            "Key",
            "Ed25519",
            pem,
            rejected("ed25519_non_canonical"),
        )
    case("key/fido2-kind", "Fido2", "Ed25519", ed, rejected("algorithm_not_supported"))

    # COSE keys (Fido2)
    es256 = cose_key(ec.generate_private_key(ec.SECP256R1()).public_key(), "ES256")
    eddsa = cose_key(ed25519.Ed25519PrivateKey.generate().public_key(), "EdDSA")
    rs256 = cose_key(rsa_key, "RS256")
    es384 = cose_key(ec.generate_private_key(ec.SECP384R1()).public_key(), "ES384")
    case("cose/es256", "Fido2", "-7", cose_b64(es256), OK)
    case("cose/eddsa", "Fido2", "-8", cose_b64(eddsa), OK)
    case("cose/rs256", "Fido2", "-257", cose_b64(rs256), OK)
    case("cose/ps256", "Fido2", "-37", cose_b64({**rs256, 3: -37}), OK)
    case("cose/es384", "Fido2", "-35", cose_b64(es384), OK)
    case(
        "cose/rs1",
        "Fido2",
        "-65535",
        cose_b64({**rs256, 3: -65535}),
        rejected("algorithm_sha1_refused"),
    )
    case("cose/alg-mismatch", "Fido2", "-8", cose_b64(es256), rejected("algorithm_mismatch"))
    case("cose/alg-text", "Fido2", "ES256", cose_b64(es256), rejected("algorithm_not_supported"))
    case(
        "cose/private-label",
        "Fido2",
        "-7",
        cose_b64({**es256, -4: b"\x01" * 32}),
        rejected("cose_unexpected_label"),
    )
    case("cose/wrong-curve", "Fido2", "-7", cose_b64({**es256, -1: 8}), rejected("curve_mismatch"))
    case("cose/wrong-kty", "Fido2", "-7", cose_b64({**es256, 1: 1}), rejected("key_type_mismatch"))
    off_curve = {**es256, -3: bytes(32 - 1) + b"\x05"}
    case("cose/off-curve", "Fido2", "-7", cose_b64(off_curve), rejected("public_key_not_on_curve"))
    case(
        "cose/short-coordinate",
        "Fido2",
        "-7",
        cose_b64({**es256, -2: es256[-2][:31]}),
        rejected("public_key_malformed"),
    )
    small = {**eddsa, -2: bytes.fromhex(SMALL_ORDER_ED25519[0])}
    case("cose/eddsa-identity", "Fido2", "-8", cose_b64(small), rejected("ed25519_small_order"))
    small_rsa = cose_key(weak_rsa_key(), "RS256")
    case("cose/rsa-1024", "Fido2", "-257", cose_b64(small_rsa), rejected("rsa_key_too_small"))
    encoded = cbor.encode(es256)
    case(
        "cose/trailing-bytes",
        "Fido2",
        "-7",
        b64(encoded + b"\x00"),
        rejected("public_key_malformed"),
    )
    case(
        "cose/not-a-map", "Fido2", "-7", b64(cbor.encode([1, 2])), rejected("public_key_malformed")
    )
    case("cose/not-base64url", "Fido2", "-7", "a+b/", rejected("public_key_malformed"))
    case("cose/pem-kind", "Key", "-7", cose_b64(es256), rejected("algorithm_not_supported"))
    return {
        "description": "Public keys offered at credential creation; validate_public_key.",
        "cases": cases,
    }


# --------------------------------------------------------------------------- webauthn


def webauthn_assertions() -> dict[str, Any]:
    credentials: dict[str, Any] = {}
    cases: list[dict[str, Any]] = []
    user_handle = b"us-vector-user-000000000001"
    for choice in ("ES256", "EdDSA"):
        device = SoftwareAuthenticator(choice)
        other = SoftwareAuthenticator(choice)
        name = choice.lower()
        credentials[name] = {
            "kind": "Fido2",
            "algorithm": device.cose_algorithm,
            "publicKey": device.public_key,
        }

        def case(
            label: str,
            expect: dict[str, Any],
            *,
            signer: SoftwareAuthenticator = device,
            flags: int = FLAG_UP | FLAG_UV,
            sign_count: int = 7,
            rp_id: str = RP_ID,
            client_data: dict[str, Any] | None = None,
            extensions: bytes = b"",
            raw_authenticator_data: bytes | None = None,
            handle: bytes | None = None,
            name: str = name,
            signer_sig: Callable[[bytes], bytes] | None = None,
            **extra: Any,
        ) -> None:
            data = client_data or {
                "type": "webauthn.get",
                "challenge": CHALLENGE,
                "origin": ORIGIN,
                "crossOrigin": False,
            }
            raw_client = compact(data)
            auth = raw_authenticator_data or authenticator_data(
                rp_id, flags, sign_count, extensions=extensions
            )
            message = auth + hashlib.sha256(raw_client).digest()
            signature = (signer_sig or signer.sign)(message)
            entry: dict[str, Any] = {
                "name": f"{name}/{label}",
                "credential": name,
                "clientData": b64(raw_client),
                "authenticatorData": b64(auth),
                "signature": b64(signature),
                "expect": expect,
                **extra,
            }
            if handle is not None:
                entry["userHandle"] = b64(handle)
            cases.append(entry)

        case("ok", OK, handle=user_handle)
        case("ok-without-user-handle", OK)
        case(
            "ok-extensions",
            OK,
            flags=FLAG_UP | FLAG_UV | FLAG_ED,
            extensions=cbor.encode({"credProtect": 1}),
        )
        case("ok-backed-up", OK, flags=FLAG_UP | FLAG_UV | FLAG_BE | FLAG_BS)
        case("ok-uv-preferred", OK, flags=FLAG_UP, policy={"userVerification": "preferred"})
        case("ok-zero-counter", OK, sign_count=0)
        case("user-not-present", assertion_error("user_not_present"), flags=FLAG_UV)
        case("user-not-verified", assertion_error("user_not_verified"), flags=FLAG_UP)
        case(
            "backup-state-without-eligibility",
            assertion_error("backup_state_without_eligibility"),
            flags=FLAG_UP | FLAG_UV | FLAG_BS,
        )
        case("rp-id-of-another-rp", assertion_error("rp_id_hash_mismatch"), rp_id="evil.example")
        case(
            "origin-not-allowed",
            assertion_error("origin_not_allowed"),
            client_data={
                "type": "webauthn.get",
                "challenge": CHALLENGE,
                "origin": "https://evil.example",
            },
        )
        case(
            "origin-missing",
            assertion_error("origin_not_allowed"),
            client_data={"type": "webauthn.get", "challenge": CHALLENGE},
        )
        case(
            "type-key-get",
            assertion_error("client_data_type"),
            client_data={"type": "key.get", "challenge": CHALLENGE, "origin": ORIGIN},
        )
        case(
            "wrong-challenge",
            assertion_error("challenge_mismatch"),
            client_data={"type": "webauthn.get", "challenge": OTHER_CHALLENGE, "origin": ORIGIN},
        )
        case(
            "cross-origin-true",
            assertion_error("cross_origin_not_allowed"),
            client_data={
                "type": "webauthn.get",
                "challenge": CHALLENGE,
                "origin": ORIGIN,
                "crossOrigin": True,
            },
        )
        case(
            "top-origin-without-cross-origin",
            assertion_error("top_origin_not_allowed"),
            client_data={
                "type": "webauthn.get",
                "challenge": CHALLENGE,
                "origin": ORIGIN,
                "topOrigin": "https://evil.example",
            },
        )
        case(
            "counter-rollback",
            assertion_error("sign_count_rollback"),
            sign_count=3,
            storedSignCount=5,
        )
        case(
            "counter-repeated",
            assertion_error("sign_count_rollback"),
            sign_count=5,
            storedSignCount=5,
        )
        case(
            "counter-zero-after-nonzero",
            assertion_error("sign_count_rollback"),
            sign_count=0,
            storedSignCount=5,
        )
        case(
            "user-handle-of-another-user",
            assertion_error("user_handle_mismatch"),
            handle=b"us-vector-user-000000000002",
        )
        case("wrong-key", assertion_error("signature_invalid"), signer=other)
        short = authenticator_data(RP_ID, FLAG_UP | FLAG_UV, 7)[:36]
        case(
            "authenticator-data-too-short",
            assertion_error("authenticator_data_too_short"),
            raw_authenticator_data=short,
        )
        case(
            "authenticator-data-empty",
            assertion_error("authenticator_data_too_short"),
            raw_authenticator_data=b"\x00",
        )
        long = authenticator_data(RP_ID, FLAG_UP | FLAG_UV | FLAG_ED, 7) + cbor.encode(
            {"x": bytes(1100)}
        )
        case(
            "authenticator-data-too-long",
            assertion_error("authenticator_data_too_long"),
            raw_authenticator_data=long,
        )
        case(
            "authenticator-data-trailing-bytes",
            assertion_error("authenticator_data_trailing_bytes"),
            extensions=b"\x00",
        )
        case(
            "authenticator-data-attested-flag",
            assertion_error("authenticator_data_attested"),
            flags=FLAG_UP | FLAG_UV | FLAG_AT,
        )
        case(
            "extensions-truncated-cbor",
            assertion_error("authenticator_data_extensions_malformed"),
            flags=FLAG_UP | FLAG_UV | FLAG_ED,
            extensions=cbor.encode({"credProtect": b"\x01\x02\x03"})[:-2],
        )
        case(
            "extensions-missing",
            assertion_error("authenticator_data_extensions_malformed"),
            flags=FLAG_UP | FLAG_UV | FLAG_ED,
        )
        case(
            "extensions-not-a-map",
            assertion_error("authenticator_data_extensions_malformed"),
            flags=FLAG_UP | FLAG_UV | FLAG_ED,
            extensions=cbor.encode([1, 2]),
        )
        case(
            "extensions-tagged-item",
            assertion_error("authenticator_data_extensions_malformed"),
            flags=FLAG_UP | FLAG_UV | FLAG_ED,
            extensions=b"\xc1\x00",
        )
        case(
            "extensions-then-trailing-bytes",
            assertion_error("authenticator_data_extensions_malformed"),
            flags=FLAG_UP | FLAG_UV | FLAG_ED,
            extensions=cbor.encode({"a": 1}) + b"\x00",
        )
        if choice == "ES256":

            def raw_signature(message: bytes, device: SoftwareAuthenticator = device) -> bytes:
                r, s = decode_dss_signature(device.sign(message))
                return r.to_bytes(32, "big") + s.to_bytes(32, "big")

            case("raw-r-s", assertion_error("signature_raw_ecdsa"), signer_sig=raw_signature)
    return {
        "description": "Fido2 assertions from tests/crypto/authenticator.py; verify_assertion.",
        "challenge": CHALLENGE,
        "rpId": RP_ID,
        "origin": ORIGIN,
        "userHandle": b64(user_handle),
        "credentials": credentials,
        "cases": cases,
    }


def write(name: str, document: dict[str, Any]) -> None:
    document = {"generator": "tests/vectors/generate.py", **document}
    (HERE / name).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {name}: {len(document['cases'])} cases")


def main() -> None:
    write("key_assertions.json", key_assertions())
    write("key_registration.json", key_registration())
    write("webauthn_assertions.json", webauthn_assertions())


if __name__ == "__main__":
    main()
