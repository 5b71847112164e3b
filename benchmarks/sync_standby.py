"""`sync_standby_ratio`: signed archives per second on PostgreSQL with a synchronous
standby ÷ the same without one — the cost of durability, measured, with no goal.

Two PostgreSQL clusters made on this machine (`tests/replication.py`, `fsync` on): a
primary and its standby, streaming. Rounds alternate between the standby named in
`synchronous_standby_names` (every COMMIT waits until the standby has flushed it) and
the setting empty (the standby still streams, commits do not wait). Each round, four
threads each run whole signed flows (`flow._Flows`: init, complete, archive, through the
handlers, in process) against their own org, all in PostgreSQL (challenges and nonces
too: each flow is two units of work and two autocommit statements that wait on the
standby). The figure is each mode's median rate and their ratio. Without the PostgreSQL
server binaries (or, as root, a `postgres` user) it is skipped, with the reason.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

from benchmarks.flow import _Flows
from benchmarks.timing import Figure
from tests.replication import ReplicatedPostgres, replication_problem

__all__ = ["run"]

THREADS = 4


def _round(flows: list[_Flows], per_thread: int) -> float:
    """Archives per second of one round: every thread runs `per_thread` flows."""
    barrier = threading.Barrier(len(flows) + 1)

    def work(mine: _Flows) -> None:
        barrier.wait()
        for _ in range(per_thread):
            mine.one()

    threads = [threading.Thread(target=work, args=(mine,)) for mine in flows]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return len(flows) * per_thread / (time.perf_counter() - started)


def run(*, quick: bool, tiny: bool = False) -> dict[str, Any]:
    """Both modes, rounds interleaved; the ratio of the median rates."""
    problem = replication_problem()
    if problem is not None:
        print(f"sync_standby: skipped: no PostgreSQL primary/standby pair here: {problem}")
        return {"figures": {"sync_standby_skipped": problem}}
    per_thread = 5 if tiny else 40 if quick else 100
    rounds = 1 if tiny else 3 if quick else 5
    rates: dict[bool, list[float]] = {True: [], False: []}
    with ReplicatedPostgres.create(fsync=True) as pair:
        count = per_thread * (2 * rounds + 1)
        flows = [_Flows(count, db_url=pair.url) for _ in range(THREADS)]
        try:
            _round(flows, per_thread)  # warms the pools and caches up
            for _ in range(rounds):
                for synchronous in (True, False):
                    if synchronous:
                        pair.make_synchronous(pair.primary, pair.standby)
                    else:
                        pair.make_asynchronous(pair.primary, pair.standby)
                    rates[synchronous].append(_round(flows, per_thread))
        finally:
            for mine in flows:
                mine.close()

    def figure(values: list[float]) -> Figure:
        return Figure(statistics.median(values), min(values), max(values), "archives/s")

    with_standby, without = figure(rates[True]), figure(rates[False])
    return {
        "sync_standby_ratio": with_standby.median / without.median,
        "figures": {
            "sync_standby_rate": with_standby.to_dict(),
            "no_sync_standby_rate": without.to_dict(),
        },
    }


if __name__ == "__main__":
    result = run(quick=False)
    for name, value in result["figures"].items():
        print(f"{name:>22}: {value}")
    if "sync_standby_ratio" in result:
        print(f"{'sync_standby_ratio':>22}: {result['sync_standby_ratio']:.3f} (no goal)")
