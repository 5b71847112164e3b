"""A software WebAuthn authenticator for tests: P-256 (ES256) or Ed25519 (EdDSA) COSE keys.

It produces what a browser and an authenticator would send for `navigator.credentials.get`:
clientDataJSON, authenticatorData (rpIdHash, flags, signature counter, optional CBOR
extensions) and the signature over `authenticatorData || SHA-256(clientDataJSON)`.
Every part can be bent for negative tests.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping
from typing import Any, Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from fido2 import cbor, cose

from archive_core.encoding import b64url_encode

FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_BE = 0x08
FLAG_BS = 0x10
FLAG_AT = 0x40
FLAG_ED = 0x80

CoseChoice = Literal["ES256", "EdDSA"]
_COSE_CLASSES: dict[str, type[cose.CoseKey]] = {
    "ES256": cose.ES256,
    "ES384": cose.ES384,
    "EdDSA": cose.EdDSA,
    "RS256": cose.RS256,
    "PS256": cose.PS256,
}


def cose_key(public_key: PublicKeyTypes, algorithm: str) -> dict[int, Any]:
    """The COSE form of a `cryptography` public key, made by fido2."""
    made = _COSE_CLASSES[algorithm].from_cryptography_key(public_key)
    return dict(made)


def authenticator_data(
    rp_id: str, flags: int, sign_count: int, *, extensions: bytes = b""
) -> bytes:
    """rpIdHash || flags || signCount (big endian) || extensions (already CBOR)."""
    return (
        hashlib.sha256(rp_id.encode()).digest() + struct.pack(">BI", flags, sign_count) + extensions
    )


class SoftwareAuthenticator:
    """One credential of a pretend authenticator."""

    def __init__(self, algorithm: CoseChoice = "ES256", *, cred_id: bytes = b"soft-cred-1") -> None:
        self.algorithm = algorithm
        self.cred_id = b64url_encode(cred_id)
        self.sign_count = 0
        if algorithm == "ES256":
            self._ec = ec.generate_private_key(ec.SECP256R1())
            self.cose_key: Mapping[int, Any] = cose_key(self._ec.public_key(), "ES256")
            self.cose_algorithm = "-7"
        else:
            self._ed = ed25519.Ed25519PrivateKey.generate()
            self.cose_key = cose_key(self._ed.public_key(), "EdDSA")
            self.cose_algorithm = "-8"

    @property
    def public_key(self) -> str:
        """The COSE key as the credential stores it: base64url CBOR."""
        return b64url_encode(cbor.encode(dict(self.cose_key)))

    def sign(self, message: bytes) -> bytes:
        """A signature by this credential's private key (DER for ES256)."""
        if self.algorithm == "ES256":
            return self._ec.sign(message, ec.ECDSA(hashes.SHA256()))
        return self._ed.sign(message)

    def get_assertion(
        self,
        *,
        challenge: str,
        origin: str,
        rp_id: str,
        flags: int = FLAG_UP | FLAG_UV,
        sign_count: int | None = None,
        client_data: Mapping[str, Any] | bytes | None = None,
        extensions: bytes = b"",
        user_handle: bytes | None = None,
    ) -> dict[str, Any]:
        """A `Fido2` firstFactor for `POST /auth/action`, with the raw parts alongside."""
        if sign_count is None:
            self.sign_count += 1
            sign_count = self.sign_count
        if client_data is None:
            client_data = {
                "type": "webauthn.get",
                "challenge": challenge,
                "origin": origin,
                "crossOrigin": False,
            }
        raw_client_data = (
            client_data
            if isinstance(client_data, bytes)
            else json.dumps(client_data, separators=(",", ":")).encode()
        )
        auth_data = authenticator_data(rp_id, flags, sign_count, extensions=extensions)
        signature = self.sign(auth_data + hashlib.sha256(raw_client_data).digest())
        assertion: dict[str, Any] = {
            "credId": self.cred_id,
            "clientData": b64url_encode(raw_client_data),
            "authenticatorData": b64url_encode(auth_data),
            "signature": b64url_encode(signature),
        }
        if user_handle is not None:
            assertion["userHandle"] = b64url_encode(user_handle)
        return {"kind": "Fido2", "credentialAssertion": assertion}
