"""Fido2 / WebAuthn credentials: COSE public keys and authenticatorData, with `fido2`.

The core performs every WebAuthn step that needs policy (clientData type,
challenge, origin, crossOrigin, topOrigin, rpIdHash, UP/UV/BE/BS, userHandle,
counter); this module supplies the two parts that need a library:

- `WebAuthnAuthenticatorDataParser` takes authenticatorData apart with
  `fido2.webauthn.AuthenticatorData`, after bounding its length, refusing the AT
  flag (attested credential data has no place in an assertion) and trailing
  bytes, and requiring extensions (ED) to be one canonical CBOR map.
- `Fido2SignatureVerifier` checks the assertion signature with the credential's
  COSE key. A credential stores that key as base64url CBOR (`Credential.public_key`)
  and its COSE algorithm number as text (`Credential.algorithm`, e.g. `"-7"`).
  The key is decoded with `fido2.cbor` and `fido2.cose.CoseKey`, validated
  (algorithm, key type, curve, coordinates, no extra labels), converted to a
  `cryptography` key once and cached; fido2's own `CoseKey.verify` would rebuild
  the key on every call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import attrs
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from fido2 import cbor, cose
from fido2.webauthn import AuthenticatorData as Fido2AuthenticatorData

from adapters.crypto.boundary import Boundary
from adapters.crypto.keys import (
    CachedSignatureVerifier,
    EcdsaSignature,
    Ed25519Signature,
    RsaSignature,
    SignatureCheck,
    check_ed25519_point,
    check_rsa_key,
    parse_public_key_pem,
)
from archive_core.encoding import b64url_decode, b64url_encode
from archive_core.entities import CredentialKind
from archive_core.errors import Catalogue, ErrorKind
from archive_core.ports import AuthenticatorData

__all__ = [
    "COSE_ALGORITHMS",
    "COSE_EDDSA",
    "COSE_ES256",
    "COSE_ES384",
    "COSE_PS256",
    "COSE_RS256",
    "Fido2SignatureVerifier",
    "WebAuthnAuthenticatorDataParser",
    "cose_key_from_pem",
    "load_cose_signature",
]

COSE_ES256: Final = "-7"
COSE_EDDSA: Final = "-8"
COSE_ES384: Final = "-35"
COSE_PS256: Final = "-37"
COSE_RS256: Final = "-257"
_COSE_RS1: Final = -65535  # RSASSA-PKCS1-v1_5 with SHA-1: never accepted

MAX_COSE_KEY: Final = 2048  # base64url characters; an RSA-8192 COSE key is ~1.4 kB
MIN_AUTHENTICATOR_DATA: Final = 37  # rpIdHash (32) + flags (1) + signCount (4)
MAX_AUTHENTICATOR_DATA: Final = 1024

_KTY_OKP, _KTY_EC2, _KTY_RSA = 1, 2, 3
_CRV_P256, _CRV_P384, _CRV_ED25519 = 1, 2, 6
_FLAG_UP, _FLAG_UV, _FLAG_BE, _FLAG_BS, _FLAG_AT, _FLAG_ED = 0x01, 0x04, 0x08, 0x10, 0x40, 0x80


@attrs.frozen
class _CoseSpec:
    fido2_class: type[cose.CoseKey]
    kty: int
    labels: frozenset[int]
    crv: int | None = None
    curve: type[ec.EllipticCurve] | None = None
    coordinate: int = 0
    hash: type[hashes.HashAlgorithm] = hashes.SHA256
    pss: bool = False


_EC2_LABELS: Final = frozenset({1, 3, -1, -2, -3})
_OKP_RSA_LABELS: Final = frozenset({1, 3, -1, -2})

#: COSE algorithm number (as stored in `Credential.algorithm`) → what its key must be.
COSE_ALGORITHMS: Final[dict[int, _CoseSpec]] = {
    -7: _CoseSpec(cose.ES256, _KTY_EC2, _EC2_LABELS, _CRV_P256, ec.SECP256R1, 32),
    -35: _CoseSpec(cose.ES384, _KTY_EC2, _EC2_LABELS, _CRV_P384, ec.SECP384R1, 48, hashes.SHA384),
    -8: _CoseSpec(cose.EdDSA, _KTY_OKP, _OKP_RSA_LABELS, _CRV_ED25519, None, 32),
    -257: _CoseSpec(cose.RS256, _KTY_RSA, _OKP_RSA_LABELS),
    -37: _CoseSpec(cose.PS256, _KTY_RSA, _OKP_RSA_LABELS, pss=True),
}
_ALGORITHM_TEXT: Final = re.compile(r"-?[1-9][0-9]{0,5}\Z")


def _parse_algorithm(algorithm: str, error: ErrorKind) -> _CoseSpec:
    if not algorithm.isascii() or _ALGORITHM_TEXT.match(algorithm) is None:
        raise error.error("algorithm_not_supported")
    number = int(algorithm)
    spec = COSE_ALGORITHMS.get(number)
    if spec is None:
        raise error.error(
            "algorithm_sha1_refused" if number == _COSE_RS1 else "algorithm_not_supported"
        )
    return spec


def _decode_cose(public_key: str, error: ErrorKind) -> Mapping[Any, Any]:
    if len(public_key) > MAX_COSE_KEY:
        raise error.error("public_key_too_large")
    with Boundary(error, "public_key_malformed"):
        raw = b64url_decode(public_key, max_length=MAX_COSE_KEY)
        value = cbor.decode(raw)
        # fido2's decoder is lenient (short byte strings, unknown simple values);
        # only the canonical CTAP2 encoding of what it read is accepted.
        canonical = cbor.encode(value)
    if not isinstance(value, Mapping) or canonical != raw:
        raise error.error("public_key_malformed")
    return value


def _bytes_label(key: Mapping[Any, Any], label: int, length: int | None, error: ErrorKind) -> bytes:
    value = key.get(label)
    if not isinstance(value, bytes) or (length is not None and len(value) != length):
        raise error.error("public_key_malformed")
    return value


def load_cose_signature(algorithm: str, public_key: str, error: ErrorKind) -> SignatureCheck:
    """Parse and validate a base64url COSE key for the COSE `algorithm`; raise `error`."""
    spec = _parse_algorithm(algorithm, error)
    key = _decode_cose(public_key, error)
    alg = key.get(3)
    if type(alg) is not int or alg != int(algorithm):
        raise error.error("algorithm_mismatch")
    with Boundary(error, "public_key_malformed"):
        parsed = cose.CoseKey.parse(key)
    if type(parsed) is not spec.fido2_class:
        raise error.error("algorithm_mismatch")
    if key.get(1) != spec.kty:
        raise error.error("key_type_mismatch")
    if not set(key) <= spec.labels:
        # e.g. -4, the private key of EC2/OKP keys
        raise error.error("cose_unexpected_label")
    if spec.kty != _KTY_RSA and key.get(-1) != spec.crv:
        raise error.error("curve_mismatch")
    hash_algorithm = spec.hash()
    if spec.kty == _KTY_EC2 and spec.curve is not None:
        x = _bytes_label(key, -2, spec.coordinate, error)
        y = _bytes_label(key, -3, spec.coordinate, error)
        with Boundary(error, "public_key_not_on_curve"):
            ec_key = ec.EllipticCurvePublicKey.from_encoded_point(spec.curve(), b"\x04" + x + y)
        return EcdsaSignature(ec_key, hash_algorithm).check
    if spec.kty == _KTY_OKP:
        x = _bytes_label(key, -2, spec.coordinate, error)
        problem = check_ed25519_point(x)
        if problem is not None:
            raise error.error(problem)
        return Ed25519Signature(ed25519.Ed25519PublicKey.from_public_bytes(x)).check
    n = _bytes_label(key, -1, None, error)
    e = _bytes_label(key, -2, None, error)
    if not n or n[0] == 0 or not e or e[0] == 0:
        raise error.error("public_key_malformed")
    with Boundary(error, "public_key_malformed"):
        rsa_key = rsa.RSAPublicNumbers(
            int.from_bytes(e, "big"), int.from_bytes(n, "big")
        ).public_key()
    problem = check_rsa_key(rsa_key)
    if problem is not None:
        raise error.error(problem)
    return RsaSignature(rsa_key, hash_algorithm, pss=spec.pss).check


class Fido2SignatureVerifier(CachedSignatureVerifier):
    """`SignatureVerifier` for Fido2 credentials (COSE keys; ES256, ES384, EdDSA, RS256, PS256):
    the signature over `authenticatorData || SHA-256(clientDataJSON)`."""

    __slots__ = ()

    def __init__(self, *, max_cached_keys: int = 4096) -> None:
        super().__init__(
            frozenset({CredentialKind.FIDO2}), load_cose_signature, max_cached_keys=max_cached_keys
        )


_EXTENSIONS: Final = Boundary(
    Catalogue.ASSERTION_INVALID, "authenticator_data_extensions_malformed"
)


class WebAuthnAuthenticatorDataParser:
    """`AuthenticatorDataParser` for assertions (no attested credential data)."""

    __slots__ = ("_max_length",)

    def __init__(self, *, max_length: int = MAX_AUTHENTICATOR_DATA) -> None:
        self._max_length = max_length

    def parse(self, raw: bytes) -> AuthenticatorData:
        """The parsed data; raise ArchiveCoreError(ASSERTION_INVALID) when malformed."""
        if len(raw) < MIN_AUTHENTICATOR_DATA:
            raise Catalogue.ASSERTION_INVALID.error("authenticator_data_too_short")
        if len(raw) > self._max_length:
            raise Catalogue.ASSERTION_INVALID.error("authenticator_data_too_long")
        flags = raw[32]
        if flags & _FLAG_AT:
            raise Catalogue.ASSERTION_INVALID.error("authenticator_data_attested")
        if flags & _FLAG_ED:
            with _EXTENSIONS:
                data = Fido2AuthenticatorData(raw)
                extensions = data.extensions
                canonical = None if extensions is None else cbor.encode(extensions)
            if not isinstance(extensions, Mapping) or canonical != raw[MIN_AUTHENTICATOR_DATA:]:
                raise Catalogue.ASSERTION_INVALID.error("authenticator_data_extensions_malformed")
        elif len(raw) != MIN_AUTHENTICATOR_DATA:
            raise Catalogue.ASSERTION_INVALID.error("authenticator_data_trailing_bytes")
        else:
            data = Fido2AuthenticatorData(raw)
        return AuthenticatorData(
            rp_id_hash=data.rp_id_hash,
            user_present=bool(flags & _FLAG_UP),
            user_verified=bool(flags & _FLAG_UV),
            backup_eligible=bool(flags & _FLAG_BE),
            backup_state=bool(flags & _FLAG_BS),
            sign_count=data.counter,
        )


def cose_key_from_pem(public_key: str) -> tuple[str, str]:
    """The COSE form of a PEM public key, as a `Fido2` credential stores it:
    (base64url CBOR key, COSE algorithm number as text). P-256 → ES256, P-384 → ES384,
    Ed25519 → EdDSA, RSA → RS256 (made by fido2's `from_cryptography_key`).

    Raises ArchiveCoreError(CREDENTIAL_REJECTED) for a key a passkey cannot hold.
    """
    error = Catalogue.CREDENTIAL_REJECTED
    key = parse_public_key_pem(public_key, error)
    cose_class: type[cose.CoseKey]
    if isinstance(key, ed25519.Ed25519PublicKey):
        cose_class = cose.EdDSA
    elif isinstance(key, rsa.RSAPublicKey):
        cose_class = cose.RS256
    elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        cose_class = cose.ES256
    elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP384R1):
        cose_class = cose.ES384
    else:
        raise error.error("key_type_not_supported_for_fido2")
    with Boundary(error, "public_key_malformed"):
        made = cose_class.from_cryptography_key(key)  # type: ignore[no-untyped-call]  # fido2 leaves it untyped
        encoded = b64url_encode(cbor.encode(dict(made)))
    algorithm = str(cose_class.ALGORITHM)
    load_cose_signature(algorithm, encoded, error)  # the same checks as every Fido2 key
    return encoded, algorithm
