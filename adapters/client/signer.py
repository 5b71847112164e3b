"""The client side of user action signing, as the official SDKs do it (for the demo,
the benchmarks and embedders' own tools): build the init body, sign the challenge with a
private key, build the completion body.

The clientData is the official Python SDK's: compact JSON of `type` `key.get`, the
challenge, `origin` and `crossOrigin` false; the signature is over those exact bytes —
Ed25519, ECDSA with SHA-256 (DER) or RSA PKCS#1 v1.5 with SHA-256, by the key's type.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from archive_core.encoding import b64url_encode

__all__ = ["DEFAULT_ORIGIN", "KeySigner", "init_body"]

DEFAULT_ORIGIN: Final = "https://app.dfns.io"
_SHA256: Final = hashes.SHA256()


def init_body(method: str, path: str, payload: str = "") -> bytes:
    """The `POST /auth/action/init` body for one request."""
    return json.dumps(
        {
            "userActionPayload": payload,
            "userActionHttpMethod": method,
            "userActionHttpPath": path,
            "userActionServerKind": "Api",
        }
    ).encode()


class KeySigner:
    """Signs challenges with a `Key` credential's private key (PKCS#8 PEM)."""

    def __init__(self, cred_id: str, private_key_pem: str, *, origin: str = DEFAULT_ORIGIN):
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
        if not isinstance(
            key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
        ):
            raise ValueError("a Key credential signs with Ed25519, ECDSA or RSA")
        self.cred_id = cred_id
        self.origin = origin
        self._key = key

    def sign(self, data: bytes) -> bytes:
        """The signature over `data`."""
        key = self._key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(_SHA256))
        return key.sign(data, padding.PKCS1v15(), _SHA256)

    def first_factor(self, challenge: str, *, forge: bool = False) -> dict[str, Any]:
        """The `firstFactor` answering `challenge` (`forge` flips a signature bit)."""
        client_data = json.dumps(
            {
                "type": "key.get",
                "challenge": challenge,
                "origin": self.origin,
                "crossOrigin": False,
            },
            separators=(",", ":"),
        ).encode()
        signature = self.sign(client_data)
        if forge:
            signature = bytes([signature[0] ^ 0x01]) + signature[1:]
        return {
            "kind": "Key",
            "credentialAssertion": {
                "credId": self.cred_id,
                "clientData": b64url_encode(client_data),
                "signature": b64url_encode(signature),
            },
        }

    def complete_body(self, challenge: Mapping[str, Any], *, forge: bool = False) -> bytes:
        """The `POST /auth/action` body answering an init answer."""
        return json.dumps(
            {
                "challengeIdentifier": challenge["challengeIdentifier"],
                "firstFactor": self.first_factor(str(challenge["challenge"]), forge=forge),
            }
        ).encode()
