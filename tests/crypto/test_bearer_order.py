"""A bearer token's payload is read before its signature is checked, and reported after:
whatever the payload holds, a token whose signature fails is refused as such."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.crypto.support import expect_error
from tests.crypto.test_tokens import Bearer, claims

PAYLOADS: list[tuple[str, Callable[[], bytes | dict[str, object]]]] = [
    ("not-json", lambda: b"{not json"),
    ("duplicate-claim", lambda: b'{"iss":"a","iss":"b"}'),
    ("issuer-missing", lambda: {k: v for k, v in claims().items() if k != "iss"}),
    ("subject-not-the-user", lambda: claims(sub="us-other-user-000000000002")),
    ("well-formed", claims),
]


@pytest.mark.parametrize("payload", [pytest.param(build, id=name) for name, build in PAYLOADS])
def test_a_failed_signature_is_reported_whatever_the_payload(
    payload: Callable[[], bytes | dict[str, object]],
) -> None:
    bearer = Bearer()
    forged = bearer.forge(payload=payload(), signature=bytes(64))
    expect_error(lambda: bearer.verify(forged), "not_authorized", "signature_invalid")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "payload_malformed"),
        (b'{"iss":"a","iss":"b"}', "payload_malformed"),
        ({k: v for k, v in claims().items() if k != "iss"}, "iss_missing"),
        (claims(sub="us-other-user-000000000002"), "sub_mismatch"),
    ],
)
def test_a_signed_payload_s_defect_is_reported_after_the_signature_verified(
    payload: bytes | dict[str, object], reason: str
) -> None:
    bearer = Bearer()
    expect_error(lambda: bearer.verify(bearer.forge(payload=payload)), "not_authorized", reason)
    # refused tokens are not remembered: the same token is refused the same way again
    expect_error(lambda: bearer.verify(bearer.forge(payload=payload)), "not_authorized", reason)
