"""The username rule (SPEC §1.5), for every way a user is created.

A username is printable: no control character, no bidirectional control, nothing
`str.isprintable` refuses; 1 to 254 characters; and unique per org among users not
archived, compared with `str.casefold()` (`username_key`; no other normalisation, so
composed and decomposed accents are two names). The check is pure; uniqueness is
the store's, under `username_key` (`UserRepository.add`).
"""

from __future__ import annotations

import unicodedata
from typing import Final

from archive_core.errors import ArchiveCoreError, Catalogue

__all__ = ["BIDI_CONTROLS", "MAX_USERNAME_LENGTH", "check_username", "username_key"]

MAX_USERNAME_LENGTH: Final = 254

#: The bidirectional formatting characters of Unicode (UAX #9): the Arabic letter
#: mark, the left-to-right and right-to-left marks, embeddings, overrides and isolates.
BIDI_CONTROLS: Final = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def check_username(username: str) -> None:
    """Refuse (400 `username_invalid`, the message naming what is wrong and, for a
    character, its code point) a username that is empty, longer than 254 characters,
    or holds a control, bidirectional control or other non-printable character."""
    if not username:
        raise _invalid("empty", "it is empty")
    if len(username) > MAX_USERNAME_LENGTH:
        raise _invalid("too_long", f"it is longer than {MAX_USERNAME_LENGTH} characters")
    if username.isprintable():
        return
    char = next(c for c in username if not c.isprintable())
    point = f"U+{ord(char):04X}"
    if unicodedata.category(char) == "Cc":
        raise _invalid("control_character", f"it holds a control character ({point})")
    if char in BIDI_CONTROLS:
        raise _invalid("bidi_control", f"it holds a bidirectional control character ({point})")
    raise _invalid("not_printable", f"it holds a character that is not printable ({point})")


def username_key(username: str) -> str:
    """What usernames are compared by: two usernames of one org are the same name when
    their keys are equal."""
    return username.casefold()


def _invalid(reason: str, what: str) -> ArchiveCoreError:
    return Catalogue.USERNAME_INVALID.error(
        reason, message=f"The username is not acceptable: {what}."
    )
