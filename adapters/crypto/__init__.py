"""Crypto adapters: credential verifiers, authenticatorData parsing, tokens, signing keys.

- `keys`: `Key`, `PasswordProtectedKey`, `RecoveryKey` credentials (PEM keys, `cryptography`)
- `webauthn`: `Fido2` credentials (COSE keys and authenticatorData, `fido2`)
- `tokens`: JWT bearer tokens (PyJWT) and HMAC user action tokens
- `signing_keys`: the server's token keys over the `SigningKeyStore` port
- `boundary`: the one place where library exceptions become domain errors

Nothing happens at import time; the composition root builds these objects. The
package names what `docs/crypto.md` shows: the verifiers of every credential kind
(`credential_verifiers`), key generation, and the signing key ring with its purposes
and algorithms. The adapters' classes stay in their modules, where the composition
root takes them.
"""

from __future__ import annotations

from adapters.crypto.keys import KEY_KINDS, KeySignatureVerifier, generate_key_credential
from adapters.crypto.signing_keys import (
    BEARER_PURPOSE,
    EDDSA,
    ES256,
    HS256,
    USER_ACTION_PURPOSE,
    SigningKeyRing,
)
from adapters.crypto.webauthn import Fido2SignatureVerifier
from archive_core.entities import CredentialKind
from archive_core.ports import SignatureVerifier

__all__ = [
    "BEARER_PURPOSE",
    "EDDSA",
    "ES256",
    "HS256",
    "USER_ACTION_PURPOSE",
    "SigningKeyRing",
    "credential_verifiers",
    "generate_key_credential",
]


def credential_verifiers(*, max_cached_keys: int = 4096) -> dict[CredentialKind, SignatureVerifier]:
    """One verifier per credential kind (the three key kinds share one key cache)."""
    keys = KeySignatureVerifier(max_cached_keys=max_cached_keys)
    verifiers: dict[CredentialKind, SignatureVerifier] = dict.fromkeys(KEY_KINDS, keys)
    verifiers[CredentialKind.FIDO2] = Fido2SignatureVerifier(max_cached_keys=max_cached_keys)
    return verifiers
