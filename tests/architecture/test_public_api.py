"""Each package names its public API in `__init__` (`__all__`), and the README and the
documentation import only from those package-level APIs — never from an implementation
module. Two documented exceptions: what an adapter author writes against —
`archive_core.ports` (the protocols an adapter implements), the modules of the values
they speak of (`archive_core.entities`, `archive_core.ids`, `archive_core.errors`) and
what an audit log writes with each record (`archive_core.audit_tree`) —
and the framework embeddings, leaf modules that each import their framework."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import adapters
import archive_core

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Packages whose __init__ needs an optional extra or a framework are not imported here.
OPTIONAL = {"adapters.transport.embeddings"}
PUBLIC_MODULES = {
    "archive_core.ports",
    "archive_core.audit_tree",
    "archive_core.entities",
    "archive_core.ids",
    "archive_core.errors",
} | {f"adapters.transport.embeddings.{framework}" for framework in ("fastapi", "flask", "django")}


def packages() -> list[str]:
    found = ["archive_core", "adapters"]
    for root in (archive_core, adapters):
        for info in pkgutil.walk_packages(root.__path__, root.__name__ + "."):
            if info.ispkg and info.name not in OPTIONAL and ".migrations" not in info.name:
                found.append(info.name)
    return found


@pytest.mark.parametrize("name", packages())
def test_every_package_names_its_public_api(name: str) -> None:
    package = importlib.import_module(name)
    exported = getattr(package, "__all__", None)
    if name == "adapters":
        assert exported is None  # a namespace of role packages, nothing of its own
        return
    assert exported, f"{name}/__init__.py has no __all__"
    for public in exported:
        assert hasattr(package, public), f"{name}.__all__ names {public}, which it lacks"


def test_a_public_name_has_one_home_package() -> None:
    """A package names what it holds; it does not name again what another package
    names (the library's operations are `archive_core.use_cases`', the clocks
    `adapters.system`'s), so an embedder finds each name in one place."""
    homes: dict[tuple[str, int], list[str]] = {}
    for name in packages():
        package = importlib.import_module(name)
        for public in getattr(package, "__all__", ()):
            homes.setdefault((public, id(getattr(package, public))), []).append(name)
    named_twice = {public: where for (public, _), where in homes.items() if len(where) > 1}
    assert not named_twice, f"named by more than one package: {named_twice}"


def imports_in(document: Path) -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", document.read_text(encoding="utf-8"), re.S)
    modules = []
    for block in blocks:
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.append(node.module)
            elif isinstance(node, ast.Import):
                modules.extend(alias.name for alias in node.names)
    return modules


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_documents_import_only_package_apis(document: Path) -> None:
    public = set(packages()) | PUBLIC_MODULES
    ours = [m for m in imports_in(document) if m.split(".")[0] in ("adapters", "archive_core")]
    private = [m for m in ours if m not in public]
    assert not private, f"{document.name} imports implementation modules: {private}"
