"""Exactly once across processes (SPEC §5): 8 processes, as 8 server instances sharing one
store, race one user action token, one nonce, one challenge; and bump one user's version
with the version check, so that no update is lost. And current at commit (SPEC §5): two
threads race "X deactivates Y" against "Y deactivates Z" on each store.

Children are started with `spawn` (no state inherited) and open the storage from its
URL, then meet at a barrier before each step.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest

from adapters.storage.urls import open_storage
from adapters.testing.contracts import samples
from adapters.testing.world import ARCHIVE_OPS, Actor, World
from archive_core.errors import ArchiveCoreError, Catalogue
from archive_core.ports import ConsumeStatus
from archive_core.use_cases import ARCHIVE_USER, DEACTIVATE_USER
from tests.services import (
    delete_prefix,
    drop_schema,
    require_postgres,
    require_redis,
    unique_name,
)
from tests.storage.race_worker import RaceOutcome, RacePlan, race

PROCESSES = 8
INCREMENTS = 10
BACKENDS = ("sqlite", "postgresql", "sqlite+redis")


def _run(plan: RacePlan) -> list[RaceOutcome]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES, timeout=120)
    results = context.Queue()
    children = [
        context.Process(target=race, args=(plan, barrier, results)) for _ in range(PROCESSES)
    ]
    for child in children:
        child.start()
    try:
        outcomes = [results.get(timeout=180) for _ in children]
    finally:
        for child in children:
            child.join(timeout=30)
            if child.is_alive():
                child.kill()
    assert [child.exitcode for child in children] == [0] * PROCESSES
    return outcomes


@pytest.fixture(scope="module", params=BACKENDS)
def outcome(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, list[RaceOutcome], int]]:
    backend: str = request.param
    folder: Path = tmp_path_factory.mktemp("race")
    replay_url = None
    cleanup: list[Callable[[], None]] = []
    if backend == "postgresql":
        dsn = require_postgres()
        schema = unique_name("race_")
        url = f"{dsn}?schema={schema}"
        cleanup.append(lambda: drop_schema(dsn, schema))
    else:
        url = str(folder / "store.db")
    if backend.endswith("redis"):
        redis_url = require_redis()
        prefix = unique_name("archive-core-race:") + ":"
        replay_url = f"{redis_url}?prefix={prefix}"
        cleanup.append(lambda: delete_prefix(redis_url, prefix))
    try:
        org = samples.org_id()
        owner = samples.user(org)
        counter = samples.user(org)
        grant = samples.grant_record(owner)
        opened = samples.challenge(owner.id)
        with open_storage(url, replay_url=replay_url) as storage:
            with storage.uow_factory() as uow:
                uow.users.add(owner)
                uow.users.add(counter)
                uow.user_actions.add(grant)
                uow.commit()
            storage.challenges.put(opened)
        plan = RacePlan(
            url=url,
            replay_url=replay_url,
            token_id=grant.grant.token_id,
            nonce_key="nonce:" + unique_name(""),
            challenge_key=opened.key,
            challenge_owner=owner.id,
            counter_id=counter.id,
            increments=INCREMENTS,
        )
        outcomes = _run(plan)
        with open_storage(url, replay_url=replay_url) as storage, storage.uow_factory() as uow:
            final = uow.users.get(counter.id)
            assert final is not None
            yield backend, outcomes, final.version
    finally:
        for clean in cleanup:
            clean()


def test_one_process_consumes_the_user_action_token(
    outcome: tuple[str, list[RaceOutcome], int],
) -> None:
    _backend, outcomes, _version = outcome
    statuses = [o.consumed for o in outcomes]
    assert statuses.count(ConsumeStatus.CONSUMED.value) == 1
    assert statuses.count(ConsumeStatus.ALREADY_USED.value) == PROCESSES - 1


def test_one_process_uses_the_nonce_first(outcome: tuple[str, list[RaceOutcome], int]) -> None:
    _backend, outcomes, _version = outcome
    assert [o.first_use for o in outcomes].count(True) == 1


def test_one_process_takes_the_challenge(outcome: tuple[str, list[RaceOutcome], int]) -> None:
    _backend, outcomes, _version = outcome
    assert [o.took_challenge for o in outcomes].count(True) == 1


def test_no_update_of_the_user_is_lost(outcome: tuple[str, list[RaceOutcome], int]) -> None:
    backend, outcomes, version = outcome
    assert version == 1 + PROCESSES * INCREMENTS
    if backend.startswith("sqlite"):
        # BEGIN IMMEDIATE serialises units of work across processes: never a conflict.
        assert sum(o.conflicts for o in outcomes) == 0


# --------------------------------------------------------------------------- current at commit

ROUNDS = 20


def _signed(world: World, action: str, actor: Actor, target_id: str) -> Callable[[], object]:
    """The use case call for `actor` doing `action` to `target_id`, its token issued now."""
    if action == "archive":
        request = world.archive_request(actor, target_id)
        return lambda: world.call(ARCHIVE_USER, request, target_id)
    path = f"/auth/users/{target_id}/deactivate"
    request = world.signed_request(actor, "PUT", path, b"{}")
    return lambda: world.call(DEACTIVATE_USER, request, target_id)


def _outcome(barrier: threading.Barrier, call: Callable[[], object]) -> str:
    barrier.wait(timeout=30)
    try:
        call()
    except ArchiveCoreError as refusal:
        return refusal.code
    return "done"


@pytest.mark.parametrize("action", ["deactivate", "archive"])
def test_no_action_of_a_user_commits_after_its_own_deactivation_or_archive(
    world: World, action: str
) -> None:
    """SPEC §5, current at commit: X deactivates (archives) Y while Y deactivates
    (archives) Z, both at once, round after round. Y's action either commits before
    X's (an earlier audit record) or is refused as Y now stands (401), never after."""
    late: list[str] = []  # "round: Y's record after X's", one per round it happened
    for round_ in range(ROUNDS):
        org = world.new_org()
        x = world.actor(org, operations=ARCHIVE_OPS)
        y = world.actor(org, operations=ARCHIVE_OPS)
        z = world.actor(org)
        calls = [_signed(world, action, x, y.id), _signed(world, action, y, z.id)]
        barrier = threading.Barrier(len(calls))
        with ThreadPoolExecutor(len(calls)) as pool:
            x_outcome, y_outcome = pool.map(partial(_outcome, barrier), calls)
        assert x_outcome == "done"
        assert y_outcome in {"done", Catalogue.NOT_AUTHORIZED.code}
        records = world.audit_records(org)
        x_record = next(r for r in records if r.actor_id == x.id)
        late += [
            f"{round_}: #{r.sequence} by Y after #{x_record.sequence} by X"
            for r in records
            if r.actor_id == y.id and r.sequence > x_record.sequence
        ]
        assert (y_outcome == "done") == any(r.actor_id == y.id for r in records)
    assert late == [], f"{len(late)} of {ROUNDS} rounds"
