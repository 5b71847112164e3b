"""The signed pipeline's steps carry one numbering, SPEC §4's order: the step table of
`use_cases/signed_mutation.py` and its numbered comments, `docs/extending.md`'s table,
`docs/architecture.md`'s path of a request and `docs/security.md`'s checks name the
same step by the same number."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from archive_core.use_cases import signed_mutation

ROOT = Path(__file__).resolve().parents[2]
STEPS = range(1, 11)
#: What each step's text names, in every place that numbers it (any one of the words).
NAMES = {
    1: ("header",),
    2: ("auth", "bearer"),
    3: ("user action",),
    4: ("permission",),
    5: ("body",),
    6: ("id",),
    7: ("target", "look-up"),
    8: ("kind",),
    9: ("rule",),
    10: ("commit",),
}


def _section(path: Path, start: str, end: str) -> str:
    text = path.read_text(encoding="utf-8")
    return text[text.index(start) : text.index(end, text.index(start))]


def _numbered_items(text: str) -> dict[int, str]:
    return {int(n): line for n, line in re.findall(r"^(\d+)\. (.+)$", text, re.MULTILINE)}


def _table() -> dict[int, str]:
    doc = signed_mutation.__doc__ or ""
    table = doc[doc.index("1. headers") : doc.index("Steps 2 to 10")]
    return {
        int(n): text
        for n, text in re.findall(r"(?:^|\s{2,})(\d+)\. (.+?)(?=\s{2,}\d+\. |$)", table, re.M)
    }


def _comments() -> dict[int, str]:
    source = Path(signed_mutation.__file__).read_text(encoding="utf-8")
    return {int(n): text for n, text in re.findall(r"^\s+# (\d+)\. (.+)$", source, re.M)}


def _extending() -> dict[int, str]:
    text = (ROOT / "docs" / "extending.md").read_text(encoding="utf-8")
    return {int(n): row for n, row in re.findall(r"^\| (\d+) \| (.+?) \|", text, re.M)}


def _architecture() -> dict[int, str]:
    path = ROOT / "docs" / "architecture.md"
    return _numbered_items(_section(path, "## A request's path", "## Where things"))


def _security() -> dict[int, str]:
    path = ROOT / "docs" / "security.md"
    return _numbered_items(_section(path, "Request (SPEC §4 order", "User action signing"))


PLACES: dict[str, Callable[[], dict[int, str]]] = {
    "signed_mutation.py's table": _table,
    "extending.md": _extending,
    "architecture.md": _architecture,
    "security.md": _security,
}


@pytest.mark.parametrize("place", PLACES)
def test_each_place_numbers_the_ten_steps_alike(place: str) -> None:
    items = PLACES[place]()
    assert sorted(items) == list(STEPS), f"{place} numbers {sorted(items)}"
    for number, text in items.items():
        assert any(name in text.lower() for name in NAMES[number]), (
            f"{place}, step {number}: {text}"
        )


def test_the_pipelines_numbered_comments_name_their_steps() -> None:
    comments = _comments()
    assert sorted(comments) == list(range(3, 11))  # steps 1 and 2 are the gate's calls
    for number, text in comments.items():
        assert any(name in text.lower() for name in NAMES[number]), f"# {number}. {text}"
