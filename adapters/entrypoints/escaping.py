"""Stored text made safe to print on a terminal.

A username (or any text a store holds) may carry a newline, an ANSI escape or a
bidirectional override that, printed as it is, forges lines of the CLI's output or
colours a verdict. Every text the CLI prints from stored data goes through `escaped`.
`--json` output needs no help: `json.dumps` escapes control characters and, with its
default `ensure_ascii=True`, every character beyond ASCII.
"""

from __future__ import annotations

__all__ = ["escaped"]


def escaped(text: str) -> str:
    """`text` with every character `str.isprintable` refuses (control characters, bidi
    controls and other format characters, line and paragraph separators, non-ASCII
    spaces, lone surrogates) and the backslash written as Python escapes (`\\n`, `\\x1b`,
    `\\u202e`, `\\\\`): one line, shown as stored, with no escape of its own to forge."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(
        c if c.isprintable() and c != "\\" else c.encode("unicode_escape").decode("ascii")
        for c in text
    )
