"""The audit-log endpoints through `archive-core serve`: the CSV export over raw HTTP
(streamed, CORS exposing its truncation header), one record through the official Python
SDK's `get_audit_log`, whose `list_audit_logs` cannot read a CSV."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from dfns_sdk import DfnsClient, DfnsClientConfig, DfnsError, KeySigner  # type: ignore[import-untyped]  # the SDK ships no types

from tests.e2e.conftest import cli_json

ORIGIN = "https://wallet.example"
HEADER = "id,datePerformed,action,userId,username,userActionId,credentialUuid,credentialKind"


def _sdk(url: str, admin: dict[str, Any]) -> DfnsClient:
    signer = KeySigner(credential_id=admin["credId"], private_key=admin["privateKeyPem"])
    return DfnsClient(DfnsClientConfig(auth_token=admin["authToken"], base_url=url, signer=signer))


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_export_and_one_record_through_serve(tmp_path: Path, serve: Any) -> None:
    db = str(tmp_path / "logs.db")
    admin = cli_json("bootstrap", "--db", db)
    org = admin["orgId"]
    create = ("users", "create", "--db", db, "--org", org, "--kind", "EndUser", "--username")
    targets = [cli_json(*create, f"user{i}@example.com") for i in range(3)]
    served = serve("--db", db, "--cors-origin", ORIGIN)
    client = _sdk(served.url, admin)
    before = datetime.now(UTC) - timedelta(seconds=1)
    for target in targets:
        client.auth.delete_user(target["userId"])
    after = datetime.now(UTC) + timedelta(seconds=1)

    query = {"startTime": _z(before), "endTime": _z(after)}
    auth = {"Authorization": f"Bearer {admin['authToken']}", "Origin": ORIGIN}
    with httpx.stream(
        "GET", f"{served.url}/auth/action/logs", params=query, headers=auth
    ) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        assert answer.headers["transfer-encoding"] == "chunked"  # streamed, no length
        assert answer.headers["access-control-expose-headers"] == "X-Dfns-Result-Truncated"
        assert "x-dfns-result-truncated" not in answer.headers
        text = answer.read().decode()
    lines = text.splitlines()
    assert lines[0] == HEADER
    rows = [line.split(",") for line in lines[1:]]
    assert [row[2] for row in rows] == [f"DELETE /auth/users/{t['userId']}" for t in targets]
    assert {row[3] for row in rows} == {admin["userId"]}
    assert {row[7] for row in rows} == {"Key"}

    # A window that names no instant: 400 naming it, JSON, nothing streamed.
    bad = httpx.get(
        f"{served.url}/auth/action/logs",
        params={"startTime": "yesterday", "endTime": _z(after)},
        headers=auth,
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == (
        "The query is invalid: startTime must be a UTC ISO-8601 instant (2026-01-31T23:59:59Z)."
    )

    # One record, through the official SDK.
    record = client.auth.get_audit_log(rows[0][0])
    assert record["id"] == rows[0][0]
    assert record["action"] == rows[0][2]
    assert record["userId"] == admin["userId"]
    assert record["responseStatus"] == 200
    assert record["responseError"] is None
    assert record["dateSigned"] <= record["datePerformed"] == record["dateResolved"]
    first = record["firstFactorCredential"]
    assert first["credId"] == admin["credId"]
    assert {"publicKey", "clientData", "signature", "algorithm"} <= set(first)
    with pytest.raises(DfnsError) as missing:
        client.auth.get_audit_log("au-00000-00000-0000000000000000")
    assert missing.value.status_code == 404
    assert missing.value.message == "Audit log not found."

    # The SDK's list_audit_logs decodes every answer as JSON: it cannot read the CSV.
    with pytest.raises(ValueError, match="Expecting value"):
        client.auth.list_audit_logs({"startTime": _z(before), "endTime": _z(after)})
