"""Stored text printed by the CLI: what a terminal would act on is shown as an escape."""

from __future__ import annotations

import pytest

from adapters.entrypoints.escaping import escaped


@pytest.mark.parametrize(
    "text", ["a@x.io", "Élodie Dupont", "山田@例え.jp", "or-2mhcm-9r90a-92ran47bjpl60hmv", ""]
)
def test_printable_text_is_shown_as_it_is(text: str) -> None:
    assert escaped(text) is text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a\nb\r\tc", "a\\nb\\r\\tc"),
        ("\x1b[32mok\x1b[0m", "\\x1b[32mok\\x1b[0m"),
        ("del\x7f\x85", "del\\x7f\\x85"),
        ("evil\u202egnp\u2066", "evil\\u202egnp\\u2066"),
        ("zero\u200bwidth\u2028", "zero\\u200bwidth\\u2028"),
        ("no\xa0break", "no\\xa0break"),
        ("tag\U000e0041", "tag\\U000e0041"),
        ("half\udc80", "half\\udc80"),
        ("back\\slash", "back\\\\slash"),  # an escape of its own cannot be forged
        ("a\\nb\n", "a\\\\nb\\n"),
    ],
)
def test_what_a_terminal_would_act_on_is_escaped_on_one_line(text: str, shown: str) -> None:
    assert escaped(text) == shown
    assert shown.isprintable()
