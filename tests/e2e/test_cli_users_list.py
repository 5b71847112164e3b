"""`archive-core users list`: every page of the org's users not archived, as lines or as
a JSON array of the API's user shape, optionally of some kinds."""

from __future__ import annotations

from pathlib import Path

from adapters.wiring import build
from adapters.wiring.operations import WALK_PAGE
from archive_core.entities import UserKind
from tests.e2e.conftest import cli, cli_json


def test_users_list_walks_every_page(tmp_path: Path) -> None:
    db = str(tmp_path / "list.db")
    admin = cli_json("bootstrap", "--db", db)
    org = admin["orgId"]
    with build(db_url=db) as deployment:
        provisioning = deployment.provisioning
        made = [
            provisioning.create_user(
                org,
                f"member{n}@example.com",
                UserKind.END_USER if n % 2 else UserKind.CUSTOMER_EMPLOYEE,
            )
            for n in range(WALK_PAGE + 41)
        ]
        with deployment.storage.uow_factory() as uow:
            gone = made[0]
            uow.users.update(gone.archived(deployment.clock.now()), expected_version=gone.version)
            uow.commit()
    present = sorted([admin["userId"], *(u.id for u in made[1:])])

    listed = cli_json("users", "list", "--db", db, "--org", org)
    assert [user["userId"] for user in listed] == present
    assert {user["orgId"] for user in listed} == {org}
    assert next(u for u in listed if u["userId"] == admin["userId"])["permissionAssignments"]

    end_users = cli_json("users", "list", "--db", db, "--org", org, "--kind", "EndUser")
    assert [u["userId"] for u in end_users] == sorted(
        u.id for u in made if u.kind is UserKind.END_USER
    )
    both = cli_json(
        "users", "list", "--db", db, "--org", org, "--kind", "EndUser", "--kind", "CustomerEmployee"
    )
    assert both == listed

    lines = cli("users", "list", "--db", db, "--org", org).stdout.splitlines()
    assert [line.split()[0] for line in lines] == present
    assert "member1@example.com" in next(line for line in lines if made[1].id in line)


def test_users_list_of_an_org_without_users_and_a_bad_org(tmp_path: Path) -> None:
    db = str(tmp_path / "empty.db")
    cli_json("bootstrap", "--db", db)
    assert cli_json("users", "list", "--db", db, "--org", "or-aaaaa-bbbbb-cccccccccccccccc") == []
    refused = cli("users", "list", "--db", db, "--org", "nope", check=False)
    assert refused.returncode == 2
