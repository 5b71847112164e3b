"""The child side of the crash test: archive users through the archive handler, forever, until
killed."""

from __future__ import annotations

from typing import Any

from adapters.storage.sqlite import SqliteReplayStore, SqliteStore
from adapters.testing.world import ARCHIVE_OPS, World

BATCH = 10


def archive_forever(path: str, seed: int, ready: Any) -> None:
    """Seed an org with an archiver, then create and archive users in a loop.

    Every archive goes through the whole signed flow (init, complete, archive with a
    fresh nonce). `ready` is set after the first archive has committed.
    """
    store = SqliteStore(path)
    replay = SqliteReplayStore(path + "-replay")
    world = World(
        uow_factory=store, challenges=replay.challenges, replay_guard=replay.replay_guard, seed=seed
    )
    org = world.new_org()
    admin = world.actor(org, operations=ARCHIVE_OPS)
    count = 0
    while True:
        targets = [
            world.actor(org, operations=ARCHIVE_OPS if i % 3 == 0 else (), credential_kind=None)
            for i in range(BATCH)
        ]
        for target in targets:
            nonce = world.nonce(f"crash-{seed}-{count:010d}")
            world.archive_user(admin, target.id, extra={"X-DFNS-NONCE": nonce})
            count += 1
            ready.set()
