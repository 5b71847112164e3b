"""`checkpoint_p99_scale_ratio`: the org's signed checkpoint as
`GET /auth/action/logs/checkpoint` makes it, with 1,000,000 records in the org ÷ with
1,000 (SQLite; quick: 100,000).

One sample is `archive_core.use_cases.log_proofs.signed_tree` in one reading unit of
work: the tree's size and the subtrees of its root read from the store, then the log
key's signer (`KeyFileSigner`: an exclusive `flock`, the org's last head read from its
file). The tree does not change between samples, so the signer hands back the note it
signed for it, as it does for every request between two commits; signing itself (one
Ed25519 signature and an fsynced head file) happens once per new tree and does not
depend on the tree's size. The trees are seeded as `benchmarks/proofs.py` seeds them;
the two are sampled alternately (`alternating_samples`). Goal ≤ 1.5.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from adapters.crypto.log_key import KeyFileSigner, new_log_key
from adapters.storage.sqlite import SqliteStore
from archive_core.use_cases.log_proofs import signed_tree
from benchmarks.proofs import ORG, _tree
from benchmarks.timing import alternating_samples, scale_figures

__all__ = ["GOAL", "run"]

GOAL = 1.5


def _checkpoint_once(store: SqliteStore, signer: KeyFileSigner) -> float:
    start = time.perf_counter()
    with store.reading() as uow:
        signed_tree(uow, ORG, signer)
    return time.perf_counter() - start


def run(*, quick: bool, tiny: bool = False) -> dict[str, Any]:
    """The ratio and its figures, in a temporary folder."""
    large = 2_000 if tiny else 100_000 if quick else 1_000_000
    rounds = 2 if tiny else 5 if quick else 10
    per_round = 50 if tiny else 1_000 if quick else 2_000
    with tempfile.TemporaryDirectory(prefix="archive-core-checkpoints-") as folder:
        place = Path(folder)
        signers = []
        for name in ("small", "large"):
            new_log_key(place / f"{name}.key")
            signers.append(KeyFileSigner(place / f"{name}.key", log_name="bench.example/log"))
        with _tree(place, 1_000) as small, _tree(place, large) as big:
            by_round = alternating_samples(
                lambda _r, _j: _checkpoint_once(small, signers[0]),
                lambda _r, _j: _checkpoint_once(big, signers[1]),
                rounds=rounds,
                per_round=per_round,
            )
    figures = scale_figures(*by_round, ratio="checkpoint_p99_scale_ratio", what="checkpoint")
    ratio = figures.pop("checkpoint_p99_scale_ratio")
    figures.update(checkpoint_large_records=large)
    return {"checkpoint_p99_scale_ratio": ratio, "figures": figures}


if __name__ == "__main__":
    result = run(quick="--quick" in sys.argv, tiny="--tiny" in sys.argv)
    sys.stdout.write(f"checkpoint_p99_scale_ratio: {result['checkpoint_p99_scale_ratio']:.4g}\n")
    for key, value in result["figures"].items():
        sys.stdout.write(f"  {key}: {value:.4g}\n")
