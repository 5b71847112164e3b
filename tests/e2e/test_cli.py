"""The `archive-core` CLI: demo, bootstrap, users create, audit, purge, serve."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from adapters.entrypoints.cli import main
from tests.e2e.conftest import cli, cli_json

BOOTSTRAP_KEYS = {"orgId", "appId", "userId", "username", "credId", "privateKeyPem", "authToken"}


def test_demo_runs_the_whole_story_and_exits_zero(tmp_path: Path) -> None:
    out = io.StringIO()
    assert main(["demo", "--db", str(tmp_path / "demo.db")], out=out) == 0
    text = out.getvalue()
    assert "✓ every answer was the one the contract requires" in text
    assert "✗" not in text
    for expected in (
        "user action has already been used",
        "is not authorized to perform operation (Auth:Users:Update)",
        "User not found or already archived.",
        "The credential assertion could not be verified.",
        "chain: intact; signatures re-verified: all",
    ):
        assert expected in text


def test_demo_never_prints_a_whole_token(tmp_path: Path) -> None:
    out = io.StringIO()
    main(["demo", "--db", str(tmp_path / "demo.db")], out=out)
    text = out.getvalue()
    assert "eyJ" in text  # tokens are shown, abbreviated
    for line in text.splitlines():
        for word in line.replace('"', " ").split():
            assert not (word.startswith("eyJ") and len(word) > 40), line


@pytest.mark.parametrize("algorithm", ["ed25519", "p256", "secp256k1", "rsa"])
def test_bootstrap_json(tmp_path: Path, algorithm: str) -> None:
    db = str(tmp_path / "a.db")
    first = cli_json("bootstrap", "--db", db, "--key-algorithm", algorithm)
    second = cli_json("bootstrap", "--db", db, "--key-algorithm", algorithm)
    assert set(first) == BOOTSTRAP_KEYS
    assert first["orgId"] != second["orgId"]
    assert first["orgId"].startswith("or-") and first["appId"].startswith("ap-")
    key = serialization.load_pem_private_key(first["privateKeyPem"].encode(), password=None)
    assert key is not None
    assert first["privateKeyPem"].startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8


def test_users_create_json(tmp_path: Path) -> None:
    db = str(tmp_path / "a.db")
    org = cli_json("bootstrap", "--db", db)["orgId"]
    plain = cli_json(
        "users", "create", "--db", db, "--org", org, "--username", "a@x.io", "--kind", "EndUser"
    )
    assert set(plain) == {"userId", "username", "kind", "orgId"}
    assert (plain["kind"], plain["orgId"], plain["username"]) == ("EndUser", org, "a@x.io")
    full = cli_json(
        "users",
        "create",
        "--db",
        db,
        "--org",
        org,
        "--username",
        "b@x.io",
        "--kind",
        "CustomerEmployee",
        "--permission",
        "Auth:Users:Read",
        "--key-algorithm",
        "p256",
        "--token",
    )
    assert set(full) == {
        "userId",
        "username",
        "kind",
        "orgId",
        "credId",
        "privateKeyPem",
        "authToken",
    }


def test_users_create_refuses_a_malformed_org(tmp_path: Path) -> None:
    result = cli(
        "users",
        "create",
        "--db",
        str(tmp_path / "a.db"),
        "--org",
        "nope",
        "--username",
        "x",
        "--kind",
        "EndUser",
        check=False,
    )
    assert result.returncode == 2
    assert "org id" in result.stdout


def test_readable_output_by_default(tmp_path: Path) -> None:
    db = str(tmp_path / "a.db")
    text = cli("bootstrap", "--db", db).stdout
    assert text.startswith("org         or-")
    assert "BEGIN PRIVATE KEY" in text


def test_audit_verify_detects_tampering(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    assert main(["demo", "--db", str(db)], out=io.StringIO()) == 0
    clean = cli("audit", "--db", str(db), "--verify")
    assert "1 records: verified" in clean.stdout
    assert "head or-" in clean.stdout
    report = cli_json("audit", "--db", str(db), "--verify")
    assert report["ok"] is True and len(report["records"]) == 1
    with sqlite3.connect(db) as conn:
        # the log is append-only through triggers; someone with the file can drop them
        conn.execute("DROP TRIGGER audit_is_append_only_update")
        [document] = conn.execute("SELECT record FROM audit").fetchone()
        conn.execute("UPDATE audit SET record = ?", (document.replace("admin.", "someone."),))
    tampered = cli("audit", "--db", str(db), "--verify", check=False)
    assert tampered.returncode == 1
    assert "VERIFICATION FAILED" in tampered.stdout


def test_audit_json_without_verify_is_the_record_list(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    main(["demo", "--db", str(db)], out=io.StringIO())
    records = cli_json("audit", "--db", str(db))
    assert isinstance(records, list)
    assert records[0]["action"].startswith("DELETE /auth/users/us-")


def test_purge(tmp_path: Path) -> None:
    db = str(tmp_path / "a.db")
    cli("bootstrap", "--db", db)
    assert set(cli_json("purge", "--db", db)) == {"challenges", "nonces", "userActions"}


def test_serve_accepts_tokens_from_another_process_and_stops_on_sigterm(
    tmp_path: Path, serve: object
) -> None:
    db = str(tmp_path / "a.db")
    admin = cli_json("bootstrap", "--db", db)  # one process issues the token...
    served = serve("--db", db)  # type: ignore[operator]
    answer = httpx.get(  # ...another verifies it
        f"{served.url}/auth/users/{admin['userId']}",
        headers={"Authorization": f"Bearer {admin['authToken']}"},
    )
    assert answer.status_code == 200
    assert answer.json()["userId"] == admin["userId"]
    assert httpx.get(f"{served.url}/auth/users/{admin['userId']}").status_code == 401
    status, output = served.stop()
    assert status == 0
    assert "archive-core stopped" in output
