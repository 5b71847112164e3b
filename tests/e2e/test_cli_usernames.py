"""Usernames through the CLI, and the audit output spoofing they allowed: a username
holding a newline and ANSI escapes is refused (one line on stderr, exit 2), as are a
taken name, an unknown `--org` and an unknown `--permission`; a name already stored by
an older database prints escaped, so `audit --verify` shows no forged line or verdict."""

from __future__ import annotations

import io
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import attrs
import pytest

from adapters.entrypoints.cli import main
from adapters.storage.sqlite import SqliteStore
from adapters.testing.contracts import samples
from archive_core.audit import chain_record
from archive_core.ids import OrgId
from tests.e2e.conftest import cli, cli_json

#: A username that, printed as it is, forges an audit line and a green verdict, then
#: conceals the rest of its own line.
SPOOF = (
    "mallory@example.co\n"
    "or-aaaaa-bbbbb-cccccccccccccccc #2 2026-01-01T12:00:00+00:00 DELETE /auth/users/us-x"
    " by admin@example.co (us-aaaaa-bbbbb-cccccccccccccccc)\n"
    "\x1b[32m42 records: verified\x1b[0m\x1b[8m"
)


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def _count(db: Path, table: str) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608 - a test's own table names


@pytest.fixture
def org(tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "u.db"
    status, out = _run("bootstrap", "--db", str(db), "--json")
    assert status == 0
    return db, json.loads(out)["orgId"]


def _create(db: Path, org: str, username: str, *more: str) -> tuple[int, str]:
    return _run(
        "users", "create", "--db", str(db), "--org", org, "--username", username,
        "--kind", "EndUser", *more,
    )  # fmt: skip


def test_a_username_with_a_newline_and_ansi_escapes_is_refused(
    org: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    db, org_id = org
    assert _create(db, org_id, SPOOF) == (2, "")
    assert capsys.readouterr().err == (
        "error: The username is not acceptable: it holds a control character (U+000A).\n"
    )
    assert _create(db, org_id, "evil\u202eoc.elpmaxe@") == (2, "")
    assert capsys.readouterr().err == (
        "error: The username is not acceptable: "
        "it holds a bidirectional control character (U+202E).\n"
    )
    assert _create(db, org_id, "x" * 255) == (2, "")
    assert capsys.readouterr().err == (
        "error: The username is not acceptable: it is longer than 254 characters.\n"
    )
    assert _count(db, "users") == 1  # the admin alone


def test_a_username_taken_in_the_org_is_refused_compared_casefolded(
    org: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    db, org_id = org
    assert _create(db, org_id, "Straße@example.co")[0] == 0
    assert _create(db, org_id, "STRASSE@EXAMPLE.CO") == (2, "")
    assert capsys.readouterr().err == "error: A user of the org already has this username.\n"
    assert _count(db, "users") == 2


def test_bootstrap_refuses_a_bad_admin_username_and_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "b.db"
    assert _run("bootstrap", "--db", str(db), "--username", "admin\x1b[2J") == (2, "")
    assert capsys.readouterr().err == (
        "error: The username is not acceptable: it holds a control character (U+001B).\n"
    )
    assert (_count(db, "users"), _count(db, "applications")) == (0, 0)


def test_users_create_refuses_an_org_without_users(
    org: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    db, _ = org
    unknown = "or-aaaaa-bbbbb-cccccccccccccccc"
    assert _create(db, unknown, "a@example.co") == (2, "")
    assert capsys.readouterr().err == (
        f"error: --org {unknown} is not an org of this store: it has no user\n"
    )
    assert _count(db, "users") == 1


def test_users_create_refuses_an_unknown_permission_and_accepts_the_known(
    org: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    db, org_id = org
    status, _ = _create(db, org_id, "a@example.co", "--permission", "Auth:Users:Updat\x1b[0m")
    assert status == 2
    assert capsys.readouterr().err == (
        "error: --permission 'Auth:Users:Updat\\x1b[0m' is not a known permission"
        " (see docs/permissions.md)\n"
    )
    assert _count(db, "users") == 1
    known = ("Auth:Users:Create", "Auth:Logs:Read", "Auth:Users:Delete", "DfnsFullAdminAccess")
    status, _ = _create(db, org_id, "a@example.co", *(f"--permission={p}" for p in known))
    assert status == 0


def _store_a_record_acted_by(db: Path, username: str) -> None:
    """What an older database may hold: a record whose actor's name breaks today's rule."""
    with SqliteStore(db) as store, store() as uow:
        org = OrgId("or-zzzzz-zzzzz-zzzzzzzzzzzzzzzz")
        draft = attrs.evolve(samples.audit_record(org, None), actor_username=username, evidence=())
        uow.audit.append(chain_record(draft, None))
        uow.commit()


def test_audit_verify_prints_a_stored_hostile_username_escaped(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    assert main(["demo", "--db", str(db)], out=io.StringIO()) == 0
    _store_a_record_acted_by(db, SPOOF)
    shown = cli("audit", "--db", str(db), "--verify").stdout
    assert "\x1b" not in shown
    lines = shown.splitlines()
    assert len(lines) == 5  # two records, two heads, the verdict
    assert lines[-1] == "2 records: verified"
    assert not any(line.startswith(("or-aaaaa", "\\x1b[32m42")) for line in lines)
    escaped = (
        "mallory@example.co\\nor-aaaaa-bbbbb-cccccccccccccccc #2 2026-01-01T12:00:00+00:00"
        " DELETE /auth/users/us-x by admin@example.co (us-aaaaa-bbbbb-cccccccccccccccc)"
        "\\n\\x1b[32m42 records: verified\\x1b[0m\\x1b[8m"
    )
    assert sum(escaped in line for line in lines) == 1


def test_audit_json_escapes_a_stored_hostile_username_and_keeps_it_exact(
    tmp_path: Path,
) -> None:
    db = tmp_path / "a.db"
    hostile = SPOOF + "\u202e\u2028é"
    _store_a_record_acted_by(db, hostile)
    raw = cli("audit", "--db", str(db), "--verify", "--json").stdout
    assert raw.isascii()  # bidi controls and every character beyond ASCII as \u escapes
    assert "\x1b" not in raw and "\\u001b[32m42 records" in raw  # control characters too
    report = cli_json("audit", "--db", str(db), "--verify")
    assert report["ok"] is True
    assert report["records"][0]["actorUsername"] == hostile
