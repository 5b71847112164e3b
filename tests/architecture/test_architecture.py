"""The core stays pure: import contracts (run through import-linter), and no I/O, clock,
environment or randomness reads in its source."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "archive_core"
CORE_FILES = sorted(CORE.rglob("*.py"))

FORBIDDEN_MODULES = {
    "random",
    "secrets",
    "socket",
    "subprocess",
    "urllib",
    "http",
    "sqlite3",
    "asyncio",
    "threading",
    "multiprocessing",
    "time",
    "os",
    "io",
    "pathlib",
    "shutil",
    "tempfile",
}
FORBIDDEN_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "monotonic"),
    ("os", "getenv"),
    ("os", "urandom"),
}
FORBIDDEN_NAMES = {"open", "input", "print", "exec", "eval", "__import__"}


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(  # noqa: S603 - our own venv's tool, fixed arguments
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout
    # the house's shape: entrypoints, the testing kit, transport | wiring, observability
    # | client, crypto | storage, system, the core — each imports only from below, and
    # siblings not from each other (the transport reaches no use case through `wiring`)
    assert "The house's layers" in result.stdout


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_is_pure(path: Path) -> None:
    allowed = set(sys.stdlib_module_names) | {"attr", "attrs", "archive_core", "__future__"}
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    problems = []
    for node in ast.walk(tree):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        for module in modules:
            top = module.split(".")[0]
            if top not in allowed:
                problems.append(
                    f"line {getattr(node, 'lineno', 0)}: imports {module} (not stdlib/attrs)"
                )
            if top in FORBIDDEN_MODULES:
                problems.append(
                    f"line {getattr(node, 'lineno', 0)}: imports {module} (I/O, clock or randomness)"
                )
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) in FORBIDDEN_CALLS
        ):
            problems.append(f"line {getattr(node, 'lineno', 0)}: {node.value.id}.{node.attr}")
        if (
            isinstance(node, ast.Name)
            and node.id in FORBIDDEN_NAMES
            and isinstance(node.ctx, ast.Load)
        ):
            problems.append(f"line {getattr(node, 'lineno', 0)}: {node.id}")
    assert not problems, "\n".join(problems)


def test_the_purity_check_would_catch_a_violation(tmp_path: Path) -> None:
    # The checks above must be able to fail: run the same walk on a bad module.
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import jwt\nfrom datetime import datetime\nx = datetime.now()\n", encoding="utf-8"
    )
    with pytest.raises(AssertionError) as caught:
        test_core_module_is_pure(bad)
    assert "imports jwt" in str(caught.value) and "datetime.now" in str(caught.value)
