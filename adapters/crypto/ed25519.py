"""Ed25519 signatures over raw public keys (`cryptography`): signed notes' checkpoints."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

__all__ = ["CryptographyEd25519Verifier"]


class CryptographyEd25519Verifier:
    """`archive_core.ports.Ed25519Verifier` with `cryptography`."""

    def verify(self, public_key: bytes, *, message: bytes, signature: bytes) -> bool:
        """Whether `signature` is `public_key`'s over `message` (False for malformed input)."""
        try:
            key = ed25519.Ed25519PublicKey.from_public_bytes(public_key)
            key.verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True
