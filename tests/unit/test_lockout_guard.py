"""The lock-out guard (SPEC §5): archiving or deactivating a user is refused when the
target is the org's last active human who could, under the active matrix, perform the
operation itself (archive) or its undo (activate, for deactivate) on a user of the
target's kind: unconditional requirements, the kind requirement and the caller kinds
the matrix refuses all applied. Service accounts count as `Policy` says."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from adapters.testing.world import ARCHIVE_OPS, Actor, World
from archive_core.config import Policy
from archive_core.entities import UserKind
from archive_core.errors import Catalogue, ErrorKind
from archive_core.ids import OrgId
from archive_core.operations import DFNS_CURRENT_PRESET, DFNS_DELETE_PRESET, DFNS_PRESET
from archive_core.permissions import PermissionMatrix, authorize
from archive_core.use_cases import ACTIVATE_USER, ARCHIVE_USER
from tests.unit.helpers import refused, snapshot

PRESETS = [
    pytest.param(m, id=m.name) for m in (DFNS_PRESET, DFNS_DELETE_PRESET, DFNS_CURRENT_PRESET)
]

Act = Callable[[World, Actor, str], dict[str, Any]]


def kept_under(*, dfns: bool, dfns_delete: bool, dfns_current: bool) -> list[Any]:
    """(matrix, whether the guard keeps the target) for each preset."""
    return [
        pytest.param(DFNS_PRESET, dfns, id="dfns"),
        pytest.param(DFNS_DELETE_PRESET, dfns_delete, id="dfns-delete"),
        pytest.param(DFNS_CURRENT_PRESET, dfns_current, id="dfns-current"),
    ]


def _deactivate(world: World, actor: Actor, target_id: str) -> dict[str, Any]:
    return world.deactivate_user(actor, target_id)


def _archive(world: World, actor: Actor, target_id: str) -> dict[str, Any]:
    return world.archive_user(actor, target_id)


#: Each guarded operation: how to call it, what the guard asks for, its refusal.
GUARDED = [
    pytest.param(_deactivate, ACTIVATE_USER.name, Catalogue.LAST_ACTIVATOR, id="deactivate"),
    pytest.param(_archive, ARCHIVE_USER.name, Catalogue.LAST_ARCHIVER, id="archive"),
]


def _org_with_robot(policy: Policy) -> tuple[World, Any, Any]:
    world = World(policy=policy)
    org = world.new_org()
    human = world.actor(org, operations=ARCHIVE_OPS, username="last.admin@example.co")
    robot = world.actor(org, operations=ARCHIVE_OPS, service_account=True)
    return world, human, robot


def test_lockout_guard_refuses_to_archive_the_last_archiver() -> None:
    world, human, robot = _org_with_robot(Policy())
    refused(Catalogue.LAST_ARCHIVER, lambda: world.archive_user(robot, human.id))
    assert world.fresh_user(human.user).is_active


def test_lockout_guard_counts_full_admins() -> None:
    world, human, robot = _org_with_robot(Policy())
    world.actor(human.user.org_id, full_admin=True)
    assert world.archive_user(robot, human.id)["isActive"] is False


def test_lockout_guard_ignores_inactive_and_partial_holders() -> None:
    world, human, robot = _org_with_robot(Policy())
    partial = world.actor(human.user.org_id, operations=["Auth:Types:Employee"])
    archived = world.actor(human.user.org_id, operations=ARCHIVE_OPS)
    world.archive_user(human, archived.id)
    assert partial.user.is_active
    refused(Catalogue.LAST_ARCHIVER, lambda: world.archive_user(robot, human.id))


def test_lockout_guard_only_matters_for_archivers() -> None:
    world, human, robot = _org_with_robot(Policy())
    plain = world.actor(human.user.org_id)
    assert world.archive_user(robot, plain.id)["isActive"] is False


def test_lockout_guard_is_configurable() -> None:
    world, human, robot = _org_with_robot(Policy(lockout_guard=False))
    assert world.archive_user(robot, human.id)["isActive"] is False
    world, human, robot = _org_with_robot(Policy(lockout_counts_service_accounts=True))
    assert world.archive_user(robot, human.id)["isActive"] is False


# --------------------------------------------------------------------------- per preset


def _admin_and_robot(matrix: PermissionMatrix) -> tuple[World, OrgId, Actor, Actor]:
    """A world under `matrix`, an org, its employee admin (a full admin: able under every
    preset) and a service account that may do anything the matrix lets an employee do."""
    world = World(policy=Policy(matrix=matrix))
    org = world.new_org()
    admin = world.actor(org, full_admin=True)
    return world, org, admin, world.actor(org, full_admin=True, service_account=True)


@pytest.mark.parametrize(
    ("matrix", "kept"), kept_under(dfns=False, dfns_delete=False, dfns_current=True)
)
@pytest.mark.parametrize(("act", "undo", "last"), GUARDED)
def test_an_end_user_admin_counts_only_where_the_matrix_lets_end_users_act(
    matrix: PermissionMatrix, kept: bool, act: Act, undo: str, last: ErrorKind
) -> None:
    """One employee admin H, an EndUser holding DfnsFullAdminAccess, a service account S:
    under `dfns-current` the EndUser is refused every user operation, so S may neither
    deactivate nor archive H; elsewhere the EndUser can undo it."""
    world, org, human, robot = _admin_and_robot(matrix)
    world.actor(org, kind=UserKind.END_USER, full_admin=True)
    if kept:
        before = snapshot(world)
        refused(last, lambda: act(world, robot, human.id))
        assert snapshot(world)[0] == before[0]
        assert snapshot(world)[2] == before[2]
    else:
        assert act(world, robot, human.id)["isActive"] is False


@pytest.mark.parametrize(
    ("matrix", "kept"), kept_under(dfns=True, dfns_delete=True, dfns_current=False)
)
@pytest.mark.parametrize(("act", "undo", "last"), GUARDED)
def test_a_holder_of_the_unconditional_part_alone_counts_only_where_that_is_enough(
    matrix: PermissionMatrix, kept: bool, act: Act, undo: str, last: ErrorKind
) -> None:
    """Under `dfns` a user holding `Auth:Users:Update` but not `Auth:Types:Employee` cannot
    activate (or archive) an employee; it does not count for one. Under `dfns-current` the
    unconditional part is all there is."""
    world, org, human, robot = _admin_and_robot(matrix)
    partial = world.actor(org, operations=matrix.required(undo, None))
    if kept:
        refused(last, lambda: act(world, robot, human.id))
        # ... and it is indeed refused what the guard would have counted it for
        other = world.actor(org)
        if undo == ACTIVATE_USER.name:
            world.deactivate_user(robot, other.id)
            refused(
                Catalogue.PERMISSION_DENIED,
                lambda: world.activate_user(partial, other.id),
                message=f"CustomerEmployee {partial.id} is not authorized to perform "
                "operation (Auth:Types:Employee)",
            )
        else:
            refused(
                Catalogue.PERMISSION_DENIED,
                lambda: world.archive_user(partial, other.id),
                message=f"CustomerEmployee {partial.id} is not authorized to perform "
                "operation (Auth:Types:Employee)",
            )
    else:
        assert act(world, robot, human.id)["isActive"] is False


@pytest.mark.parametrize("matrix", PRESETS)
@pytest.mark.parametrize(("act", "undo", "last"), GUARDED)
def test_a_target_that_could_not_do_it_is_not_guarded(
    matrix: PermissionMatrix, act: Act, undo: str, last: ErrorKind
) -> None:
    """A target that could not do it takes no ability away, and goes: under `dfns` and
    `dfns-delete` an employee holding the unconditional part alone, under `dfns-current`
    an EndUser, whatever it holds."""
    world = World(policy=Policy(matrix=matrix))
    org = world.new_org()
    if matrix.refuses(undo, UserKind.END_USER):
        target = world.actor(org, kind=UserKind.END_USER, full_admin=True)
    else:
        target = world.actor(org, operations=matrix.required(undo, None))
    robot = world.actor(org, full_admin=True, service_account=True)
    assert act(world, robot, target.id)["isActive"] is False


@pytest.mark.parametrize("matrix", PRESETS)
@pytest.mark.parametrize(("act", "undo", "last"), GUARDED)
@pytest.mark.parametrize("target_kind", list(UserKind), ids=lambda k: k.value)
def test_the_guard_counts_exactly_whom_the_matrix_would_let_do_it(
    matrix: PermissionMatrix, act: Act, undo: str, last: ErrorKind, target_kind: UserKind
) -> None:
    """Against `authorize` itself: a target able to do it (a full admin) is guarded unless
    another active human of the org is allowed it on a user of the target's kind."""
    world = World(policy=Policy(matrix=matrix))
    grants: dict[str, tuple[tuple[str, ...], bool]] = {
        "full admin": ((), True),
        "unconditional part": (matrix.required(undo, None), False),
        "for employees": (matrix.required(undo, UserKind.CUSTOMER_EMPLOYEE), False),
        "for end users": (matrix.required(undo, UserKind.END_USER), False),
        "archive_ops": (ARCHIVE_OPS, False),
    }
    target_able = authorize(
        matrix,
        undo,
        granted=frozenset(),
        full_admin=True,
        target_kind=target_kind,
        caller_kind=target_kind,
    ).allowed
    for kind in UserKind:
        for name, (operations, full_admin) in grants.items():
            for service_account in (False, True):
                org = world.new_org()
                target = world.actor(org, kind=target_kind, full_admin=True)
                world.actor(
                    org,
                    kind=kind,
                    operations=operations,
                    full_admin=full_admin,
                    service_account=service_account,
                )
                robot = world.actor(org, full_admin=True, service_account=True)
                allowed = authorize(
                    matrix,
                    undo,
                    granted=frozenset(operations),
                    full_admin=full_admin,
                    target_kind=target_kind,
                    caller_kind=kind,
                ).allowed
                counts = allowed and not service_account
                case = f"another {kind.value} ({name}, service account: {service_account})"
                call = partial(act, world, robot, target.id)
                if target_able and not counts:
                    refused(last, call)
                else:
                    assert call()["isActive"] is False, case
