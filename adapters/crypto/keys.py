"""Key-kind credentials (`Key`, `PasswordProtectedKey`, `RecoveryKey`): PEM keys, `cryptography`.

A credential stores its public key as PEM (SPKI; PKCS#1 accepted for RSA) and one
of the algorithm names below in `Credential.algorithm`. The client signs the exact
clientData bytes; the verifier checks that signature with the stored key and the
stored algorithm (an `algorithm` sent in the assertion is not trusted).

Each public key is parsed and validated once and kept in a bounded cache keyed by
`(algorithm, public key)`, so a verify is a dictionary look-up, a length check and
the `cryptography` call (SPEC §6, docs/crypto.md "Cost").
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Final, Literal

import attrs
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from adapters.crypto.boundary import Boundary
from adapters.crypto.cache import BoundedCache
from archive_core.entities import Credential, CredentialKind
from archive_core.errors import ArchiveCoreError, Catalogue, ErrorKind

__all__ = [
    "ECDSA_P256",
    "ECDSA_P384",
    "ECDSA_SECP256K1",
    "ED25519",
    "KEY_ALGORITHMS",
    "KEY_KINDS",
    "RSA_PKCS1V15",
    "RSA_PSS",
    "CachedSignatureVerifier",
    "EcdsaSignature",
    "Ed25519Signature",
    "KeyChoice",
    "KeySignatureVerifier",
    "RsaSignature",
    "SignatureCheck",
    "algorithm_for_public_key",
    "check_ed25519_point",
    "check_rsa_key",
    "generate_key_credential",
    "load_key_signature",
    "parse_public_key_pem",
]

# --------------------------------------------------------------------------- names

#: EdDSA over Ed25519 (RFC 8032), the signature over the clientData bytes.
ED25519: Final = "Ed25519"
#: ECDSA on P-256 with SHA-256, DER signature (what the SDKs emit for P-256 keys).
ECDSA_P256: Final = "ECDSA-P256-SHA256"
#: ECDSA on P-384 with SHA-256 (the official SDKs hash with SHA-256 for every curve).
ECDSA_P384: Final = "ECDSA-P384-SHA256"
#: ECDSA on secp256k1 with SHA-256, DER signature.
ECDSA_SECP256K1: Final = "ECDSA-secp256k1-SHA256"
#: RSA PKCS#1 v1.5 with SHA-256: the default for RSA keys.
RSA_PKCS1V15: Final = "RSA-PKCS1v15-SHA256"
#: RSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt, when the credential says so.
RSA_PSS: Final = "RSA-PSS-SHA256"

MAX_PUBLIC_KEY_PEM: Final = 4096
MIN_RSA_BITS: Final = 2048
MAX_RSA_BITS: Final = 8192
RSA_EXPONENT: Final = 65537

SignatureCheck = Callable[[bytes, bytes], None]
"""`check(message, signature)`: returns, or raises InvalidSignature / ArchiveCoreError."""

Family = Literal["ed25519", "ecdsa", "rsa"]


@attrs.frozen
class _Spec:
    family: Family
    curve: type[ec.EllipticCurve] | None = None
    pss: bool = False


KEY_ALGORITHMS: Final[dict[str, _Spec]] = {
    ED25519: _Spec("ed25519"),
    ECDSA_P256: _Spec("ecdsa", ec.SECP256R1),
    ECDSA_P384: _Spec("ecdsa", ec.SECP384R1),
    ECDSA_SECP256K1: _Spec("ecdsa", ec.SECP256K1),
    RSA_PKCS1V15: _Spec("rsa"),
    RSA_PSS: _Spec("rsa", pss=True),
}
#: The credential kinds whose public key is a PEM key pair signing clientData directly.
KEY_KINDS: Final = frozenset(
    {CredentialKind.KEY, CredentialKind.PASSWORD_PROTECTED_KEY, CredentialKind.RECOVERY_KEY}
)
_SHA1: Final = re.compile(r"sha-?1(?![0-9])", re.IGNORECASE)


# --------------------------------------------------------------------------- loaded keys
# Small callables holding a loaded `cryptography` key and everything its verify needs,
# built once per key. Their guards give the precise reasons the library would not.


class Ed25519Signature:
    """Ed25519: a 64-byte signature."""

    __slots__ = ("_verify",)

    def __init__(self, key: ed25519.Ed25519PublicKey) -> None:
        self._verify = key.verify

    def check(self, message: bytes, signature: bytes) -> None:
        """Verify, or raise."""
        if len(signature) != 64:
            raise Catalogue.ASSERTION_INVALID.error("signature_length")
        self._verify(signature, message)


class EcdsaSignature:
    """ECDSA with a DER signature; a raw `r||s` is refused with its own reason."""

    __slots__ = ("_algorithm", "_raw_length", "_verify")

    def __init__(self, key: ec.EllipticCurvePublicKey, hash_algorithm: hashes.HashAlgorithm):
        self._verify = key.verify
        self._algorithm = ec.ECDSA(hash_algorithm)
        self._raw_length = 2 * ((key.curve.key_size + 7) // 8)

    def check(self, message: bytes, signature: bytes) -> None:
        """Verify, or raise. High-S signatures are accepted (SPEC §6)."""
        # DER: SEQUENCE, short-form length covering the rest (true for every curve here:
        # a P-384 signature is at most 104 bytes). The library checks the inside.
        size = len(signature)
        if size < 8 or signature[0] != 0x30 or signature[1] != size - 2:
            raise Catalogue.ASSERTION_INVALID.error(
                "signature_raw_ecdsa" if size == self._raw_length else "signature_not_der"
            )
        self._verify(signature, message, self._algorithm)


class RsaSignature:
    """RSA PKCS#1 v1.5 or PSS (salt = digest length); the signature is modulus-sized."""

    __slots__ = ("_hash", "_length", "_padding", "_verify")

    def __init__(
        self, key: rsa.RSAPublicKey, hash_algorithm: hashes.HashAlgorithm, *, pss: bool
    ) -> None:
        self._verify = key.verify
        self._hash = hash_algorithm
        self._length = (key.key_size + 7) // 8
        self._padding: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size)
            if pss
            else padding.PKCS1v15()
        )

    def check(self, message: bytes, signature: bytes) -> None:
        """Verify, or raise."""
        if len(signature) != self._length:
            raise Catalogue.ASSERTION_INVALID.error("signature_length")
        self._verify(signature, message, self._padding, self._hash)


# --------------------------------------------------------------------------- key checks

_P: Final = 2**255 - 19
_D: Final = -121665 * pow(121666, _P - 2, _P) % _P
#: y of the points of order 8 (the other one is p - y); with y = 1 (identity), y = p - 1
#: (order 2) and y = 0 (order 4) these are the y-coordinates of all eight points of
#: small order, whichever sign x takes.
_Y_ORDER_8: Final = int.from_bytes(
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"), "little"
)
_SMALL_ORDER_Y: Final = frozenset({0, 1, _P - 1, _Y_ORDER_8, _P - _Y_ORDER_8})


def check_ed25519_point(raw: bytes) -> str | None:
    """Why an Ed25519 public key is unacceptable, or None.

    Refuses non-canonical encodings (y ≥ p, or a "negative zero" x), the eight points
    of small order (a signature under such a key can be forged for every message), and
    y-coordinates with no point on the curve.
    """
    if len(raw) != 32:
        return "public_key_malformed"
    value = int.from_bytes(raw, "little")
    sign, y = value >> 255, value & ((1 << 255) - 1)
    if y >= _P or (sign and y in (1, _P - 1)):  # x = 0 exactly when y = ±1
        return "ed25519_non_canonical"
    if y in _SMALL_ORDER_Y:
        return "ed25519_small_order"
    # x² = (y² - 1) / (d·y² + 1) must have a root: Euler's criterion on u·v (v ≠ 0).
    yy = y * y % _P
    if pow((yy - 1) * (_D * yy + 1) % _P, (_P - 1) // 2, _P) > 1:
        return "ed25519_not_on_curve"
    return None


def check_rsa_key(key: rsa.RSAPublicKey) -> str | None:
    """Why an RSA public key is unacceptable (size, exponent), or None."""
    if key.key_size < MIN_RSA_BITS:
        return "rsa_key_too_small"
    if key.key_size > MAX_RSA_BITS:
        return "rsa_key_too_large"
    if key.public_numbers().e != RSA_EXPONENT:
        return "rsa_exponent_not_65537"
    return None


_PEM: Final = re.compile(
    r"-----BEGIN (PUBLIC KEY|RSA PUBLIC KEY)-----\r?\n"
    r"((?:[A-Za-z0-9+/=]+\r?\n)+)"
    r"-----END \1-----\r?\n?\Z"
)


def _unsupported_algorithm(algorithm: str, error: ErrorKind) -> ArchiveCoreError:
    # SHA-1 is never accepted; say so rather than "unknown".
    reason = "algorithm_sha1_refused" if _SHA1.search(algorithm) else "algorithm_not_supported"
    return error.error(reason)


def _parse_pem(public_key: str, error: ErrorKind) -> tuple[str, PublicKeyTypes]:
    if len(public_key) > MAX_PUBLIC_KEY_PEM:
        raise error.error("public_key_too_large")
    match = _PEM.match(public_key.strip() + "\n") if public_key.isascii() else None
    if match is None:
        raise error.error("public_key_malformed")
    label, body = match.group(1), match.group(2)
    with Boundary(error, "public_key_malformed"):
        der = base64.b64decode(re.sub(r"\s", "", body), validate=True)
        key = serialization.load_der_public_key(der)
    # Only the canonical DER of what was loaded: no BER, no second spelling.
    form = (
        serialization.PublicFormat.PKCS1
        if label == "RSA PUBLIC KEY"
        else serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with Boundary(error, "public_key_malformed"):
        canonical = key.public_bytes(serialization.Encoding.DER, form)
    if canonical != der:
        raise error.error("public_key_not_canonical")
    return label, key


def parse_public_key_pem(public_key: str, error: ErrorKind) -> PublicKeyTypes:
    """A PEM public key (SPKI, or PKCS#1 for RSA) in canonical DER; raise `error` if not."""
    return _parse_pem(public_key, error)[1]


def load_key_signature(algorithm: str, public_key: str, error: ErrorKind) -> SignatureCheck:
    """Parse and validate a PEM public key for `algorithm`; raise `error` with a reason."""
    spec = KEY_ALGORITHMS.get(algorithm)
    if spec is None:
        raise _unsupported_algorithm(algorithm, error)
    label, key = _parse_pem(public_key, error)
    if label == "RSA PUBLIC KEY" and spec.family != "rsa":
        raise error.error("key_type_mismatch")
    sha256 = hashes.SHA256()
    if spec.family == "ed25519":
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise error.error("key_type_mismatch")
        problem = check_ed25519_point(
            key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        if problem is not None:
            raise error.error(problem)
        return Ed25519Signature(key).check
    if spec.family == "ecdsa":
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise error.error("key_type_mismatch")
        if not isinstance(key.curve, spec.curve or ec.SECP256R1):
            raise error.error("curve_mismatch")
        return EcdsaSignature(key, sha256).check
    if not isinstance(key, rsa.RSAPublicKey):
        raise error.error("key_type_mismatch")
    problem = check_rsa_key(key)
    if problem is not None:
        raise error.error(problem)
    return RsaSignature(key, sha256, pss=spec.pss).check


# --------------------------------------------------------------------------- the verifier

_SIGNATURE: Final = Boundary(Catalogue.ASSERTION_INVALID, "signature_invalid")


class CachedSignatureVerifier:
    """A `SignatureVerifier` for the credential kinds one key loader understands, its
    loaded keys cached by (algorithm, public key). The key and WebAuthn verifiers are
    two of these, differing only in their kinds and their loader."""

    __slots__ = ("_keys", "_kinds", "_load_key")

    def __init__(
        self,
        kinds: frozenset[CredentialKind],
        load_key: Callable[[str, str, ErrorKind], SignatureCheck],
        *,
        max_cached_keys: int = 4096,
    ) -> None:
        self._kinds = kinds
        self._load_key = load_key
        self._keys: BoundedCache[tuple[str, str], SignatureCheck] = BoundedCache(max_cached_keys)

    def verify(self, credential: Credential, *, message: bytes, signature: bytes) -> None:
        """Return if the signature verifies; else raise ArchiveCoreError(ASSERTION_INVALID)."""
        check = self._keys.get((credential.algorithm, credential.public_key))
        if check is None or credential.kind not in self._kinds:
            check = self._load(credential)
        with _SIGNATURE:
            check(message, signature)

    def validate_public_key(self, kind: CredentialKind, algorithm: str, public_key: str) -> None:
        """Refuse unacceptable key material (ArchiveCoreError(CREDENTIAL_REJECTED))."""
        if kind not in self._kinds:
            raise Catalogue.CREDENTIAL_REJECTED.error("kind_not_supported")
        check = self._load_key(algorithm, public_key, Catalogue.CREDENTIAL_REJECTED)
        self._keys.put((algorithm, public_key), check)

    def _load(self, credential: Credential) -> SignatureCheck:
        if credential.kind not in self._kinds:
            raise Catalogue.ASSERTION_INVALID.error("kind_not_supported")
        check = self._load_key(
            credential.algorithm, credential.public_key, Catalogue.ASSERTION_INVALID
        )
        self._keys.put((credential.algorithm, credential.public_key), check)
        return check


class KeySignatureVerifier(CachedSignatureVerifier):
    """`SignatureVerifier` for the three key kinds (one instance may serve all three)."""

    __slots__ = ()

    def __init__(self, *, max_cached_keys: int = 4096) -> None:
        super().__init__(KEY_KINDS, load_key_signature, max_cached_keys=max_cached_keys)


# --------------------------------------------------------------------------- generation

KeyChoice = Literal["ed25519", "p256", "secp256k1", "rsa"]

_PEM_PUBLIC: Final = (serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def generate_key_credential(choice: KeyChoice) -> tuple[str, str, str]:
    """A new key pair: (private key PKCS#8 PEM, public key SPKI PEM, algorithm name).

    The private key loads in `dfns_sdk.KeySigner`; the public key and algorithm are what
    `Provisioning.register_credential` takes for a `Key` credential.
    """
    private: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if choice == "ed25519":
        private, algorithm = ed25519.Ed25519PrivateKey.generate(), ED25519
    elif choice == "p256":
        private, algorithm = ec.generate_private_key(ec.SECP256R1()), ECDSA_P256
    elif choice == "secp256k1":
        private, algorithm = ec.generate_private_key(ec.SECP256K1()), ECDSA_SECP256K1
    elif choice == "rsa":
        private, algorithm = rsa.generate_private_key(RSA_EXPONENT, 2048), RSA_PKCS1V15
    else:
        raise ValueError(f"unknown key choice {choice!r}")
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    public_pem = private.public_key().public_bytes(*_PEM_PUBLIC).decode("ascii")
    return private_pem, public_pem, algorithm


def algorithm_for_public_key(public_key: str) -> str:
    """The default algorithm name for a PEM public key (RSA: PKCS#1 v1.5).

    Raises ArchiveCoreError(CREDENTIAL_REJECTED) when the key is not one we accept.
    """
    _label, key = _parse_pem(public_key, Catalogue.CREDENTIAL_REJECTED)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ED25519
    if isinstance(key, rsa.RSAPublicKey):
        return RSA_PKCS1V15
    if isinstance(key, ec.EllipticCurvePublicKey):
        for name, spec in KEY_ALGORITHMS.items():
            if spec.curve is not None and isinstance(key.curve, spec.curve):
                return name
    raise Catalogue.CREDENTIAL_REJECTED.error("key_type_mismatch")
