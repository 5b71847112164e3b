"""`PageTokens`: the pagination tokens of lists, authenticated with HMAC-SHA256 under a
key of the `page-token` purpose kept in the store (`SigningKeyRing`), so that every
instance and worker of a deployment opens the tokens any of them sealed.

Format (three dot-separated segments, ASCII): `pt1<kid>.<base64url(data)>.<mac>`, where
`mac` is base64url(HMAC-SHA256(key, "pt1." + kid + "." + base64url(data))). Anything
else — forged, truncated, of an unknown or retired key — opens to None.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final

from adapters.crypto.signing_keys import HS256, KID_PATTERN, SigningKeyRing
from archive_core.encoding import MalformedInput, b64url_decode, b64url_encode
from archive_core.ports import Clock

__all__ = ["PAGE_TOKEN_PURPOSE", "HmacPageTokens"]

PAGE_TOKEN_PURPOSE: Final = "page-token"  # noqa: S105 - a key purpose, not a secret
MAX_PAGE_TOKEN: Final = 2048
_TOKEN: Final = re.compile(
    r"pt1([a-z][a-z0-9-]{0,62}[0-9])\.([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]{43})\Z"
)


class HmacPageTokens:
    """`PageTokens` over a key ring of the `page-token` purpose (see the module's doc)."""

    def __init__(self, ring: SigningKeyRing, *, clock: Clock) -> None:
        if ring.allowed_algorithms != {HS256} or ring.purpose != PAGE_TOKEN_PURPOSE:
            raise ValueError("page tokens are authenticated with HS256 keys of their purpose")
        self.ring = ring
        self._clock = clock

    def seal(self, data: bytes) -> str:
        """An opaque, authenticated token carrying `data`."""
        key = self.ring.signing_key(now=self._clock.now())
        body = f"{key.kid}.{b64url_encode(data)}"
        return f"pt1{body}.{self._mac(key.signer, body)}"

    def open(self, token: str) -> bytes | None:
        """The data of a genuine token; None for anything else."""
        if len(token) > MAX_PAGE_TOKEN or (found := _TOKEN.match(token)) is None:
            return None
        kid, data, mac = found.groups()
        now = self._clock.now()
        key = self.ring.verification_key(kid, now=now)
        if key is None or not key.usable_at(now) or KID_PATTERN.match(kid) is None:
            return None
        if not hmac.compare_digest(self._mac(key.verifier, f"{kid}.{data}"), mac):
            return None
        try:
            return b64url_decode(data)
        except MalformedInput:
            return None

    @staticmethod
    def _mac(secret: object, body: str) -> str:
        if not isinstance(secret, bytes):  # pragma: no cover - an HS256 ring holds bytes
            raise TypeError("an HS256 key is bytes")
        digest = hmac.new(secret, b"pt1." + body.encode("ascii"), hashlib.sha256).digest()
        return b64url_encode(digest)
