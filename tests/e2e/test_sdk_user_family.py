"""The rest of the user family through the official Python SDK (`dfns-sdk`) against
`archive-core serve`: create users, walk every page of the list, update one, archive a
listed one. Bodies and queries are the API's camelCase, as a user following the API
reference writes them (the SDK passes them unconverted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from dfns_sdk import DfnsClient, DfnsClientConfig, DfnsError, KeySigner  # type: ignore[import-untyped]  # the SDK ships no types

from tests.e2e.conftest import cli_json
from tests.services import PgSchema


def _walk(client: DfnsClient, **query: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    while True:
        page = client.auth.list_users({**query, "paginationToken": token})
        items += page["items"]
        token = page.get("nextPageToken")
        if token is None:
            return items


def test_create_list_update_and_archive_through_the_python_sdk(tmp_path: Path, serve: Any) -> None:
    db = str(tmp_path / "family.db")
    admin = cli_json("bootstrap", "--db", db)
    served = serve("--db", db)
    signer = KeySigner(credential_id=admin["credId"], private_key=admin["privateKeyPem"])
    client = DfnsClient(
        DfnsClientConfig(auth_token=admin["authToken"], base_url=served.url, signer=signer)
    )

    created = [
        client.auth.create_user(
            {"email": f"member{n}@example.com", "kind": "EndUser", "externalId": f"crm-{n}"}
        )
        for n in range(5)
    ]
    assert all(user["isActive"] and not user["isRegistered"] for user in created)
    assert (
        client.auth.create_user(
            {"email": "member0@example.com", "kind": "EndUser", "externalId": "crm-0"}
        )
        == created[0]
    )
    with pytest.raises(DfnsError) as taken:
        client.auth.create_user({"email": "MEMBER1@example.com", "kind": "CustomerEmployee"})
    assert (taken.value.status_code, taken.value.message) == (
        409,
        "A user of the org already has this username.",
    )

    listed = _walk(client, limit=2)
    ids = [user["userId"] for user in listed]
    assert ids == sorted({admin["userId"], *(user["userId"] for user in created)})
    assert [u["userId"] for u in _walk(client, kind="EndUser", limit=3)] == sorted(
        user["userId"] for user in created
    )
    with pytest.raises(DfnsError) as snake:
        client.auth.list_users({"pagination_token": "x"})
    assert (snake.value.status_code, snake.value.message) == (
        400,
        "The query is invalid: unknown parameter pagination_token.",
    )

    updated = client.auth.update_user(created[2]["userId"], {"isSSORequired": True})
    assert updated["isSSORequired"] is True
    again = {user["userId"]: user for user in _walk(client, limit=200)}
    assert again[created[2]["userId"]]["isSSORequired"] is True

    target = next(i for i in reversed(ids) if i != admin["userId"])  # a listed user
    archived = client.auth.delete_user(target)
    assert archived["isActive"] is False
    remaining = [user["userId"] for user in _walk(client, limit=2)]
    assert remaining == [i for i in ids if i != target]

    # the trail re-verifies offline: five creations (before: null), an update, an archive
    audit = cli_json("audit", "--db", db, "--verify")
    assert audit["ok"] is True
    actions = [record["action"] for record in audit["records"]]
    assert actions == [
        *["POST /auth/users"] * 5,
        f"PUT /auth/users/{created[2]['userId']}",
        f"DELETE /auth/users/{target}",
    ]
    assert all(r["targetBefore"] is None for r in audit["records"][:5])


def test_a_page_token_of_one_instance_opens_at_another(pg_schema: PgSchema, serve: Any) -> None:
    """Two servers over one PostgreSQL store share the page tokens' key (it is in the
    store): a walk may go on at either; a token of another org is refused at both."""
    db = pg_schema.url
    admin = cli_json("bootstrap", "--db", db)
    stranger = cli_json("bootstrap", "--db", db)
    first, second = serve("--db", db), serve("--db", db)
    for n in range(4):
        cli_json(
            "users",
            "create",
            "--db",
            db,
            "--org",
            admin["orgId"],
            "--username",
            f"m{n}@x.co",
            "--kind",
            "EndUser",
        )
    auth = {"Authorization": f"Bearer {admin['authToken']}"}
    seen: list[str] = []
    token = None
    for step in range(10):
        url = (first, second)[step % 2].url
        query = {"limit": "1", **({} if token is None else {"paginationToken": token})}
        page = httpx.get(f"{url}/auth/users", headers=auth, params=query).json()
        seen += [user["userId"] for user in page["items"]]
        token = page.get("nextPageToken")
        if token is None:
            break
    assert len(seen) == 5 and seen == sorted(seen)
    first_page = httpx.get(f"{first.url}/auth/users", headers=auth, params={"limit": "1"}).json()
    other = {"Authorization": f"Bearer {stranger['authToken']}"}
    for served in (first, second):
        refused = httpx.get(
            f"{served.url}/auth/users",
            headers=other,
            params={"paginationToken": first_page["nextPageToken"]},
        )
        assert refused.status_code == 400
        assert refused.json()["error"]["message"] == "The pagination token is not valid."
