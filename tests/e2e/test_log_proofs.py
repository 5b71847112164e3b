"""Signed checkpoints and proofs through `archive-core serve` with a log key file, checked
offline by the CLI and by an independent RFC 9162 implementation (tests/vectors/rfc9162.py,
written from the RFC); then the tables cut and rewritten behind the server's back
(SQLite): the verifiers and the signer refuse."""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from dfns_sdk import DfnsClient, DfnsClientConfig, KeySigner  # type: ignore[import-untyped]  # the SDK ships no types

from tests.e2e.conftest import ROOT, cli, cli_json
from tests.services import cli_environment
from tests.vectors import rfc9162

LOG_NAME = "log.example/audit"


def _sdk(url: str, admin: dict[str, Any]) -> DfnsClient:
    signer = KeySigner(credential_id=admin["credId"], private_key=admin["privateKeyPem"])
    return DfnsClient(DfnsClientConfig(auth_token=admin["authToken"], base_url=url, signer=signer))


class Log:
    """A served deployment with a log key, its admin, and the org's verifier key."""

    def __init__(self, tmp_path: Path, serve: Any) -> None:
        self.folder = tmp_path
        self.db = str(tmp_path / "log.db")
        self.key_file = str(tmp_path / "log.key")
        cli("audit", "new-log-key", "--out", self.key_file)
        self.admin = cli_json("bootstrap", "--db", self.db)
        self.org = self.admin["orgId"]
        self.served = serve(
            "--db", self.db, "--log-key-file", self.key_file, "--log-name", LOG_NAME
        )
        self.client = _sdk(self.served.url, self.admin)
        self.vkey = cli(
            "audit", "log-key", "--org", self.org, "--log-key-file", self.key_file,
            "--log-name", LOG_NAME,
        ).stdout.strip()  # fmt: skip

    def archive(self, count: int) -> None:
        for _ in range(count):
            target = cli_json(
                "users", "create", "--db", self.db, "--org", self.org, "--kind", "EndUser",
                "--username", f"user{len(self.record_ids())}@example.com",
            )  # fmt: skip
            self.client.auth.delete_user(target["userId"])

    def get(self, path: str, **params: str) -> httpx.Response:
        return httpx.get(
            f"{self.served.url}{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.admin['authToken']}"},
        )

    def text(self, path: str, **params: str) -> str:
        answer = self.get(path, **params)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "text/plain; charset=utf-8"
        return answer.text

    def saved(self, name: str, text: str) -> str:
        place = self.folder / name
        place.write_text(text, encoding="utf-8")
        return str(place)

    def verify(self, *args: str) -> tuple[int, str]:
        result = cli("audit", *args[:1], "--log-key", self.vkey, *args[1:], check=False)
        return result.returncode, result.stdout

    def record_ids(self) -> list[str]:
        audit = cli_json("audit", "--db", self.db, "--org", self.org)
        return [record["id"] for record in audit]


def _lines(text: str) -> tuple[list[str], str]:
    head, _blank, checkpoint = text.partition("\n\n")
    return head.split("\n"), checkpoint


def test_proofs_from_serve_verify_offline_and_by_the_rfc(tmp_path: Path, serve: Any) -> None:
    log = Log(tmp_path, serve)
    assert log.vkey.startswith(f"{LOG_NAME}/{log.org}+")
    log.archive(3)
    old = log.saved("old.checkpoint", log.text("/auth/action/logs/checkpoint"))
    log.archive(4)
    ids = log.record_ids()
    assert len(ids) == 7

    leaves: list[bytes] = []
    for index, record_id in enumerate(ids):
        text = log.text(f"/auth/action/logs/{record_id}/proof")
        code, out = log.verify("verify-proof", log.saved(f"{index}.proof", text))
        assert (code, out) == (
            0,
            f"ok: {record_id} is leaf {index} of {LOG_NAME}/{log.org} at size 7\n",
        )
        lines, checkpoint = _lines(text)
        assert lines[0] == "c2sp.org/tlog-proof@v1"
        leaves.append(base64.b64decode(lines[1].removeprefix("extra ")))
        assert lines[2] == f"index {index}"
        path = [base64.b64decode(line) for line in lines[3:]]
        root = base64.b64decode(checkpoint.split("\n")[2])
        assert rfc9162.root_from_path(leaves[-1], index, 7, path) == root
    # The checkpoint's root is MTH of the leaves, recomputed from the RFC's definition.
    body = log.text("/auth/action/logs/checkpoint").split("\n")
    assert body[:2] == [f"{LOG_NAME}/{log.org}", "7"]
    assert base64.b64decode(body[2]) == rfc9162.mth(leaves)

    grown = log.text("/auth/action/logs/consistency", **{"from": "3"})
    hashes, _ = _lines(grown)
    assert [base64.b64decode(h) for h in hashes] == rfc9162.proof(3, leaves)
    code, out = log.verify("verify-consistency", old, log.saved("grown.proof", grown))
    assert (code, out) == (
        0,
        f"ok: {LOG_NAME}/{log.org} at size 7 extends its checkpoint at size 3\n",
    )
    same = log.text("/auth/action/logs/consistency", **{"from": "7"})
    assert same.startswith("\n")
    for bad in ("0", "8", "x"):
        refused = log.get("/auth/action/logs/consistency", **{"from": bad})
        assert refused.status_code == 400, bad

    # Another log's key, a tampered proof: exit 1 and the reason.
    other = cli("audit", "log-key", "--org", "or-other-org0", "--log-key-file", log.key_file)
    result = cli(
        "audit",
        "verify-proof",
        "--log-key",
        other.stdout.strip(),
        f"{tmp_path}/0.proof",
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout.startswith("fails: unknown_key: ")
    proof = (tmp_path / "0.proof").read_text()
    forged = proof.replace("index 0\n", "index 1\n")
    code, out = log.verify("verify-proof", log.saved("forged.proof", forged))
    assert code == 1
    assert out.startswith("fails: root_mismatch: ")


def test_a_log_cut_or_rewritten_behind_the_servers_back(tmp_path: Path, serve: Any) -> None:
    log = Log(tmp_path, serve)
    log.archive(4)
    signed = log.saved("signed.checkpoint", log.text("/auth/action/logs/checkpoint"))
    ids = log.record_ids()
    kept_proof = log.saved("kept.proof", log.text(f"/auth/action/logs/{ids[1]}/proof"))

    with sqlite3.connect(log.db) as db:
        # Cut: the last record and its part of the tree gone (the triggers that keep the
        # log append-only dropped, as whoever holds the database can).
        for trigger in _APPEND_ONLY:
            db.execute(f"DROP TRIGGER {trigger}")
        db.execute("DELETE FROM audit WHERE org_id = ? AND sequence = 4", (log.org,))
        db.execute(
            "DELETE FROM audit_tree WHERE org_id = ? AND ((level = 0 AND idx = 3)"
            " OR (level = 1 AND idx = 1) OR (level = 2 AND idx = 0))",
            (log.org,),
        )
    refused = log.get("/auth/action/logs/checkpoint")
    assert refused.status_code == 503
    assert refused.json()["error"]["message"] == (
        "The log signer refused: the audit log does not extend the last tree head it signed."
    )
    assert log.get(f"/auth/action/logs/{ids[0]}/proof").status_code == 503
    # A proof kept from before still verifies against the checkpoint it carries.
    assert log.verify("verify-proof", kept_proof)[0] == 0

    with sqlite3.connect(log.db) as db:
        # Rewritten: a record edited, a fourth forged, and the whole tree recomputed from
        # the rows: a well-formed tree of the signed size with another root.
        db.execute(
            "UPDATE audit SET record = replace(record, 'example.com', 'example.org')"
            " WHERE org_id = ? AND sequence = 2",
            (log.org,),
        )
        db.execute(
            "INSERT INTO audit (org_id, sequence, id, hash, target_id, user_action_id,"
            " performed_at, record) SELECT org_id, 4, 'au-forged-00000', hash, target_id,"
            " user_action_id, performed_at, record FROM audit WHERE org_id = ? AND sequence = 3",
            (log.org,),
        )
        db.execute("DELETE FROM audit_tree WHERE org_id = ?", (log.org,))
        stored = db.execute(
            "SELECT record FROM audit WHERE org_id = ? ORDER BY sequence", (log.org,)
        ).fetchall()
        leaves = [_leaf(row[0]) for row in stored]
        db.executemany(
            "INSERT INTO audit_tree (org_id, level, idx, hash) VALUES (?, ?, ?, ?)",
            [(log.org, *node) for node in _subtrees(leaves)],
        )
    refused = log.get("/auth/action/logs/checkpoint")
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "log_signing_refused"
    # Whoever rewrote the tables cannot sign: a checkpoint of the new root under the old
    # signature fails offline against the checkpoint a client kept.
    lines = (tmp_path / "signed.checkpoint").read_text().split("\n")
    assert lines[1] == "4"
    lines[2] = base64.b64encode(rfc9162.mth(leaves)).decode()
    forged = log.saved("forged.checkpoint", "\n" + "\n".join(lines))
    code, out = log.verify("verify-consistency", signed, forged)
    assert code == 1
    assert out.startswith("fails: bad_signature: ")
    _status, output = log.served.stop()
    assert output.count("the log signer refused to sign") >= 2


_APPEND_ONLY = (
    "audit_is_append_only_update",
    "audit_is_append_only_delete",
    "audit_tree_is_append_only_update",
    "audit_tree_is_append_only_delete",
)


def _leaf(stored: str) -> bytes:
    """A stored record's leaf data: its canonical JSON without the `hash` member."""
    document = json.loads(stored)
    document.pop("hash")
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("ascii")


def _subtrees(leaves: list[bytes]) -> list[tuple[int, int, bytes]]:
    """Every complete subtree of the leaves, as (level, index, hash), from the RFC's MTH."""
    found = []
    level = 0
    while (1 << level) <= len(leaves):
        width = 1 << level
        for index in range(len(leaves) // width):
            found.append((level, index, rfc9162.mth(leaves[index * width : (index + 1) * width])))
        level += 1
    return found


def test_log_key_reads_the_variables_serve_reads(tmp_path: Path) -> None:
    key_file = str(tmp_path / "log.key")
    cli("audit", "new-log-key", "--out", key_file)
    org = "or-aaaaa-bbbbb"
    by_flags = cli(
        "audit", "log-key", "--org", org, "--log-key-file", key_file, "--log-name", LOG_NAME
    )
    by_variables = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "adapters.entrypoints.cli", "audit", "log-key", "--org", org],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=cli_environment(
            {"ARCHIVE_CORE_LOG_KEY_FILE": key_file, "ARCHIVE_CORE_LOG_NAME": LOG_NAME}
        ),
    )
    assert by_variables.returncode == 0
    assert by_variables.stdout == by_flags.stdout
    assert by_flags.stdout.startswith(f"{LOG_NAME}/{org}+")
    missing = cli("audit", "log-key", "--org", org, check=False)
    assert missing.returncode == 2
    assert missing.stderr == (
        "archive-core: log-key needs --log-key-file (or ARCHIVE_CORE_LOG_KEY_FILE)\n"
    )
    again = cli("audit", "new-log-key", "--out", key_file, check=False)
    assert (again.returncode, again.stderr) == (
        2,
        f"archive-core: log key file {key_file}: exists (a key is never overwritten)\n",
    )
