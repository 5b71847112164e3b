"""`proof_p99_scale_ratio`: reading a proof from an org's Merkle tree, with 1,000,000
records in the org ÷ with 1,000 (SQLite).

One sample is what the proof endpoints read, in one reading unit of work of a
`SqliteStore`: the tree's size, the subtrees of its root (a checkpoint), the inclusion
path of a leaf drawn at random and the consistency path from a size drawn at random —
each one read of O(log n) subtrees by primary key (`AuditLog.subtrees`; the upper ones
from the store's `SubtreeCache` once a reading unit has seen them), the paths computed
from them by `archive_core.merkle` (`tree_root`, `prove_inclusion`, `prove_consistency`).
The two databases are sampled alternately, sample by sample, so machine noise hits both
alike; the p99 is over all samples of a size (2,000 a size a round, 10 rounds) and the
per-round ratios give the spread. Goal ≤ 1.5.

Seeding writes the tree's rows (`audit_tree`) straight into the file with `executemany`
in one transaction, nodes computed as `AuditLog.append` computes them (leaves of
synthetic data: the reads do not look at the records); 100,000 records with
`quick=True`.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.storage.sqlite import SqliteStore
from archive_core import merkle
from archive_core.ids import OrgId
from benchmarks.timing import alternating_samples, scale_figures

__all__ = ["GOAL", "run"]

GOAL = 1.5
ORG = OrgId("or-proofs-bench")
_BATCH = 50_000


def _seed(path: Path, size: int) -> None:
    """The tree of `size` leaves of one org, written in one transaction."""
    SqliteStore(path).close()  # the schema
    newest: dict[int, bytes] = {}
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA synchronous=OFF")  # seeding only
        conn.execute("BEGIN IMMEDIATE")
        rows: list[tuple[Any, ...]] = []
        for index in range(size):
            leaf = merkle.leaf_hash(index.to_bytes(8, "big"))
            for node in merkle.appended_subtrees(index, leaf, lambda lv, _: newest[lv]):
                newest[node.level] = node.hash
                rows.append((ORG, node.level, node.index, node.hash))
            if len(rows) >= _BATCH:
                conn.executemany("INSERT INTO audit_tree VALUES (?, ?, ?, ?)", rows)
                rows.clear()
        conn.executemany("INSERT INTO audit_tree VALUES (?, ?, ?, ?)", rows)
        conn.execute("COMMIT")


@contextmanager
def _tree(folder: Path, size: int) -> Iterator[SqliteStore]:
    path = folder / f"proofs-{size}.db"
    _seed(path, size)
    with SqliteStore(path) as store:
        yield store


def _prove_once(store: SqliteStore, chance: random.Random) -> float:
    """Seconds to read a checkpoint's root, an inclusion path and a consistency path."""
    start = time.perf_counter()
    with store.reading() as uow:
        size = uow.audit.tree_size(ORG)
        read = partial(uow.audit.subtrees, ORG)
        index, old = chance.randrange(size), chance.randrange(1, size + 1)
        merkle.tree_root(size, read)
        merkle.prove_inclusion(index, size, read)
        merkle.prove_consistency(old, size, read)
    return time.perf_counter() - start


def run(*, quick: bool, tiny: bool = False) -> dict[str, Any]:
    """The ratio and its figures, in a temporary folder."""
    large = 2_000 if tiny else 100_000 if quick else 1_000_000
    rounds = 2 if tiny else 5 if quick else 10
    per_round = 50 if tiny else 1_000 if quick else 2_000
    with tempfile.TemporaryDirectory(prefix="archive-core-proofs-") as folder:
        started = time.perf_counter()
        with _tree(Path(folder), 1_000) as small, _tree(Path(folder), large) as big:
            seeded = time.perf_counter() - started
            chance = random.Random(7)  # noqa: S311 - sampling, not security
            by_round = alternating_samples(
                lambda _r, _j: _prove_once(small, chance),
                lambda _r, _j: _prove_once(big, chance),
                rounds=rounds,
                per_round=per_round,
            )
    figures = scale_figures(*by_round, ratio="proof_p99_scale_ratio", what="proof")
    ratio = figures.pop("proof_p99_scale_ratio")
    figures.update(proof_large_records=large, proof_seed_seconds=seeded)
    return {"proof_p99_scale_ratio": ratio, "figures": figures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 records, fewer samples")
    args = parser.parse_args(argv)
    result = run(quick=args.quick)
    for name, value in {"proof_p99_scale_ratio": result["proof_p99_scale_ratio"]}.items():
        sys.stdout.write(f"{name}: {value:.4g} (goal ≤ {GOAL})\n")
    for name, value in result["figures"].items():
        sys.stdout.write(f"  {name}: {value:.4g}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
