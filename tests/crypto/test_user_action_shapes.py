"""`HmacUserActionCodec.decode` recognises a token it issued itself (until first
presented), takes a token of the shape `issue` writes apart with one pattern, and any
other segment by segment. Both ways must agree on every token: the
same grant, or the same refusal and reason. Tokens here carry a genuine MAC over
whatever their segments hold, so the checks after the MAC are reached too.
"""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.crypto.signing_keys import HS256, USER_ACTION_PURPOSE, SigningKeyRing
from adapters.crypto.tokens import HmacUserActionCodec
from adapters.storage.memory import MemorySigningKeyStore
from adapters.system.clocks import ManualClock
from archive_core.encoding import b64url_encode
from archive_core.errors import ArchiveCoreError
from tests.crypto.support import GRANT, NOW
from tests.crypto.test_tokens import UserActions

_NAMES = ("kid", "token_id", "user_id", "org_id", "credential", "method", "digest",
          "issued", "expires", "path")  # fmt: skip

#: Segment values near every edge the checks draw: empty, dots, digits, hex, methods,
#: kids, control and punctuation characters, overlong texts.
_EDGE_VALUES = [
    "", ".", "0", "00", "-1", "17", "9" * 30, "a" * 257, "a" * 256, "x\n", " ",
    "GET", "POST", "PUT", "DELETE", "PATCH", "TRACE", "get",
    "a" * 64, "A" * 64, "0" * 63, "0" * 65,
    "user-action-1", "user-action-2", "User-action-1", "user-action-", "a0", "a",
    b64url_encode(b"/auth/users/us-1"), b64url_encode(b"\xff"), "!!", "QQ", "QR",
]  # fmt: skip
_SEGMENTS = st.one_of(
    st.sampled_from(_EDGE_VALUES),
    st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=12),
)


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return ("grant", call())
    except ArchiveCoreError as error:
        return ("refused", (error.code, error.reason))


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(_NAMES), _SEGMENTS, max_size=3), st.booleans())
def test_the_pattern_and_the_segments_agree(changes: dict[str, str], short_mac: bool) -> None:
    actions = UserActions()
    token = actions.resign(actions.codec.issue(GRANT), **changes)
    if short_mac:
        token = token[:-1]
    fast = _outcome(lambda: actions.codec.decode(token))
    slow = _outcome(lambda: actions.codec._decode_segments(token))
    if token.isascii() and len(token) <= 4096:
        assert fast == slow
    else:  # refused before either way is chosen
        assert fast[0] == "refused"


def test_a_genuine_token_takes_the_pattern_and_a_damaged_one_the_segments() -> None:
    actions = UserActions()
    token = actions.codec.issue(GRANT)
    assert actions.codec.decode(token) == actions.codec._decode_segments(token) == GRANT
    odd = actions.resign(token, method="TRACE")
    assert _outcome(lambda: actions.codec.decode(odd)) == (
        "refused",
        ("user_action_invalid", "payload_malformed"),
    )


def test_a_token_this_codec_issued_is_recognised_once_then_decoded_the_long_way() -> None:
    actions = UserActions()
    token = actions.codec.issue(GRANT)
    assert len(actions.codec._issued) == 1
    assert actions.codec.decode(token) == GRANT
    assert len(actions.codec._issued) == 0  # remembered until first presented
    assert actions.codec.decode(token) == GRANT  # again: pattern, key, MAC, grant


def test_a_remembered_token_whose_key_retired_is_refused_as_such() -> None:
    actions = UserActions()
    token = actions.codec.issue(GRANT)
    actions.ring.retire("user-action-1", at=NOW)
    outcome = _outcome(lambda: actions.codec.decode(token))
    assert outcome == ("refused", ("user_action_invalid", "kid_retired"))


def test_remembered_tokens_are_bounded() -> None:
    store = MemorySigningKeyStore()
    ring = SigningKeyRing(store, purpose=USER_ACTION_PURPOSE, algorithm=HS256)
    codec = HmacUserActionCodec(ring, clock=ManualClock(NOW), max_remembered_tokens=3)
    tokens = [codec.issue(attrs.evolve(GRANT, token_id=f"ua-{i}")) for i in range(5)]
    assert len(codec._issued) == 3
    # the two forgotten ones still decode, the long way
    assert [codec.decode(t).token_id for t in tokens] == [f"ua-{i}" for i in range(5)]
