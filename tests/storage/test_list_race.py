"""List Users under concurrent change (SPEC §1.5): while a walker pages through the
org's users, another thread creates users and archives others. Every user present for
the whole walk appears exactly once, and no user appears twice, on every store."""

from __future__ import annotations

import json
import threading

from adapters.testing.world import Actor, World
from archive_core.entities import UserKind
from archive_core.requests import Request
from archive_core.use_cases import CREATE_USER, LIST_USERS

ROUNDS = 3
STABLE = 24
DOOMED = 12
CREATED = 12


class Turns:
    """Page, change, page, change...: each page of the walk is followed by one create and
    one archive, until the changes run out (then the walk goes on alone)."""

    def __init__(self, changes: int) -> None:
        self.page_done = threading.Semaphore(0)
        self.change_done = threading.Semaphore(0)
        self.left = changes

    def after_page(self) -> None:
        if self.left > 0:
            self.left -= 1
            self.page_done.release()
            assert self.change_done.acquire(timeout=60)


def _walk(world: World, reader: Actor, turns: Turns) -> list[str]:
    seen: list[str] = []
    token = None
    while True:
        query = "limit=2" + ("" if token is None else f"&paginationToken={token}")
        request = Request("GET", "/auth/users", world.headers(reader), b"", query=query)
        page = world.call(LIST_USERS, request)
        seen += [item["userId"] for item in page["items"]]
        token = page.get("nextPageToken")
        if token is None:
            return seen
        turns.after_page()


def _change(world: World, admin: Actor, doomed: list[Actor], turns: Turns) -> None:
    for n, target in enumerate(doomed):
        if not turns.page_done.acquire(timeout=60):
            return
        try:
            body = json.dumps({"email": f"new{n}.{target.id}@example.co", "kind": "EndUser"})
            request = world.signed_request(admin, "POST", "/auth/users", body.encode())
            world.call(CREATE_USER, request)
            world.archive_user(admin, target.id)
        finally:
            turns.change_done.release()


def test_a_walk_lists_every_user_present_throughout_once(world: World) -> None:
    for _round in range(ROUNDS):
        org = world.new_org()
        admin = world.actor(org, full_admin=True)
        stable = [world.actor(org, kind=UserKind.END_USER) for _ in range(STABLE)]
        doomed = [world.actor(org) for _ in range(DOOMED)]
        turns = Turns(DOOMED)
        changer = threading.Thread(target=_change, args=(world, admin, doomed, turns))
        changer.start()
        try:
            walked = _walk(world, admin, turns)
        finally:
            changer.join(timeout=120)
        assert turns.left == 0, "the walk ended before the changes"
        assert walked == sorted(set(walked)), "a user listed twice, or out of order"
        present = {admin.id, *(actor.id for actor in stable)}
        assert present <= set(walked), sorted(present - set(walked))
        with world.uow_factory() as uow:
            every = {
                u.id for u in uow.users.list_users(org, after=None, kinds=frozenset(), limit=10_000)
            }
        archived = {actor.id for actor in doomed}
        assert set(walked) <= every | archived  # nothing from elsewhere
        assert len(every) == 1 + STABLE + CREATED
