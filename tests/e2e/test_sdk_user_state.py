"""The official Python SDK's `deactivate_user` / `activate_user` against `archive-core serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from dfns_sdk import DfnsClient, DfnsClientConfig, DfnsError, KeySigner  # type: ignore[import-untyped]  # the SDK ships no types

from tests.e2e.conftest import cli_json


def _sdk(url: str, admin: dict[str, Any]) -> DfnsClient:
    signer = KeySigner(credential_id=admin["credId"], private_key=admin["privateKeyPem"])
    return DfnsClient(DfnsClientConfig(auth_token=admin["authToken"], base_url=url, signer=signer))


def test_official_sdk_deactivates_and_activates_users(tmp_path: Path, serve: Any) -> None:
    db = str(tmp_path / "sdk.db")
    admin = cli_json("bootstrap", "--db", db)
    org = admin["orgId"]
    member = cli_json(
        "users", "create", "--db", db, "--org", org, "--username", "member@example.com",
        "--kind", "CustomerEmployee", "--key-algorithm", "ed25519", "--token",
    )  # fmt: skip
    served = serve("--db", db)
    client = _sdk(served.url, admin)
    member_auth = {"Authorization": f"Bearer {member['authToken']}"}
    own = f"{served.url}/auth/users/{member['userId']}"

    # the member's token works, until it is deactivated
    assert httpx.post(f"{served.url}/auth/action/init", headers=member_auth, json={
        "userActionPayload": "", "userActionHttpMethod": "DELETE", "userActionHttpPath": "/x",
    }).status_code == 200  # fmt: skip
    off = client.auth.deactivate_user(member["userId"], {"force": False})
    assert off["userId"] == member["userId"]
    assert off["isActive"] is False
    cut = httpx.get(own, headers=member_auth)
    assert cut.status_code == 401
    assert cut.json()["error"]["message"] == "Not Authorized."

    # deactivating again: 200, unchanged; with the SDK's empty-body default too
    assert client.auth.deactivate_user(member["userId"], {})["isActive"] is False

    on = client.auth.activate_user(member["userId"])
    assert on["isActive"] is True
    assert client.auth.activate_user(member["userId"])["isActive"] is True
    # activation restores the user, not the token issued before its deactivation
    assert httpx.get(own, headers=member_auth).status_code == 401

    # refusals reach the SDK with their exact message
    with pytest.raises(DfnsError) as yourself:
        client.auth.deactivate_user(admin["userId"], {})
    assert yourself.value.status_code == 400
    assert yourself.value.message == "A user cannot deactivate itself."
    client.auth.delete_user(member["userId"])
    with pytest.raises(DfnsError) as archived:
        client.auth.activate_user(member["userId"])
    assert archived.value.status_code == 404
    assert archived.value.message == "User not found or already archived."

    audit = cli_json("audit", "--db", db, "--org", org, "--verify")
    assert audit["ok"] is True
    target = member["userId"]
    assert [record["action"] for record in audit["records"]] == [
        f"PUT /auth/users/{target}/deactivate",
        f"PUT /auth/users/{target}/activate",
        f"DELETE /auth/users/{target}",
    ]
