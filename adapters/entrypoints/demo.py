"""`archive-core demo`: the whole story over real HTTP on loopback, printed as it happens.

In a fresh SQLite file: bootstrap an org, create an employee and an end user, start the
reference server, archive the end user through init → sign → complete → DELETE, then
show the refusals (a replayed token, a missing permission, another org's user, a forged
signature) and the verified audit trail. Every answer is checked against what the SPEC
says it must be; the demo exits non-zero if one differs.
"""

from __future__ import annotations

import json
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, TextIO

import attrs

from adapters.client.signer import KeySigner, init_body
from adapters.entrypoints.server import BackgroundServer
from adapters.wiring.bootstrap import build
from adapters.wiring.operations import NewUser, bootstrap_org, check_audit, create_user
from archive_core.entities import UserKind

__all__ = ["run_demo"]


def _short(value: str, keep: int = 12) -> str:
    return value if len(value) <= keep + 3 else f"{value[:keep]}…({len(value)} chars)"


@attrs.frozen
class Answer:
    """An HTTP answer: status and JSON body."""

    status: int
    body: dict[str, Any]

    @property
    def message(self) -> str:
        error = self.body.get("error", {})
        return str(error.get("message", "")) if isinstance(error, dict) else ""


class Client:
    """A minimal Dfns-style client over `urllib`, printing every exchange readably."""

    def __init__(self, base_url: str, out: TextIO) -> None:
        self.base_url = base_url
        self.out = out

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str,
        body: dict[str, Any] | None = None,
        user_action: str | None = None,
    ) -> Answer:
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        if user_action is not None:
            headers["X-DFNS-USERACTION"] = user_action
        self.out.write(f"\n  → {method} {path}\n")
        self.out.write(f"    Authorization: Bearer {_short(token)}\n")
        if user_action is not None:
            self.out.write(f"    X-DFNS-USERACTION: {_short(user_action)}\n")
        if body is not None:
            self.out.write(f"    {_render(body)}\n")
        if not self.base_url.startswith("http://127.0.0.1:"):
            raise ValueError("the demo client talks to its own loopback server only")
        request = urllib.request.Request(  # noqa: S310 - http on loopback, checked above
            self.base_url + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback URL we started
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        answer = Answer(status, json.loads(raw))
        self.out.write(f"  ← {status}\n    {_render(answer.body)}\n")
        return answer


def _render(document: dict[str, Any]) -> str:
    def shorten(value: Any) -> Any:
        if isinstance(value, str):
            return _short(value, 24)
        if isinstance(value, dict):
            # messages are shown whole; tokens, challenges and signatures are elided
            return {k: v if k == "message" else shorten(v) for k, v in value.items()}
        if isinstance(value, list):
            return [shorten(v) for v in value]
        return value

    return json.dumps(shorten(document), ensure_ascii=False)


def _user_action(
    client: Client, actor: NewUser, method: str, path: str, *, forge: bool = False
) -> Answer:
    """init → sign (as the official Python SDK's KeySigner does) → complete."""
    if actor.auth_token is None or actor.credential is None or actor.private_key_pem is None:
        raise ValueError("the demo's signers have a token, a credential and a key")
    signer = KeySigner(actor.credential.cred_id, actor.private_key_pem)
    challenge = client.call(
        "POST",
        "/auth/action/init",
        token=actor.auth_token,
        body=json.loads(init_body(method, path)),
    )
    return client.call(
        "POST",
        "/auth/action",
        token=actor.auth_token,
        body={
            "challengeIdentifier": challenge.body["challengeIdentifier"],
            "firstFactor": signer.first_factor(str(challenge.body["challenge"]), forge=forge),
        },
    )


class _Checks:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.failed: list[str] = []

    def expect(self, what: str, answer: Answer, status: int, message: str | None = None) -> None:
        ok = answer.status == status and (message is None or answer.message == message)
        mark = "✓" if ok else "✗"
        said = f" {answer.message!r}" if answer.message else ""
        self.out.write(f"  {mark} {what}: {answer.status}{said}\n")
        if not ok:
            self.failed.append(what)


def _section(out: TextIO, title: str) -> None:
    out.write(f"\n{'=' * 78}\n{title}\n{'=' * 78}\n")


def run_demo(*, db: str | None, out: TextIO) -> int:
    """Run the demo; 0 when every answer was the one the SPEC requires."""
    with tempfile.TemporaryDirectory(prefix="archive-core-demo-") as folder:
        db_path = db or str(Path(folder) / "demo.db")
        return _demo(db_path, out)


def _demo(db_path: str, out: TextIO) -> int:
    checks = _Checks(out)
    with build(db_url=db_path) as deployment:
        _section(out, f"1. A fresh org in {db_path}")
        admin, app_id = bootstrap_org(deployment)
        employee = create_user(
            deployment,
            admin.user.org_id,
            "employee@example.com",
            UserKind.CUSTOMER_EMPLOYEE,
            key_algorithm="p256",
            token=True,
        )
        end_user = create_user(
            deployment, admin.user.org_id, "end.user@example.com", UserKind.END_USER
        )
        stranger_admin, _ = bootstrap_org(deployment)
        stranger = create_user(
            deployment, stranger_admin.user.org_id, "someone@elsewhere.example", UserKind.END_USER
        )
        for label, new in (
            ("admin (DfnsFullAdminAccess, Ed25519 key)", admin),
            ("employee (no permissions, P-256 key)", employee),
            ("end user", end_user),
            ("a user of another org", stranger),
        ):
            out.write(
                f"  {label:<42} {new.user.id}  {new.user.kind.value}  org {new.user.org_id}\n"
            )
        out.write(f"  application {app_id}\n")

        with BackgroundServer(deployment) as server:
            out.write(f"\n  reference server listening on {server.url}\n")
            client = Client(server.url, out)
            if admin.auth_token is None or employee.auth_token is None:
                raise ValueError("bootstrap and create_user(token=True) issue tokens")

            _section(out, "2. The admin archives the end user: init → sign → complete → DELETE")
            path = f"/auth/users/{end_user.user.id}"
            grant = _user_action(client, admin, "DELETE", path)
            checks.expect("user action token issued", grant, 200)
            token = str(grant.body.get("userAction", ""))
            archived = client.call("DELETE", path, token=admin.auth_token, user_action=token)
            checks.expect("user archived", archived, 200)
            if archived.body.get("isActive") is not False:
                checks.failed.append("archived user still active")

            _section(out, "3. Refusals")
            out.write("\n  a) the same user action token, replayed")
            replay = client.call("DELETE", path, token=admin.auth_token, user_action=token)
            checks.expect("replay refused", replay, 400, "user action has already been used")

            out.write("\n  b) an employee without Auth:Users:Update")
            target = f"/auth/users/{admin.user.id}"
            grant = _user_action(client, employee, "DELETE", target)
            denied = client.call(
                "DELETE",
                target,
                token=employee.auth_token,
                user_action=str(grant.body.get("userAction", "")),
            )
            checks.expect(
                "missing permission refused",
                denied,
                403,
                f"CustomerEmployee {employee.user.id} is not authorized to perform operation "
                "(Auth:Users:Update)",
            )

            out.write("\n  c) a user of another org")
            foreign = f"/auth/users/{stranger.user.id}"
            grant = _user_action(client, admin, "DELETE", foreign)
            hidden = client.call(
                "DELETE",
                foreign,
                token=admin.auth_token,
                user_action=str(grant.body.get("userAction", "")),
            )
            checks.expect("another org's user is not found", hidden, 404)

            out.write("\n  d) a forged signature")
            forged = _user_action(
                client, admin, "DELETE", f"/auth/users/{employee.user.id}", forge=True
            )
            checks.expect("forged signature refused", forged, 401)

        _section(out, "4. The audit trail, re-verified")
        audit = check_audit(deployment, admin.user.org_id)
        for record in audit.records:
            [evidence, *_] = record.evidence
            out.write(
                f"  #{record.sequence} {record.performed_at.isoformat()} {record.action}\n"
                f"     by {record.actor_username} ({record.actor_id}), "
                f"signed with {evidence.credential_kind.value} {evidence.credential_uuid}\n"
                f"     permissions {', '.join(record.permissions_matched)}; "
                f"hash {record.hash[:16]}… ← {record.prev_hash[:16]}…\n"
            )
        out.write(
            f"  chain: {'intact' if audit.chain.ok else 'BROKEN'}; "
            f"signatures re-verified: {'all' if not audit.evidence_failures else 'FAILED'}\n"
        )
        if not audit.ok or len(audit.records) != 1:
            checks.failed.append("audit trail")

    _section(out, "Result")
    if checks.failed:
        out.write(f"  ✗ unexpected answers: {', '.join(checks.failed)}\n")
        return 1
    out.write("  ✓ every answer was the one the contract requires\n")
    return 0
