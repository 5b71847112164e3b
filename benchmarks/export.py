"""`export_rss_ratio`: peak resident memory of `archive-core serve` (SQLite) once it has
streamed the audit-log export of 10⁶ records ÷ once it has streamed 10³ (quick: 10⁵ ÷
10²; tiny: 10³ ÷ 10).

Two orgs in one database: a small one, then a large one whose records go out as
consecutive windows of 100,000 rows (the export's cap), all over loopback HTTP, the
client reading each answer in 64 KiB pieces and dropping them. The server reads the
log a page at a time and sends each page as it is read, so its peak (`VmHWM`) should
barely move. Goal: ≤ 1.2.
"""

from __future__ import annotations

import http.client
import json
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.wiring.bootstrap import Deployment, build
from adapters.wiring.operations import bootstrap_org
from archive_core.audit import AuditRecord, sealed_record
from archive_core.entities import CredentialKind, SignedEvidence, TokenKind, UserState
from archive_core.ids import CredentialUuid, OrgId, UserId
from archive_core.use_cases.audit_logs import MAX_EXPORT_ROWS
from benchmarks.rss import serving

__all__ = ["GOAL", "run"]

GOAL = 1.2
T0 = datetime(2026, 1, 1, tzinfo=UTC)
_STEP = timedelta(milliseconds=1)
_EVIDENCE = (
    SignedEvidence(
        credential_uuid=CredentialUuid("cr-bench-0000-export"),
        credential_kind=CredentialKind.KEY,
        cred_id="cred-bench",
        algorithm="EdDSA",
        public_key="-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n",
        client_data="eyJ0eXBlIjoia2V5LmdldCIsImNoYWxsZW5nZSI6ImJlbmNoIn0",
        signature="c2lnbmF0dXJlLW9mLXRoZS1iZW5jaG1hcms",
    ),
)


def _rss_peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def _fill(deployment: Deployment, org: OrgId, actor: UserId, count: int) -> None:
    """`count` records of `org`, a millisecond apart from T0, committed 10,000 at a time."""
    previous: AuditRecord | None = None
    before = UserState(is_active=True, archived_at=None, version=1)
    for start in range(0, count, 10_000):
        with deployment.storage.uow_factory() as uow:
            for i in range(start, min(count, start + 10_000)):
                at = T0 + i * _STEP
                previous = sealed_record(
                    previous,
                    id=f"au-bench-{i:012d}",
                    org_id=org,
                    action=f"DELETE /auth/users/us-bench-{i:012d}",
                    user_action_id=f"ua-bench-{i:012d}",
                    actor_id=actor,
                    actor_username="admin@example.com",
                    actor_kind="CustomerEmployee",
                    token_kind=TokenKind.LOGIN.value,
                    performed_at=at,
                    evidence=_EVIDENCE,
                    permissions_required=("Auth:Users:Update",),
                    permissions_matched=("Auth:Users:Update",),
                    target_id=UserId(f"us-bench-{i:012d}"),
                    target_before=before,
                    target_after=UserState(is_active=False, archived_at=at, version=2),
                    signed_at=at - _STEP,
                )
                uow.audit.append(previous)
            uow.commit()


def _prepare(db: str, small: int, large: int) -> dict[str, str]:
    with build(db_url=db) as deployment:
        tokens = {}
        for name, count in (("small", small), ("large", large)):
            admin, _ = bootstrap_org(deployment)
            _fill(deployment, admin.user.org_id, admin.user.id, count)
            tokens[name] = deployment.bearer_tokens.issue(
                admin.user,
                now=deployment.clock.now(),
                ttl=timedelta(hours=2),
                token_kind=TokenKind.LOGIN,
            )
    return tokens


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H%%3A%M%%3A%S.%fZ")


def _export(port: int, token: str, count: int) -> int:
    """Every record of the token's org, in windows of at most the cap; the rows read."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    rows = 0
    for first in range(0, count, MAX_EXPORT_ROWS):
        start, end = T0 + first * _STEP, T0 + min(count, first + MAX_EXPORT_ROWS) * _STEP
        path = f"/auth/action/logs?startTime={_z(start)}&endTime={_z(end)}"
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"export: {response.status} {response.read()!r}")
        lines = 0
        while piece := response.read(64 * 1024):
            lines += piece.count(b"\n")
        rows += lines - 1  # the header
    connection.close()
    if rows != count:
        raise RuntimeError(f"exported {rows} rows of {count}")
    return rows


def run(*, quick: bool, tiny: bool = False) -> dict[str, Any]:
    """Fill both orgs, start `serve`, export the small one then the large one."""
    small, large = (10, 1_000) if tiny else (100, 100_000) if quick else (1_000, 1_000_000)
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "export.db")
        tokens = _prepare(db, small, large)
        with serving(db) as (process, port):
            _export(port, tokens["small"], small)
            after_small = _rss_peak_kib(process.pid)
            _export(port, tokens["large"], large)
            after_large = _rss_peak_kib(process.pid)
    return {
        "export_rss_ratio": after_large / after_small,
        "figures": {
            "export_rss_peak_small": {"rows": small, "kib": after_small},
            "export_rss_peak_large": {"rows": large, "kib": after_large},
        },
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv, tiny="--tiny" in sys.argv), indent=2))
