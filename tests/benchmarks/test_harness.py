"""The benchmark harness runs end to end (tiny sizes). It checks the harness, never a timing."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RATIOS = {
    "flow_time_ratio",
    "decision_time_ratio",
    "sqlite_time_ratio",
    "serve_rps_ratio",
    "http_rps_ratio",
    "workers_rps_ratio",
    "p99_scale_ratio",
    "list_p99_scale_ratio",
    "rss_growth_ratio",
    "export_rss_ratio",
    "checkpoint_p99_scale_ratio",
    "key_verify_ratio_max",
}


def test_harness_prints_a_table_and_ends_with_one_json_object() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--tiny", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    lines = result.stdout.strip().splitlines()
    document = json.loads(lines[-1])
    assert set(document) >= RATIOS
    for name in RATIOS:
        assert isinstance(document[name], float)
        assert math.isfinite(document[name])
        assert document[name] > 0
    assert document["mode"] == "tiny"
    # measured with no goal, or skipped with the reason (no PostgreSQL clusters here)
    assert "sync_standby_ratio" in document or document["figures"]["sync_standby_skipped"]
    assert "figures" in document
    table = "\n".join(lines[:-1])
    for name in RATIOS:
        assert name in table
