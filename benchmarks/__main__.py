"""`python -m benchmarks [--quick] [--json] [--only NAME]...`: every figure, side by side.

Prints a table of the figures (medians with their spread) and the goals; with `--json`
the last line is one JSON object with the ratios (`flow_time_ratio`,
`decision_time_ratio`, `sqlite_time_ratio`, `serve_rps_ratio`, `http_rps_ratio`,
`workers_rps_ratio`, `p99_scale_ratio`, `list_p99_scale_ratio`, `proof_p99_scale_ratio`,
`rss_growth_ratio`, `export_rss_ratio`, `checkpoint_p99_scale_ratio`,
`key_verify_ratio_max`, and `sync_standby_ratio`, measured with no goal, when
PostgreSQL clusters can be made here), every raw figure under `figures`, and under
`uncounted` the ratios measured in a way that does not count against their goal
(`serve_rps_ratio` without wrk).
`--tiny` shrinks every size so that the test suite can check the harness runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

#: Ratios measured and stated, with no goal.
MEASURED: dict[str, str] = {
    "sync_standby_ratio": "the cost of a synchronous standby",
}
GOALS: dict[str, tuple[str, float]] = {
    "flow_time_ratio": ("≤", 1.3),
    "decision_time_ratio": ("≤", 0.02),
    "sqlite_time_ratio": ("≤", 1.25),
    "serve_rps_ratio": ("≥", 0.45),
    "http_rps_ratio": ("≥", 1.1),
    "workers_rps_ratio": ("≥", 1.5),
    "p99_scale_ratio": ("≤", 1.5),
    "list_p99_scale_ratio": ("≤", 1.5),
    "proof_p99_scale_ratio": ("≤", 1.5),
    "rss_growth_ratio": ("≤", 1.2),
    "export_rss_ratio": ("≤", 1.2),
    "checkpoint_p99_scale_ratio": ("≤", 1.5),
    "key_verify_ratio_max": ("≤", 1.15),
}


def _key_verify(*, quick: bool, tiny: bool) -> dict[str, Any]:
    from benchmarks import key_verify

    ratios = key_verify.run(quick=quick or tiny)
    return {
        "key_verify_ratio_max": max(ratios.values()),
        "figures": {f"key_verify_{k}": v for k, v in ratios.items()},
    }


def _decision(*, quick: bool, tiny: bool) -> dict[str, Any]:
    from benchmarks import decision

    return decision.run(quick=quick, tiny=tiny)


def _flow(*, quick: bool, tiny: bool) -> dict[str, Any]:
    from benchmarks import flow

    return flow.run(quick=quick, tiny=tiny)


def _sqlite(*, quick: bool, tiny: bool) -> dict[str, Any]:
    from benchmarks import sqlite_archive

    figures = sqlite_archive.run(quick=quick, tiny=tiny)
    return {
        "sqlite_time_ratio": figures["sqlite_time_ratio"],
        "p99_scale_ratio": figures["p99_scale_ratio"],
        "figures": {
            k: v for k, v in figures.items() if k not in {"sqlite_time_ratio", "p99_scale_ratio"}
        },
    }


def _list_users(*, quick: bool, tiny: bool) -> dict[str, Any]:
    from benchmarks import list_users

    figures = list_users.run(quick=quick, tiny=tiny)
    ratio = figures.pop("list_p99_scale_ratio")
    return {"list_p99_scale_ratio": ratio, "figures": figures}


def _proofs(*, quick: bool, tiny: bool) -> dict[str, Any]:
    from benchmarks import proofs

    return proofs.run(quick=quick, tiny=tiny)


def _http(*, quick: bool, tiny: bool) -> dict[str, Any]:
    from benchmarks import http

    return http.run(quick=quick, tiny=tiny)


def _workers(*, quick: bool, tiny: bool) -> dict[str, Any]:
    from benchmarks import workers

    return workers.run(quick=quick, tiny=tiny)


def _sync_standby(*, quick: bool, tiny: bool) -> dict[str, Any]:
    from benchmarks import sync_standby

    return sync_standby.run(quick=quick, tiny=tiny)


def _rss(*, quick: bool, tiny: bool) -> dict[str, Any]:
    from benchmarks import rss

    return rss.run(quick=quick, tiny=tiny)


def _export(*, quick: bool, tiny: bool) -> dict[str, Any]:
    from benchmarks import export

    return export.run(quick=quick, tiny=tiny)


def _checkpoints(*, quick: bool, tiny: bool) -> dict[str, Any]:
    from benchmarks import checkpoints

    return checkpoints.run(quick=quick, tiny=tiny)


BENCHMARKS: dict[str, Callable[..., dict[str, Any]]] = {
    "key_verify": _key_verify,
    "decision": _decision,
    "flow": _flow,
    "sqlite": _sqlite,
    "list_users": _list_users,
    "proofs": _proofs,
    "http": _http,
    "workers": _workers,
    "rss": _rss,
    "export": _export,
    "checkpoints": _checkpoints,
    "sync_standby": _sync_standby,
}


def _meets(name: str, value: float) -> bool:
    sign, goal = GOALS[name]
    return value <= goal if sign == "≤" else value >= goal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes (under 5 minutes)")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: checks the harness only")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument(
        "--only", action="append", choices=sorted(BENCHMARKS), help="run only these"
    )
    args = parser.parse_args(argv)
    ratios: dict[str, float] = {}
    figures: dict[str, Any] = {}
    uncounted: list[str] = []
    seconds: dict[str, float] = {}
    for name in args.only or list(BENCHMARKS):
        started = time.perf_counter()
        result = BENCHMARKS[name](quick=args.quick, tiny=args.tiny)
        seconds[name] = round(time.perf_counter() - started, 1)
        figures.update(result.pop("figures", {}))
        uncounted.extend(result.pop("uncounted", []))
        ratios.update({k: float(v) for k, v in result.items()})
        sys.stdout.write(f"{name}: done in {seconds[name]} s\n")
        sys.stdout.flush()
    sys.stdout.write(f"\n{'figure':<24} {'value':>10}  goal      met\n")
    for name, value in ratios.items():
        if name in MEASURED:
            sys.stdout.write(f"{name:<24} {value:>10.4g}  no goal: {MEASURED[name]}\n")
            continue
        sign, goal = GOALS[name]
        met = "yes" if _meets(name, value) else "NO"
        if name in uncounted:
            met = "not counted (no wrk)"
        sys.stdout.write(f"{name:<24} {value:>10.4g}  {sign} {goal:<6}  {met}\n")
    if args.json:
        document = {
            **ratios,
            "figures": figures,
            "uncounted": uncounted,
            "seconds": seconds,
            "mode": "tiny" if args.tiny else "quick" if args.quick else "full",
            "machine": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": _cpus(),
            },
        }
        sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
    return 0


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
