"""Archive latency against the number of users in SQLite, plotted to docs/benchmarks-latency.png.

    python -m benchmarks.plot [--sizes 1000,10000,100000,1000000] [--archives 400]

For each size, an org of that many users is seeded in a fresh SQLite file and an archive
(`ARCHIVE_USER`'s handler) is timed (core and storage; crypto faked, as in
`sqlite_archive`'s p99 figure) on targets drawn at random over the whole id range. The
plot shows the median and the p99 per size on a logarithmic size axis.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
from pathlib import Path

from benchmarks.sqlite_archive import (
    _archive_once,
    _p99,
    _Population,
    _population,
    _restore,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = (1_000, 10_000, 100_000, 1_000_000)


def measure(sizes: tuple[int, ...], archives: int) -> dict[int, tuple[float, float]]:
    """size → (median µs, p99 µs)."""
    results: dict[int, tuple[float, float]] = {}
    for size in sizes:
        with (
            tempfile.TemporaryDirectory(prefix="archive-core-plot-") as folder,
            _population(Path(folder), size, f"s{size}") as population,
        ):
            _checkpoint(population)  # the seed's WAL is not the archive's cost
            times: list[float] = []
            targets = population.targets
            for start in range(0, archives, len(targets)):
                batch = targets[: min(len(targets), archives - start)]
                for target in batch[:20]:  # warm-up
                    _archive_once(population, target)
                _restore(population, batch[:20])
                gc.collect()
                gc.disable()
                try:
                    times += [_archive_once(population, t) * 1e6 for t in batch]
                finally:
                    gc.enable()
                _restore(population, batch)
        results[size] = (statistics.median(times), _p99(times))
        print(f"{size:>9} users: median {results[size][0]:.0f} µs, p99 {results[size][1]:.0f} µs")
    return results


def _checkpoint(population: _Population) -> None:
    conn = population.store.database.acquire()
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        population.store.database.release(conn)


def plot(results: dict[int, tuple[float, float]], path: Path) -> None:
    """Write the PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(results)
    figure, axes = plt.subplots(figsize=(7, 4), dpi=120)
    axes.plot(sizes, [results[s][0] for s in sizes], marker="o", label="median")
    axes.plot(sizes, [results[s][1] for s in sizes], marker="s", label="p99")
    axes.set_xscale("log")
    axes.set_ylim(bottom=0)
    axes.set_xlabel("users in the org (SQLite)")
    axes.set_ylabel("ArchiveUser latency (µs)")
    axes.set_title("Archive latency against the number of users")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument("--archives", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-latency.png")
    args = parser.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(","))
    plot(measure(sizes, args.archives), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
