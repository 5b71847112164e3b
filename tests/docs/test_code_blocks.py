"""Every `python` code block in README.md and docs/*.md runs.

A block whose first line is `# file: NAME.py` is (part of: blocks of one name join in
order) a file of a project the document shows — a module, a `conftest.py`, a test
module. A document's files are written to a
fresh directory and pytest runs there, in a subprocess, with the testing kit's plugin
loaded from the installed package as a team's project would have it; every test they
hold must pass.

The other blocks of a document run in order in one namespace (a later block may use
what an earlier one defined), which starts with `deployment`: a `Deployment` wired to
in-memory storage, as the composition root would hand it to an embedding.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from adapters.testing.world import World

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
_FILE = re.compile(r"\A# file: ([\w/]+\.py)\n")


def _all_blocks(path: Path) -> list[str]:
    return _BLOCK.findall(path.read_text(encoding="utf-8"))


def _blocks(path: Path) -> list[str]:
    """The blocks that run in the document's namespace."""
    return [block for block in _all_blocks(path) if not _FILE.match(block)]


def _files(path: Path) -> dict[str, str]:
    """The blocks that are files of a project: name → source (parts joined in order)."""
    files: dict[str, str] = {}
    for block in _all_blocks(path):
        match = _FILE.match(block)
        if match:
            name = match.group(1)
            files[name] = files.get(name, "") + ("\n" if name in files else "") + block
    return files


WITH_CODE = [path for path in DOCUMENTS if _blocks(path)]
WITH_FILES = [path for path in DOCUMENTS if _files(path)]


def test_the_docs_have_code_to_run() -> None:
    assert sum(len(_all_blocks(path)) for path in DOCUMENTS) >= 8
    assert [path.name for path in WITH_FILES] == ["adapters.md", "testing.md"]


@pytest.mark.parametrize("path", WITH_CODE, ids=lambda p: p.name)
def test_code_blocks_run(path: Path) -> None:
    namespace: dict[str, Any] = {"deployment": World().deployment, "__name__": f"docs_{path.stem}"}
    for index, block in enumerate(_blocks(path)):
        try:
            exec(compile(block, f"{path.name}[{index}]", "exec"), namespace)  # noqa: S102 - our own docs
        except Exception as exc:  # pragma: no cover - reported with the block that failed
            raise AssertionError(f"{path.name} block {index} failed: {exc!r}\n{block}") from exc


@pytest.mark.parametrize("path", WITH_FILES, ids=lambda p: p.name)
def test_the_files_a_document_shows_pass_their_tests(path: Path, tmp_path: Path) -> None:
    files = _files(path)
    for name, source in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(source, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    defined = sum(len(re.findall(r"^def test_", source, re.MULTILINE)) for source in files.values())
    passed = re.search(r"\b(\d+) passed\b", report)
    # every test function the files define passed (suites they subclass add more)
    assert passed is not None and int(passed.group(1)) >= defined > 0, report


def test_the_extending_guides_operation_is_the_one_the_suite_serves() -> None:
    """docs/extending.md shows `tests/e2e/rename_user.py` byte for byte, so the module
    a reader copies is the one `serve` and the official SDK are tested with."""
    module = (ROOT / "tests" / "e2e" / "rename_user.py").read_text(encoding="utf-8")
    assert module in _all_blocks(ROOT / "docs" / "extending.md")
