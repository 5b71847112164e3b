"""`audit --verify` checks each org's Merkle tree against its records: a subtree
rewritten behind the store's back is reported, and the command fails."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

from adapters.entrypoints.cli import main
from tests.e2e.conftest import cli, cli_json


def test_audit_verify_finds_a_rewritten_subtree(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    assert main(["demo", "--db", str(db)], out=io.StringIO()) == 0
    assert cli_json("audit", "--db", str(db), "--verify")["treeBreaks"] == []
    with sqlite3.connect(db) as conn:
        # the tree is append-only through triggers; someone with the file can drop them
        conn.execute("DROP TRIGGER audit_tree_is_append_only_update")
        conn.execute("UPDATE audit_tree SET hash = zeroblob(32) WHERE level = 0 AND idx = 0")
    tampered = cli("audit", "--db", str(db), "--verify", check=False)
    assert tampered.returncode == 1
    assert "BROKEN tree or-" in tampered.stdout
    assert "at level 0 index 0: subtree_mismatch" in tampered.stdout
    assert "VERIFICATION FAILED" in tampered.stdout
    report = json.loads(cli("audit", "--db", str(db), "--verify", "--json", check=False).stdout)
    assert report["ok"] is False
    assert [b["reason"] for b in report["treeBreaks"]] == ["subtree_mismatch"]
