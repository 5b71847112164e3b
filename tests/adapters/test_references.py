"""`serve --operation MODULE:NAME` references: the form is checked without importing,
the module is imported from the current directory first, and every way a reference
can fail is one `BadOperation` line naming it (end to end: tests/e2e/test_operations.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from adapters.entrypoints.references import BadOperation, load_operation, operation_reference
from tests.e2e.rename_user import RENAME_USER


@pytest.mark.parametrize(
    "text", ["rename", "a.b", ":X", "a.:X", "a:b:c", "a:X.Y", "a b:X", "٣:X", "a:", "a.b:1X"]
)
def test_the_form_is_module_colon_name(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        operation_reference(text)
    with pytest.raises(BadOperation, match="must be MODULE:NAME"):
        load_operation(text)


def test_a_reference_loads_its_declaration() -> None:
    assert operation_reference("tests.e2e.rename_user:RENAME_USER") == (
        "tests.e2e.rename_user:RENAME_USER"
    )
    assert load_operation("tests.e2e.rename_user:RENAME_USER") is RENAME_USER


def test_modules_come_from_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "own_operations_here.py").write_text(
        "from tests.e2e.rename_user import RENAME_USER as MINE\n", encoding="utf-8"
    )
    (tmp_path / "own_operations_broken.py").write_text(
        "raise RuntimeError('the password is hunter2')\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
    assert load_operation("own_operations_here:MINE") is RENAME_USER
    with pytest.raises(BadOperation) as broken:
        load_operation("own_operations_broken:MINE")
    assert str(broken.value) == (
        "--operation own_operations_broken:MINE: importing own_operations_broken raised "
        "RuntimeError"
    )
