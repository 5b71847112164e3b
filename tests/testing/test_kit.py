"""The testing kit (`adapters.testing`) as a team uses it: the plugin's fixtures, the
world wired by `build`, the signer, the scenario builders and the audit assertions."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import attrs
import pytest

import adapters.testing as kit
from adapters.storage.urls import open_storage
from adapters.testing import World, assert_archived_by, assert_audit_intact, refused, snapshot
from adapters.testing.assertions import assert_not_audited
from adapters.testing.world import ARCHIVE_OPS, Scene, admin_grants
from adapters.wiring.bootstrap import build
from archive_core.config import Policy
from archive_core.entities import CredentialKind, UserKind
from archive_core.errors import Catalogue
from archive_core.operations import DFNS_CURRENT_PRESET, DFNS_PRESET, PRESETS
from archive_core.permissions import PermissionMatrix
from archive_core.requests import Request
from archive_core.use_cases import ARCHIVE_USER


@pytest.fixture
def archive_policy() -> Policy:
    """Overrides the plugin's policy: every world of this module requires a nonce."""
    return Policy(require_nonce=True)


def test_the_plugin_fixtures_build_a_world_with_the_overridden_policy(
    archive_world: World, archive_scene: Scene
) -> None:
    assert archive_scene.world is archive_world
    assert archive_world.policy.require_nonce
    answer = archive_world.archive_user(archive_scene.admin, archive_scene.employee.id)
    assert answer["isActive"] is False
    record = assert_archived_by(archive_world, archive_scene.employee, by=archive_scene.admin)
    assert record.permissions_required
    assert assert_audit_intact(archive_world) == 1


class TestTheSceneUnderEachPreset:
    """`archive_scene` follows the world's matrix: its admin can do what the scene says."""

    @pytest.fixture(params=list(PRESETS.values()), ids=list(PRESETS))
    def archive_policy(self, request: pytest.FixtureRequest) -> Policy:
        matrix: PermissionMatrix = request.param
        return Policy(require_nonce=True, matrix=matrix)

    def test_its_admin_deactivates_activates_and_archives_either_kind(
        self, archive_world: World, archive_scene: Scene
    ) -> None:
        world, admin = archive_world, archive_scene.admin
        for user in (archive_scene.employee, archive_scene.end_user):
            assert world.deactivate_user(admin, user.id)["isActive"] is False
            assert world.activate_user(admin, user.id)["isActive"] is True
            world.archive_user(admin, user.id)
            assert_archived_by(world, user, by=admin)
        assert assert_audit_intact(world) == 6


def test_the_admins_grants_come_from_the_matrix() -> None:
    assert admin_grants(DFNS_PRESET) == ARCHIVE_OPS
    assert ARCHIVE_OPS == ("Auth:Users:Update", "Auth:Types:Employee", "Auth:Types:EndUser")
    assert admin_grants(DFNS_CURRENT_PRESET) == (
        "Auth:Users:Delete",
        "Auth:Users:Deactivate",
        "Auth:Users:Activate",
    )
    archive_only = PermissionMatrix.from_mapping(
        "archive-only", {"ArchiveUser": [{"permission": "Auth:Users:Delete"}]}
    )
    assert admin_grants(archive_only) == ("Auth:Users:Delete",)
    no_employees = attrs.evolve(
        DFNS_PRESET, refused_callers={"ActivateUser": frozenset({UserKind.CUSTOMER_EMPLOYEE})}
    )
    with pytest.raises(ValueError, match="refuses ActivateUser to employees"):
        World(policy=Policy(matrix=no_employees)).scene()


def test_a_signed_request_is_bound_to_its_method_path_and_body(archive_scene: Scene) -> None:
    world, admin = archive_scene.world, archive_scene.admin
    end_user, employee = archive_scene.end_user, archive_scene.employee
    request = world.signed_request(admin, "DELETE", f"/auth/users/{end_user.id}")
    elsewhere = Request("DELETE", f"/auth/users/{employee.id}", request.headers, request.body)
    before = snapshot(world)
    refused(Catalogue.USER_ACTION_INVALID, lambda: world.call(ARCHIVE_USER, elsewhere, employee.id))
    assert snapshot(world) == before
    assert_not_audited(world, employee, org=archive_scene.org)
    world.archive_user(admin, end_user.id)  # a fresh nonce: the refused one is spent
    assert_archived_by(world, end_user, by=admin)


def test_refused_fails_when_nothing_is_refused_or_something_else_is(
    archive_scene: Scene,
) -> None:
    with pytest.raises(AssertionError, match="got none"):
        refused(Catalogue.NOT_AUTHORIZED, lambda: None)
    with pytest.raises(AssertionError):
        refused(
            Catalogue.NOT_AUTHORIZED,
            lambda: refused(Catalogue.USER_ACTION_INVALID, lambda: None),
        )


def test_scenario_builders_make_users_of_each_kind_with_their_credentials() -> None:
    with World(seed=3) as world:
        org = world.new_org()
        service = world.actor(
            org, kind=UserKind.END_USER, service_account=True, credential_kind=None
        )
        assert service.credential is None and service.user.is_service_account
        passkey = world.actor(org, credential_kind=CredentialKind.FIDO2, full_admin=True)
        assert passkey.credential is not None
        assert passkey.credential.kind is CredentialKind.FIDO2
        assert world.fresh_user(passkey.user) == passkey.user
        with pytest.raises(ValueError, match="no credential"):
            world.sign_challenge(service, {"challenge": "c"})
        world.archive_user(passkey, world.actor(org).id)
        assert assert_audit_intact(world) == 1


def test_the_clock_moves_only_when_told(archive_scene: Scene) -> None:
    world = archive_scene.world
    start = world.clock.now()
    world.clock.advance(timedelta(hours=2))  # the scene's tokens lived one hour
    refused(
        Catalogue.NOT_AUTHORIZED,
        lambda: world.archive_user(archive_scene.admin, archive_scene.employee.id),
    )
    assert world.clock.now() - start == timedelta(hours=2)


def test_a_world_on_sqlite_is_wired_by_the_same_build(tmp_path: Path) -> None:
    with World(db_url=str(tmp_path / "kit.db")) as world:
        org = world.new_org()
        admin = world.actor(org, operations=ARCHIVE_OPS)
        target = world.actor(org)
        world.archive_user(admin, target.id)
        assert_archived_by(world, target, by=admin)
    with open_storage(tmp_path / "kit.db") as storage, storage.uow_factory() as uow:
        assert len(uow.audit.records(org)) == 1


def test_build_takes_storage_opened_or_a_url_never_both_nor_neither() -> None:
    with pytest.raises(ValueError, match="needs db_url"):
        build()
    with open_storage("memory:") as storage:
        with pytest.raises(ValueError, match="not both"):
            build(storage=storage, db_url="memory:")
        with pytest.raises(ValueError, match="not both"):
            build(storage=storage, replay_url="memory:")
        with pytest.raises(ValueError, match="not both"):
            build(storage=storage, commit_timeout=1.0)


def test_the_package_names_its_api_and_loads_it_on_use() -> None:
    assert {name: getattr(kit, name) for name in kit.__all__}
    assert kit.World is World and kit.ARCHIVE_OPS == ARCHIVE_OPS
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        _ = kit.Nothing


def test_only_the_plugin_and_the_contract_suites_need_pytest() -> None:
    """The package and the kit import with pytest absent; the plugin and suites do not."""
    script = """
import sys
sys.modules["pytest"] = None  # as if pytest were not installed
import adapters.wiring.bootstrap, adapters.entrypoints.cli, adapters.entrypoints.demo, adapters.entrypoints.server
import adapters.testing.assertions, adapters.testing.fakes
from adapters.testing import World, refused
with World() as world:
    scene = world.scene()
    world.archive_user(scene.admin, scene.end_user.id)
for name in ("adapters.testing.plugin", "adapters.testing.contracts"):
    try:
        __import__(name)
    except ImportError:
        continue
    raise SystemExit(name + " imported without pytest")
print("ok")
"""
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120
    )
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr
