"""List Users at scale: a keyset page costs the same whatever the org's size.

`list_p99_scale_ratio` (`run(quick=...)`, or `python benchmarks/list_users.py [--quick]`):
the p99 latency of a whole `GET /auth/users?limit=100` call (core included, crypto
faked, SQLite storage), each at a random place of the org's users (a pagination token
naming a random user id), with 1,000,000 users in the org ÷ the same with 1,000
(100,000 with `quick=True`). The two databases are listed from alternately, page by
page, so machine noise hits both alike; the p99 is over every sample of a size, and
the per-round ratios give the spread. Goal ≤ 1.5.

Users are seeded with `executemany` in one transaction (`sqlite_archive._seed_users`),
not through Create User.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.crypto.page_tokens import PAGE_TOKEN_PURPOSE, HmacPageTokens
from adapters.crypto.signing_keys import HS256, SigningKeyRing
from adapters.storage.sqlite import SqliteReplayStore, SqliteStore
from adapters.testing.world import World  # the real use cases, crypto faked: storage measured
from archive_core.ids import OrgId
from archive_core.requests import Request
from archive_core.use_cases import LIST_USERS
from benchmarks.sqlite_archive import _seed_users
from benchmarks.timing import alternating_samples, scale_figures

PAGE = 100


@dataclass
class _Population:
    world: World
    reader: Any
    tokens: list[str]
    store: SqliteStore


@contextmanager
def _population(folder: Path, size: int, tag: str, pages: int) -> Iterator[_Population]:
    store = SqliteStore(folder / f"list-{tag}.db")
    replay = SqliteReplayStore(folder / f"list-{tag}.db-replay")
    try:
        world = World(
            uow_factory=store, challenges=replay.challenges, replay_guard=replay.replay_guard
        )
        org = OrgId(f"or-{tag}-list")
        ids = _seed_users(store, org, size, tag=tag, archivers=False)
        reader = world.actor(org, operations=("Auth:Users:Read",))
        ring = SigningKeyRing(
            world.deployment.storage.signing_keys, purpose=PAGE_TOKEN_PURPOSE, algorithm=HS256
        )
        sealer = HmacPageTokens(ring, clock=world.clock)
        # pages at random places of the whole id range (a full page follows each)
        starts = random.Random(size).sample(ids[: len(ids) - PAGE], pages)  # noqa: S311 - sampling
        tokens = [
            sealer.seal(
                json.dumps({"org": org, "kinds": [], "after": s}, separators=(",", ":")).encode()
            )
            for s in starts
        ]
        yield _Population(world, reader, tokens, store)
    finally:
        store.close()
        replay.close()


def _page_once(population: _Population, token: str) -> float:
    """Seconds of one `GET /auth/users?limit=100&paginationToken=...` call."""
    world = population.world
    request = Request(
        "GET",
        "/auth/users",
        world.headers(population.reader),
        b"",
        query=f"limit={PAGE}&paginationToken={token}",
    )
    start = time.perf_counter()
    answer = world.call(LIST_USERS, request)
    elapsed = time.perf_counter() - start
    if len(answer["items"]) != PAGE:
        raise AssertionError("a page short of its limit")
    return elapsed


def scale_ratio(folder: Path, *, quick: bool, tiny: bool = False) -> dict[str, float]:
    """p99 of a page with many users ÷ with 1,000, alternating between the two."""
    large = 2_000 if tiny else 100_000 if quick else 1_000_000
    rounds = 2 if tiny else 5 if quick else 10
    per_round = 20 if tiny else 100 if quick else 200
    pages = rounds * per_round
    started = time.perf_counter()
    with (
        _population(folder, 1_000, "small", min(pages, 800)) as small,
        _population(folder, large, "large", pages) as big,
    ):
        seeded = time.perf_counter() - started
        small_rounds, big_rounds = alternating_samples(
            lambda r, j: _page_once(small, small.tokens[(r * per_round + j) % len(small.tokens)]),
            lambda r, j: _page_once(big, big.tokens[(r * per_round + j) % len(big.tokens)]),
            rounds=rounds,
            per_round=per_round,
        )
    return {
        **scale_figures(small_rounds, big_rounds, ratio="list_p99_scale_ratio", what="list_page"),
        "list_users_large": float(large),
        "list_seed_seconds": seeded,
    }


def run(*, quick: bool, tiny: bool = False) -> dict[str, float]:
    """The figure and its raw numbers (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="archive-core-bench-") as folder:
        return scale_ratio(Path(folder), quick=quick, tiny=tiny)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    for name, value in run(quick=args.quick, tiny=args.tiny).items():
        sys.stdout.write(f"{name:<36} {value:.4g}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
