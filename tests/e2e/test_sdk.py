"""The official Python SDK (`dfns-sdk`) against `archive-core serve`, and the multi-instance
guarantees with two servers sharing PostgreSQL and Redis."""

from __future__ import annotations

import base64
import concurrent.futures
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from dfns_sdk import DfnsClient, DfnsClientConfig, DfnsError, KeySigner  # type: ignore[import-untyped]  # the SDK ships no types

from tests.e2e.conftest import cli_json
from tests.services import PgSchema, RedisPrefix


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sdk(url: str, admin: dict[str, Any]) -> DfnsClient:
    signer = KeySigner(credential_id=admin["credId"], private_key=admin["privateKeyPem"])
    return DfnsClient(DfnsClientConfig(auth_token=admin["authToken"], base_url=url, signer=signer))


def _user(db: str, org: str, name: str, kind: str = "EndUser") -> dict[str, Any]:
    return cli_json("users", "create", "--db", db, "--org", org, "--username", name, "--kind", kind)  # type: ignore[no-any-return]


@pytest.mark.parametrize("algorithm", ["ed25519", "p256", "rsa"])
def test_official_sdk_archives_users(tmp_path: Path, serve: Any, algorithm: str) -> None:
    db = str(tmp_path / "sdk.db")
    admin = cli_json("bootstrap", "--db", db, "--key-algorithm", algorithm)
    employee = _user(db, admin["orgId"], "employee@example.com", "CustomerEmployee")
    end_user = _user(db, admin["orgId"], "end.user@example.com")
    served = serve("--db", db)
    client = _sdk(served.url, admin)

    for target in (employee, end_user):
        archived = client.auth.delete_user(target["userId"])
        assert archived["userId"] == target["userId"]
        assert archived["isActive"] is False
        assert archived["kind"] == target["kind"]
        with pytest.raises(DfnsError) as second:
            client.auth.delete_user(target["userId"])
        assert second.value.status_code == 404
        assert second.value.message == "User not found or already archived."

    fetched = httpx.get(
        f"{served.url}/auth/users/{admin['userId']}",
        headers={"Authorization": f"Bearer {admin['authToken']}"},
    )
    assert fetched.json()["isActive"] is True


def _signed_token(url: str, admin: dict[str, Any], method: str, path: str, payload: str) -> str:
    headers = {"Authorization": f"Bearer {admin['authToken']}"}
    challenge = httpx.post(
        f"{url}/auth/action/init",
        headers=headers,
        json={
            "userActionPayload": payload,
            "userActionHttpMethod": method,
            "userActionHttpPath": path,
        },
    ).json()
    # the TypeScript SDK's clientData: JSON.stringify({type, challenge}) only
    signer = KeySigner(credential_id=admin["credId"], private_key=admin["privateKeyPem"])
    client_data = json.dumps(
        {"type": "key.get", "challenge": challenge["challenge"]}, separators=(",", ":")
    ).encode()
    signature = signer._sign_bytes(client_data)
    answer = httpx.post(
        f"{url}/auth/action",
        headers=headers,
        json={
            "challengeIdentifier": challenge["challengeIdentifier"],
            "firstFactor": {
                "kind": "Key",
                "credentialAssertion": {
                    "credId": admin["credId"],
                    "clientData": _b64(client_data),
                    "signature": _b64(signature),
                },
            },
        },
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["userAction"])


def test_both_payload_conventions(tmp_path: Path, serve: Any) -> None:
    db = str(tmp_path / "sdk.db")
    admin = cli_json("bootstrap", "--db", db)
    served = serve("--db", db)
    auth = {"Authorization": f"Bearer {admin['authToken']}"}

    # no body: the payload signed is ""
    quiet = _user(db, admin["orgId"], "quiet@example.com")
    path = f"/auth/users/{quiet['userId']}"
    token = _signed_token(served.url, admin, "DELETE", path, "")
    assert (
        httpx.delete(
            f"{served.url}{path}", headers={**auth, "X-DFNS-USERACTION": token}
        ).status_code
        == 200
    )

    # body {}: the payload signed is "{}"
    braces = _user(db, admin["orgId"], "braces@example.com")
    path = f"/auth/users/{braces['userId']}"
    token = _signed_token(served.url, admin, "DELETE", path, "{}")
    sent = httpx.request(
        "DELETE", f"{served.url}{path}", headers={**auth, "X-DFNS-USERACTION": token}, content=b"{}"
    )
    assert sent.status_code == 200, sent.text

    # a mismatch either way is refused
    other = _user(db, admin["orgId"], "other@example.com")
    path = f"/auth/users/{other['userId']}"
    token = _signed_token(served.url, admin, "DELETE", path, "")
    refused = httpx.request(
        "DELETE", f"{served.url}{path}", headers={**auth, "X-DFNS-USERACTION": token}, content=b"{}"
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "user action signature is missing or invalid"


# --------------------------------------------------------------------------- two instances


def _two_instances(
    pg_schema: PgSchema, redis_prefix: RedisPrefix, serve: Any
) -> tuple[dict[str, Any], Any, Any]:
    db = pg_schema.url
    admin = cli_json("bootstrap", "--db", db)
    first = serve("--db", db, "--redis", redis_prefix.replay_url)
    second = serve("--db", db, "--redis", redis_prefix.replay_url)
    return admin, first, second


def test_challenge_opened_on_one_instance_completes_on_the_other(
    pg_schema: PgSchema, redis_prefix: RedisPrefix, serve: Any
) -> None:
    admin, first, second = _two_instances(pg_schema, redis_prefix, serve)
    target = _user(pg_schema.url, admin["orgId"], "target@example.com")
    path = f"/auth/users/{target['userId']}"
    headers = {"Authorization": f"Bearer {admin['authToken']}"}
    challenge = httpx.post(
        f"{first.url}/auth/action/init",
        headers=headers,
        json={
            "userActionPayload": "",
            "userActionHttpMethod": "DELETE",
            "userActionHttpPath": path,
        },
    ).json()
    signer = KeySigner(credential_id=admin["credId"], private_key=admin["privateKeyPem"])
    body = {
        "challengeIdentifier": challenge["challengeIdentifier"],
        "firstFactor": signer.sign(challenge),
    }
    completed = httpx.post(f"{second.url}/auth/action", headers=headers, json=body)
    assert completed.status_code == 200
    again = httpx.post(f"{first.url}/auth/action", headers=headers, json=body)
    assert again.status_code == 400
    assert again.json()["error"]["message"] == "Challenge token is not valid."

    token = completed.json()["userAction"]
    done = httpx.delete(f"{first.url}{path}", headers={**headers, "X-DFNS-USERACTION": token})
    assert done.status_code == 200
    replayed = httpx.delete(f"{second.url}{path}", headers={**headers, "X-DFNS-USERACTION": token})
    assert replayed.status_code == 400
    assert replayed.json()["error"]["message"] == "user action has already been used"


def test_sixteen_concurrent_requests_with_one_token_over_two_instances(
    pg_schema: PgSchema, redis_prefix: RedisPrefix, serve: Any
) -> None:
    admin, first, second = _two_instances(pg_schema, redis_prefix, serve)
    target = _user(pg_schema.url, admin["orgId"], "raced@example.com")
    path = f"/auth/users/{target['userId']}"
    token = _signed_token(first.url, admin, "DELETE", path, "")
    headers = {"Authorization": f"Bearer {admin['authToken']}", "X-DFNS-USERACTION": token}
    urls = [first.url, second.url] * 8

    def fire(url: str) -> tuple[int, str]:
        answer = httpx.delete(f"{url}{path}", headers=headers, timeout=30)
        return answer.status_code, answer.json().get("error", {}).get("message", "")

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(fire, urls))
    assert sorted(status for status, _ in results).count(200) == 1
    assert {message for status, message in results if status != 200} == {
        "user action has already been used"
    }
    audit = cli_json("audit", "--db", pg_schema.url, "--org", admin["orgId"], "--verify")
    assert audit["ok"] is True
    assert len(audit["records"]) == 1


def test_nonce_replay_is_refused_across_instances(
    pg_schema: PgSchema, redis_prefix: RedisPrefix, serve: Any
) -> None:
    admin, first, second = _two_instances(pg_schema, redis_prefix, serve)
    from datetime import UTC, datetime

    nonce = _b64(
        json.dumps(
            {"uuid": "shared-nonce-0123456789", "date": datetime.now(UTC).isoformat()}
        ).encode()
    )
    headers = {"Authorization": f"Bearer {admin['authToken']}", "X-DFNS-NONCE": nonce}
    assert (
        httpx.get(f"{first.url}/auth/users/{admin['userId']}", headers=headers).status_code == 200
    )
    again = httpx.get(f"{second.url}/auth/users/{admin['userId']}", headers=headers)
    assert again.status_code == 400
    assert again.json()["error"]["message"] == "request nonce has already been used"
