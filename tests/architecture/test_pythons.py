"""The Python versions the package claims are one list, and this run is one of them."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _claimed() -> list[tuple[int, int]]:
    found = []
    for classifier in PYPROJECT["project"]["classifiers"]:
        match = re.fullmatch(r"Programming Language :: Python :: 3\.(\d+)", classifier)
        if match:
            found.append((3, int(match.group(1))))
    return found


def test_the_running_python_is_claimed() -> None:
    assert sys.version_info[:2] in _claimed()


def test_the_oldest_claimed_python_is_the_floor_everywhere() -> None:
    major, minor = min(_claimed())
    assert PYPROJECT["project"]["requires-python"] == f">={major}.{minor}"
    assert PYPROJECT["tool"]["mypy"]["python_version"] == f"{major}.{minor}"
    assert PYPROJECT["tool"]["ruff"]["target-version"] == f"py{major}{minor}"
    assert _claimed() == sorted(_claimed()) and len(_claimed()) >= 3


def test_ci_proves_every_claimed_python() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "Programming Language :: Python ::" in script  # it reads the same list
    assert "tests/unit tests/contracts tests/testing tests/e2e/test_sdk.py" in script
