"""PurgeExpired: only what expired is forgotten, each store reported as it goes."""

from __future__ import annotations

from datetime import timedelta

from adapters.testing.world import Scene
from archive_core.requests import Request
from archive_core.use_cases import INIT_USER_ACTION


def test_purge_forgets_only_what_expired(scene: Scene) -> None:
    world = scene.world
    world.archive_user(
        scene.admin, scene.end_user.id, extra={"X-DFNS-NONCE": world.nonce("purge-nonce-0001")}
    )
    world.call(
        INIT_USER_ACTION,
        Request(
            "POST", "/auth/action/init", world.headers(scene.admin), world.init_body("DELETE", "/x")
        ),
    )
    fresh = world.purge()
    assert (fresh.challenges, fresh.nonces, fresh.user_actions) == (0, 0, 0)
    world.clock.advance(timedelta(minutes=6))
    report = world.purge()
    assert (report.challenges, report.nonces, report.user_actions) == (1, 1, 1)
    assert len(world.store.user_actions) == 0


def test_purge_reports_each_store_as_it_goes(scene: Scene) -> None:
    world = scene.world
    world.archive_user(scene.admin, scene.end_user.id)
    world.clock.advance(timedelta(minutes=6))
    steps: list[tuple[str, int]] = []
    world.purge(on_step=lambda store, count: steps.append((store, count)))
    assert steps == [("userActions", 1), ("challenges", 0), ("nonces", 0)]
