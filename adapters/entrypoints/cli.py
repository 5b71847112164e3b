"""`archive-core`: the command line of the reference deployment.

    archive-core demo                       the whole story over real HTTP (start here)
    archive-core serve [--db URL] ...       the reference server on uvicorn
    archive-core bootstrap [--db URL]       a new org with an admin, a key and a token
    archive-core users create --org ORG ... a user, optionally with permissions, key, token
    archive-core users list --org ORG       the org's users not archived (every page)
    archive-core credentials add --user ... register a credential from a PEM public key
    archive-core audit [--verify]           the audit trail, re-verified
    archive-core audit ACTION ...           the log key, proofs verified offline
    archive-core purge                      forget expired challenges, nonces and grants

Readable output by default, `--json` for scripts. `--db` takes a SQLite path (default
`./archive-core.db`), a `postgresql://` URL or a libpq keyword string (`host=db
dbname=app`). A refused command line, a bad variable, a store that cannot be opened, a
URL that cannot be used, a port already in use: any command ends with one line on
stderr and exit status 2, never a traceback and never a password:
`archive-core: cannot reach PostgreSQL at postgres@db:5432/app: <the driver's cause>`;
`archive-core --debug COMMAND` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NoReturn, TextIO

import attrs

from adapters.entrypoints.environment import (
    SERVE_VARIABLES,
    WORKERS_PER_CPU,
    EnvironmentDefaults,
    max_workers,
    port,
    seconds,
    workers,
)
from adapters.entrypoints.escaping import escaped
from adapters.entrypoints.listening import CannotListen
from adapters.entrypoints.log_tools import add_log_commands, run_log_command
from adapters.entrypoints.progress import Progress
from adapters.entrypoints.references import load_operation, operation_reference
from adapters.observability.logs import FORMATS, LEVELS
from adapters.storage.urls import StorageStartError
from adapters.transport.cors import parse_origin
from adapters.wiring.bootstrap import Deployment, build
from adapters.wiring.operations import (
    KEY_CHOICES,
    OperatorError,
    add_credential,
    bootstrap_org,
    check_audit,
    create_user,
    walk_users,
)
from archive_core.config import Policy
from archive_core.entities import CredentialKind, UserKind
from archive_core.errors import ArchiveCoreError
from archive_core.ids import OrgId, is_canonical_id
from archive_core.log_signing import DEFAULT_LOG_NAME
from archive_core.operations import PRESETS
from archive_core.wire import user_to_wire

__all__ = ["main"]

DEFAULT_DB = "./archive-core.db"


class _Parser(argparse.ArgumentParser):
    """argparse, reporting a refused command line on one line (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        """`archive-core serve: argument --port: must be … (see --help)`, status 2."""
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _command(commands: argparse._SubParsersAction[_Parser], name: str, summary: str) -> _Parser:
    """A subcommand whose one-line summary is both its entry in the parent's list and the
    description its own `--help` starts with."""
    return commands.add_parser(name, help=summary, description=summary[:1].upper() + summary[1:])


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """`parser` and every subcommand's parser under it, depth first."""
    yield parser
    for action in parser._actions:  # argparse lists its actions only here
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                yield from _parsers(command)


def _show_defaults(parser: argparse.ArgumentParser) -> None:
    """End each option's help with its default, where it has one and the help does not
    already say it (a switch is off, a repeatable option empty, unless given)."""
    for action in parser._actions:
        default = action.default
        if default in (None, False, [], argparse.SUPPRESS) or "default" in (action.help or ""):
            continue
        action.help = f"{action.help} (default {default})"


#: `--origin`'s default, as `serve --help` and the docs state it.
DEFAULT_ORIGINS = ", ".join(sorted(Policy().webauthn_origins))


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="archive-core", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of a start-up failure instead of one line",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def db(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--db",
            default=DEFAULT_DB,
            help="the store: a SQLite path (a new file is made), a postgresql:// URL or "
            "libpq keywords",
        )

    def as_json(command: argparse.ArgumentParser) -> None:
        command.add_argument("--json", action="store_true", help="machine-readable output")

    serve = _command(commands, "serve", "run the reference server")
    db(serve)
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (:: for IPv6, 0.0.0.0 for all)"
    )
    serve.add_argument("--port", type=port, default=8000, help="port to listen on (0: a free one)")
    serve.add_argument(
        "--redis",
        help="redis:// URL for challenges and nonces (several servers; default none: the store)",
    )
    serve.add_argument("--require-app-id", action="store_true", help="X-DFNS-APPID required")
    serve.add_argument("--require-nonce", action="store_true", help="X-DFNS-NONCE required")
    serve.add_argument(
        "--origin",
        action="append",
        default=[],
        help=f"allowed passkey (WebAuthn) origin (repeatable; default {DEFAULT_ORIGINS})",
    )
    serve.add_argument(
        "--key-origin",
        action="append",
        default=[],
        help="allowed clientData origin of Key kinds (repeatable; default none: unchecked)",
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        type=parse_origin,
        default=[],
        help="browser origin allowed to call the API cross-origin "
        "(repeatable; default none: CORS off)",
    )
    serve.add_argument(
        "--matrix", choices=sorted(PRESETS), default="dfns", help="permission matrix preset"
    )
    serve.add_argument("--rp-id", default="localhost", help="WebAuthn relying party id")
    serve.add_argument(
        "--workers",
        type=workers,
        default=1,
        help=f"worker processes on the one port, 1 to {max_workers()} ({WORKERS_PER_CPU} per CPU)",
    )
    serve.add_argument(
        "--metrics-port", type=port, help="port of the Prometheus /metrics listener (default off)"
    )
    serve.add_argument("--metrics-host", default="127.0.0.1", help="the metrics listener's host")
    serve.add_argument("--log-format", choices=FORMATS, default="text", help="text or JSON lines")
    serve.add_argument("--log-level", choices=LEVELS, default="warning", help="info: every request")
    serve.add_argument(
        "--operation",
        action="append",
        type=operation_reference,
        default=[],
        metavar="MODULE:NAME",
        help="an archive_core.Declaration of one's own to serve beside the library's "
        "operations, as in myproject.operations:RENAME_USER (repeatable; default none)",
    )
    serve.add_argument(
        "--commit-timeout",
        type=seconds,
        metavar="SECONDS",
        help=(
            "PostgreSQL: how long a commit may wait for a synchronous standby before it is "
            "answered 503, not acknowledged (default 5)"
        ),
    )
    serve.add_argument(
        "--log-key-file",
        metavar="FILE",
        help=(
            "the audit log's Ed25519 key (PEM, mode 600), outside the database: signs "
            "checkpoints (archive-core audit new-log-key; default none: checkpoints answer 503)"
        ),
    )
    serve.add_argument(
        "--log-name",
        default=DEFAULT_LOG_NAME,
        help="the audit log's schemeless name: each org's origin is <name>/<orgId>",
    )

    boot = _command(commands, "bootstrap", "a new org with an admin, a key and a token")
    db(boot)
    boot.add_argument(
        "--key-algorithm",
        choices=KEY_CHOICES,
        default="ed25519",
        help="algorithm of the admin's Key credential",
    )
    boot.add_argument("--username", help="the admin's username (default admin.<org>@example.com)")
    as_json(boot)

    users = _command(commands, "users", "manage users")
    user_commands = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    create = _command(user_commands, "create", "create a user")
    create.add_argument("--org", required=True, help="the org's id (or-…)")
    create.add_argument("--username", required=True, help="the new user's username")
    create.add_argument(
        "--kind", required=True, choices=[k.value for k in UserKind], help="the user's kind"
    )
    create.add_argument(
        "--permission",
        action="append",
        default=[],
        metavar="OP",
        help=(
            "a permission to grant (repeatable), one of the known permissions of "
            "docs/permissions.md; DfnsFullAdminAccess grants everything (default none)"
        ),
    )
    create.add_argument(
        "--key-algorithm",
        choices=KEY_CHOICES,
        help="register a Key credential of this algorithm (default none: no credential)",
    )
    create.add_argument("--token", action="store_true", help="also issue a bearer token")
    db(create)
    as_json(create)
    listing = _command(user_commands, "list", "list the org's users not archived, every page")
    listing.add_argument("--org", required=True, help="the org's id (or-…)")
    listing.add_argument(
        "--kind",
        action="append",
        default=[],
        choices=[k.value for k in UserKind],
        help="only users of this kind (repeatable; default every kind)",
    )
    db(listing)
    as_json(listing)

    credentials = _command(commands, "credentials", "manage credentials")
    credential_commands = credentials.add_subparsers(
        dest="credentials_command", required=True, metavar="ACTION"
    )
    add = _command(credential_commands, "add", "register a credential from a PEM key")
    add.add_argument("--user", required=True, help="the user's id (us-…)")
    add.add_argument(
        "--kind",
        required=True,
        choices=[k.value for k in CredentialKind],
        help="Fido2 stores the COSE form derived from the PEM key",
    )
    add.add_argument(
        "--public-key-file", required=True, help="SubjectPublicKeyInfo PEM (PKCS#1 for RSA)"
    )
    add.add_argument("--cred-id", required=True, help="the credId clients will send")
    add.add_argument(
        "--encrypted-private-key",
        help="opaque blob offered to password-protected-key signers (default none)",
    )
    db(add)
    as_json(add)

    audit = _command(commands, "audit", "show (and re-verify) the audit trail")
    db(audit)
    audit.add_argument("--org", help="one org only (default every org)")
    audit.add_argument("--verify", action="store_true", help="re-check chain and signatures")
    as_json(audit)
    add_log_commands(audit)

    purge = _command(commands, "purge", "forget expired challenges, nonces and grants")
    db(purge)
    purge.add_argument(
        "--redis", help="redis:// URL for challenges and nonces (default none: the store)"
    )
    as_json(purge)

    demo = _command(commands, "demo", "the whole flow over real HTTP, explained")
    demo.add_argument("--db", help="SQLite path (default: a fresh temporary file)")
    for command in _parsers(parser):
        _show_defaults(command)
    # after the defaults are in the help: the binding replaces them with None
    serve.set_defaults(environment=EnvironmentDefaults(serve, SERVE_VARIABLES))
    return parser


def _print_json(document: Any, out: TextIO) -> None:
    # ensure_ascii (the default, said here on purpose): control characters and everything
    # beyond ASCII, bidi controls included, are written as \u escapes.
    out.write(json.dumps(document, indent=2, ensure_ascii=True) + "\n")


def _refuse(message: str) -> int:
    """One line on stderr, exit status 2. `message` is one line safe to print: the
    catalogue's, or an `OperatorError`'s (which shows input by its `repr`)."""
    sys.stderr.write(f"error: {message}\n")
    return 2


def _serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from adapters.entrypoints.serving import ServeSettings, serve  # noqa: PLC0415 - uvicorn only here

    for reference in args.operation:  # a bad one: one line, before any port is taken
        load_operation(reference)
    if args.metrics_port is not None and importlib.util.find_spec("prometheus_client") is None:
        err.write(
            "archive-core: --metrics-port needs prometheus-client: "
            "pip install 'archive-core[metrics]'\n"
        )
        return 2
    # Two allow-lists: passkey origins never constrain key signers (SPEC §3).
    policy = Policy(
        require_app_id=args.require_app_id,
        require_nonce=args.require_nonce,
        rp_id=args.rp_id,
        key_origins=frozenset(args.key_origin),
        webauthn_origins=frozenset(args.origin) or Policy().webauthn_origins,
        matrix=args.matrix,  # a preset by its name: each declaration brings its row
    )
    settings = ServeSettings(
        db_url=args.db,
        replay_url=args.redis,
        policy=policy,
        host=args.host,
        port=args.port,
        workers=args.workers,
        metrics_host=args.metrics_host,
        metrics_port=args.metrics_port,
        log_format=args.log_format,
        log_level=args.log_level,
        cors_origins=frozenset(args.cors_origin),
        commit_timeout=args.commit_timeout,
        log_key_file=args.log_key_file,
        log_name=args.log_name,
        operations=tuple(args.operation),
    )
    settings.log_signer()  # a key file or log name that cannot be used: one line, now
    status = serve(settings, out, err)
    if status == 0:
        out.write("archive-core stopped\n")
    return status


def _bootstrap(args: argparse.Namespace, deployment: Deployment, out: TextIO) -> int:
    try:
        admin, app_id = bootstrap_org(
            deployment, key_algorithm=args.key_algorithm, username=args.username
        )
    except ArchiveCoreError as exc:  # the username rule
        return _refuse(exc.message)
    document = {"appId": app_id, **admin.to_json()}
    document.pop("kind")
    if args.json:
        _print_json(document, out)
        return 0
    user = admin.user
    out.write(
        f"org         {escaped(user.org_id)}\n"
        f"application {escaped(app_id)}\n"
        f"admin       {escaped(user.id)} ({escaped(user.username)}), DfnsFullAdminAccess\n"
        f"credential  {escaped(document['credId'])} ({args.key_algorithm})\n"
        f"token       {admin.auth_token}\n\n{admin.private_key_pem}"
    )
    return 0


def _users_create(args: argparse.Namespace, deployment: Deployment, out: TextIO) -> int:
    if not is_canonical_id(args.org, "or"):
        out.write("error: --org must be an org id like or-xxxxx-xxxxx-xxxxxxxxxxxxxxxx\n")
        return 2
    try:
        new = create_user(
            deployment,
            OrgId(args.org),
            args.username,
            UserKind(args.kind),
            operations=args.permission,
            key_algorithm=args.key_algorithm,
            token=args.token,
        )
    except OperatorError as exc:  # an unknown org or permission
        return _refuse(str(exc))
    except ArchiveCoreError as exc:  # the username rule, or the name is taken
        return _refuse(exc.message)
    if args.json:
        _print_json(new.to_json(), out)
        return 0
    user = new.user
    out.write(
        f"user {escaped(user.id)} ({escaped(user.username)}, {user.kind.value})"
        f" in {escaped(user.org_id)}\n"
    )
    if new.credential is not None:
        out.write(f"credential {escaped(new.credential.cred_id)}\n\n{new.private_key_pem}\n")
    if new.auth_token is not None:
        out.write(f"token {new.auth_token}\n")
    return 0


def _users_list(args: argparse.Namespace, deployment: Deployment, out: TextIO) -> int:
    """Every page of the org's users: one line each, or (`--json`) a JSON array of the
    users as the API answers them, written as the pages are read."""
    if not is_canonical_id(args.org, "or"):
        out.write("error: --org must be an org id like or-xxxxx-xxxxx-xxxxxxxxxxxxxxxx\n")
        return 2
    walked = walk_users(deployment, OrgId(args.org), [UserKind(k) for k in args.kind])
    if args.json:
        out.write("[")
        for n, (user, grants) in enumerate(walked):
            wire = json.dumps(user_to_wire(user, grants.assignments), ensure_ascii=True)
            out.write(("\n  " if n == 0 else ",\n  ") + wire)
        out.write("\n]\n")
        return 0
    for user, _grants in walked:
        state = "active" if user.is_active else "inactive"
        out.write(
            f"{escaped(user.id)}  {user.kind.value:<16} {state:<8} {escaped(user.username)}\n"
        )
    return 0


def _credentials_add(args: argparse.Namespace, deployment: Deployment, out: TextIO) -> int:
    if not is_canonical_id(args.user, "us"):
        out.write("error: --user must be a user id like us-xxxxx-xxxxx-xxxxxxxxxxxxxxxx\n")
        return 2
    try:
        with open(args.public_key_file, encoding="ascii") as file:
            pem = file.read(64 * 1024)
    except (OSError, UnicodeDecodeError):
        out.write("error: --public-key-file cannot be read as a PEM file\n")
        return 2
    try:
        credential = add_credential(
            deployment,
            args.user,
            CredentialKind(args.kind),
            pem,
            args.cred_id,
            encrypted_private_key=args.encrypted_private_key,
        )
    except OperatorError as exc:
        out.write(f"error: {exc}\n")
        return 2
    except ArchiveCoreError as exc:
        out.write(f"error: {exc.message} ({exc.reason})\n")
        return 2
    document = {
        "credId": credential.cred_id,
        "credentialUuid": credential.uuid,
        "kind": credential.kind.value,
        "algorithm": credential.algorithm,
    }
    if args.json:
        _print_json(document, out)
    else:
        out.write(
            f"credential {escaped(credential.cred_id)} ({credential.kind.value}, "
            f"{escaped(credential.algorithm)}) {escaped(credential.uuid)} for {args.user}\n"
        )
    return 0


def _audit(
    args: argparse.Namespace, deployment: Deployment, out: TextIO, progress: Progress
) -> int:
    if args.org is not None and not is_canonical_id(args.org, "or"):
        out.write("error: --org must be an org id\n")
        return 2
    progress.update("reading the audit trail", 0, force=True)
    check = check_audit(
        deployment,
        OrgId(args.org) if args.org else None,
        on_record=lambda done, total: progress.update(
            "re-verifying", done, total, force=done == total
        ),
        on_tree=lambda done, total: progress.update(
            "checking the Merkle trees", done, total, force=done == total
        ),
    )
    progress.done()
    if args.json:
        document: Any = [r.to_dict() for r in check.records]
        if args.verify:
            document = {
                "records": document,
                "ok": check.ok,
                "heads": dict(check.chain.heads),
                "chainBreaks": [attrs.asdict(b) for b in check.chain.breaks],
                "evidenceFailures": [
                    {"recordId": r, "reason": why} for r, why in check.evidence_failures
                ],
                "treeBreaks": [attrs.asdict(b) for b in check.tree_breaks],
            }
        _print_json(document, out)
    else:
        for record in check.records:
            out.write(
                f"{escaped(record.org_id)} #{record.sequence} {record.performed_at.isoformat()} "
                f"{escaped(record.action)} by {escaped(record.actor_username)}"
                f" ({escaped(record.actor_id)})\n"
            )
        if args.verify:
            for broken in check.chain.breaks:
                out.write(
                    f"BROKEN chain {escaped(broken.org_id)} at #{broken.sequence}:"
                    f" {escaped(broken.reason)}\n"
                )
            for record_id, reason in check.evidence_failures:
                out.write(f"BROKEN evidence of {escaped(record_id)}: {escaped(reason)}\n")
            for tree in check.tree_breaks:
                out.write(
                    f"BROKEN tree {escaped(tree.org_id)} at level {tree.level} index"
                    f" {tree.index}: {escaped(tree.reason)}\n"
                )
            for org_id, head in sorted(check.chain.heads.items()):
                out.write(f"head {escaped(org_id)} {escaped(head)}\n")
            verdict = "verified" if check.ok else "VERIFICATION FAILED"
            out.write(f"{len(check.records)} records: {verdict}\n")
    return 0 if (check.ok or not args.verify) else 1


def _purge(args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    with build(db_url=args.db, replay_url=args.redis) as deployment:
        # Three stores, each purged by one statement: progress is per store.
        progress.update("purging", 0, 3, force=True)
        forgotten: list[str] = []

        def step(store: str, count: int) -> None:
            forgotten.append(f"{store}={count:,}")
            progress.update("purging " + " ".join(forgotten), len(forgotten), 3, force=True)

        report = deployment.purge(on_step=step)
        progress.done()
    document = {
        "challenges": report.challenges,
        "nonces": report.nonces,
        "userActions": report.user_actions,
    }
    if args.json:
        _print_json(document, out)
    else:
        out.write(" ".join(f"{k}={v}" for k, v in document.items()) + " purged\n")
    return 0


def _run(
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    environ: Mapping[str, str],
) -> int:
    progress = Progress(err, enabled=not getattr(args, "json", False) and err.isatty())
    if args.command == "serve":
        args.environment.resolve(args, environ)
        return _serve(args, out, err)
    if args.command == "demo":
        from adapters.entrypoints.demo import run_demo  # noqa: PLC0415 - the demo's imports only here

        return run_demo(db=args.db, out=out)
    if args.command == "purge":
        return _purge(args, out, progress)
    if args.command == "audit" and args.audit_command is not None:
        return run_log_command(args, out, err, environ)
    with build(db_url=args.db) as deployment:
        if args.command == "bootstrap":
            return _bootstrap(args, deployment, out)
        if args.command == "users":
            if args.users_command == "list":
                return _users_list(args, deployment, out)
            return _users_create(args, deployment, out)
        if args.command == "credentials":
            return _credentials_add(args, deployment, out)
        return _audit(args, deployment, out, progress)


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run one command; the exit status (0 on success). `environ` (default `os.environ`)
    supplies `serve`'s variables; progress of long work goes to `err` (default stderr)
    when it is a terminal and `--json` is not given; so does a failure, on one line."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(argv)
    try:
        return _run(args, out, err, os.environ if environ is None else environ)
    except ArchiveCoreError as exc:
        out.write(f"error: {exc.message}\n")
        return 2
    except (StorageStartError, CannotListen, ValueError) as exc:
        # A variable, a URL or a setting that cannot be used, a store that cannot be
        # opened, a port in use: one line for the operator, whose text never holds a
        # password (the store's address is shown without it).
        if args.debug:
            raise
        err.write(f"archive-core: {exc}\n")
        return 2
    except Exception as exc:
        # Anything else is a fault of ours; its text might quote a setting: the type only.
        if args.debug:
            raise
        err.write(
            f"archive-core: unexpected {type(exc).__name__} "
            "(archive-core --debug shows the traceback)\n"
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
