"""`decision_time_ratio`: our permission decision ÷ pycasbin's `Enforcer.enforce`.

The caller holds 20 operations; archiving an `EndUser` needs two of them. The peer is
the equivalent RBAC model in pycasbin with 20 policies, asked once per required
permission (two `enforce` calls), as an application would ask it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import casbin  # type: ignore[import-untyped]  # pycasbin ships no types

from archive_core.entities import UserKind
from archive_core.operations import DFNS_PRESET
from archive_core.permissions import authorize
from archive_core.use_cases import ARCHIVE_USER
from benchmarks.timing import compare_ratio

MODEL = """
[request_definition]
r = sub, perm

[policy_definition]
p = sub, perm

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && r.perm == p.perm
"""

REQUIRED = ("Auth:Users:Update", "Auth:Types:EndUser")
OPERATIONS = tuple(f"Wallets:Op{i}" for i in range(18)) + REQUIRED


def _enforcer(folder: Path) -> Any:
    model = folder / "model.conf"
    policy = folder / "policy.csv"
    model.write_text(MODEL, encoding="utf-8")
    lines = [f"p, archivers, {op}" for op in OPERATIONS] + ["g, alice, archivers"]
    policy.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return casbin.Enforcer(str(model), str(policy))


def run(*, quick: bool, tiny: bool = False) -> dict[str, Any]:
    """Measure both side by side; return the ratio and the raw figures."""
    quick = quick or tiny
    granted = frozenset(OPERATIONS)
    with tempfile.TemporaryDirectory() as folder:
        enforcer = _enforcer(Path(folder))

        def ours() -> object:
            decision = authorize(
                DFNS_PRESET,
                ARCHIVE_USER.name,
                granted=granted,
                full_admin=False,
                target_kind=UserKind.END_USER,
            )
            assert decision.allowed
            return decision

        def peer() -> object:
            allowed = all(enforcer.enforce("alice", p) for p in REQUIRED)
            assert allowed
            return allowed

        ours_fig, peer_fig, ratio = compare_ratio(
            ours, peer, number=200 if quick else 2000, rounds=5 if quick else 15
        )
    return {
        "decision_time_ratio": ratio.median,
        "figures": {
            "decision_ours": ours_fig.to_dict(),
            "decision_pycasbin": peer_fig.to_dict(),
            "decision_ratio": ratio.to_dict(),
        },
    }


if __name__ == "__main__":
    result = run(quick=False)
    for name, figure in result["figures"].items():
        spread = f"[{figure['min']:.4g}–{figure['max']:.4g}]"
        print(f"{name:>22}: {figure['median']:.4g} {figure['unit']} {spread}")
