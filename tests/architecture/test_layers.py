"""The house's shape, counted on every import statement (module level, under
`if TYPE_CHECKING:`, inside functions): no import runs from a lower layer to a higher
one, siblings of a layer import nothing from each other, and so the transport imports
nothing from `wiring`. The layers are the ones pyproject.toml gives import-linter
(`test_architecture.py` runs it); this walk is its second, independent reading. That
the core imports nothing but the standard library and attrs is
`test_architecture.py`'s `test_core_module_is_pure`."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tests.architecture.test_import_cycles import import_graph

ROOT = Path(__file__).resolve().parents[2]


def _layers() -> list[set[str]]:
    """The house's layers, highest first: each a set of sibling packages."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = [
        c for c in config["tool"]["importlinter"]["contracts"] if c["name"].startswith("The house")
    ]
    return [{part.strip() for part in layer.split("|")} for layer in contract["layers"]]


def _home(module: str, layers: list[set[str]]) -> tuple[int, str] | None:
    """The layer (its rank, 0 the highest) and the sibling package `module` belongs to."""
    for rank, siblings in enumerate(layers):
        for package in siblings:
            if module == package or module.startswith(package + "."):
                return rank, package
    return None


def violations(graph: dict[str, set[str]], layers: list[set[str]]) -> list[str]:
    """Each import that runs up the layers or across to a sibling."""
    found = []
    for module, targets in sorted(graph.items()):
        here = _home(module, layers)
        for target in sorted(targets):
            there = _home(target, layers)
            if here is None or there is None or here[1] == there[1]:
                continue
            if there[0] < here[0]:
                found.append(f"{module} → {target} runs up the house")
            elif there[0] == here[0]:
                found.append(f"{module} → {target} imports a sibling")
    return found


def _graph() -> dict[str, set[str]]:
    return {**import_graph(ROOT, "adapters"), **import_graph(ROOT, "archive_core")}


def test_no_import_runs_back_up_or_across() -> None:
    layers = _layers()
    assert len(layers) == 7 and {"adapters.transport", "adapters.wiring"} in layers
    graph = _graph()
    assert all(_home(module, layers) for module in graph if module != "adapters")
    assert violations(graph, layers) == []


def test_the_transport_imports_nothing_from_wiring() -> None:
    graph = _graph()
    transport = [module for module in graph if module.startswith("adapters.transport.")]
    assert len(transport) > 10
    assert [
        f"{module} → {target}"
        for module in transport
        for target in graph[module]
        if target == "adapters.wiring" or target.startswith("adapters.wiring.")
    ] == []


def test_the_walk_sees_an_import_up_and_one_across() -> None:
    layers = [{"pkg.top"}, {"pkg.left", "pkg.right"}, {"pkg.low"}]
    graph = {
        "pkg.top.a": {"pkg.left.b", "pkg.low.c"},
        "pkg.left.b": {"pkg.right.d", "pkg.left.e"},
        "pkg.left.e": set(),
        "pkg.right.d": set(),
        "pkg.low.c": {"pkg.top.a"},
    }
    assert violations(graph, layers) == [
        "pkg.left.b → pkg.right.d imports a sibling",
        "pkg.low.c → pkg.top.a runs up the house",
    ]
