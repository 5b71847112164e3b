"""`archive-core audit ACTION`: the audit log's key, and offline verification of what the
server proves (docs/operations.md, docs/security.md).

    archive-core audit new-log-key --out FILE            a new Ed25519 log key (mode 600)
    archive-core audit log-key --org ORG --log-key-file FILE [--log-name NAME]
                                                         the org's verifier key string
    archive-core audit verify-proof --log-key VKEY PROOF_FILE
    archive-core audit verify-consistency --log-key VKEY OLD_CHECKPOINT PROOF_FILE

The two verifiers need no database and no server: a proof file is what
`GET /auth/action/logs/{id}/proof` answered, a consistency file what
`GET /auth/action/logs/consistency?from=<size>` answered, the old checkpoint what
`GET /auth/action/logs/checkpoint` answered earlier. Each prints one line and exits 0
when the proof holds, and prints the reason and exits 1 when it does not.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from adapters.crypto.ed25519 import CryptographyEd25519Verifier
from adapters.crypto.log_key import checked_log_name, new_log_key, public_key_of
from adapters.entrypoints.escaping import escaped
from archive_core.checkpoints import (
    VerifierKey,
    verify_consistency_bundle,
    verify_inclusion_bundle,
)
from archive_core.ids import is_canonical_id
from archive_core.log_signing import DEFAULT_LOG_NAME, verifier_key
from archive_core.merkle import ProofInvalid

__all__ = ["ACTIONS", "add_log_commands", "run_log_command"]

#: The actions `archive-core audit` takes besides its flags.
ACTIONS = ("new-log-key", "log-key", "verify-proof", "verify-consistency")


def add_log_commands(audit: argparse.ArgumentParser) -> None:
    """The actions of `archive-core audit` on the log key and its proofs."""
    actions = audit.add_subparsers(dest="audit_command", metavar="ACTION")

    def action(name: str, summary: str) -> argparse.ArgumentParser:
        return actions.add_parser(name, help=summary, description=summary[:1].upper() + summary[1:])

    new_key = action("new-log-key", "write a new Ed25519 log key (mode 600)")
    new_key.add_argument("--out", required=True, metavar="FILE", help="never overwritten")
    key = action("log-key", "print an org's verifier key string")
    key.add_argument("--org", required=True, help="the org's id (or-…)")
    key.add_argument(
        "--log-key-file", metavar="FILE", help="the log key (default: $ARCHIVE_CORE_LOG_KEY_FILE)"
    )
    key.add_argument(
        "--log-name",
        help=f"as serve --log-name (default: $ARCHIVE_CORE_LOG_NAME, else {DEFAULT_LOG_NAME})",
    )
    proof = action("verify-proof", "verify a tlog-proof@v1 file offline")
    proof.add_argument("--log-key", required=True, metavar="VKEY", help="the verifier key")
    proof.add_argument("proof_file", metavar="PROOF_FILE")
    consistency = action(
        "verify-consistency", "verify that a log only grew since an old checkpoint"
    )
    consistency.add_argument("--log-key", required=True, metavar="VKEY", help="the verifier key")
    consistency.add_argument("old_checkpoint", metavar="OLD_CHECKPOINT")
    consistency.add_argument("proof_file", metavar="PROOF_FILE")


def _read(name: str) -> str:
    try:
        return Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ProofInvalid("unreadable", f"{name} cannot be read as UTF-8 text") from error


def _record_id(leaf: bytes) -> str:
    try:
        found = json.loads(leaf).get("id")
    except (ValueError, AttributeError):
        return "a record"
    return escaped(found) if isinstance(found, str) else "a record"


def _verify(args: argparse.Namespace) -> str:
    verifier = CryptographyEd25519Verifier()
    key = VerifierKey.parse(args.log_key)
    if args.audit_command == "verify-proof":
        proved = verify_inclusion_bundle(_read(args.proof_file), key=key, verifier=verifier)
        return (
            f"ok: {_record_id(proved.leaf_data)} is leaf {proved.index} of "
            f"{escaped(proved.checkpoint.origin)} at size {proved.checkpoint.size}"
        )
    grown = verify_consistency_bundle(
        _read(args.old_checkpoint), _read(args.proof_file), key=key, verifier=verifier
    )
    return (
        f"ok: {escaped(grown.new.origin)} at size {grown.new.size} extends "
        f"its checkpoint at size {grown.old.size}"
    )


def run_log_command(
    args: argparse.Namespace, out: TextIO, err: TextIO, environ: Mapping[str, str]
) -> int:
    """Run one action: 0 and one line when it worked (or the proof holds); 1 and the
    reason when a proof does not hold; 2 and one line for a bad key file or setting.
    `log-key` reads the key file and log name `serve` reads from `environ` when their
    flags are not given."""
    command = args.audit_command
    if command == "new-log-key":
        public_key = new_log_key(Path(args.out))
        out.write(f"log key written to {escaped(args.out)} (public key {public_key.hex()})\n")
        return 0
    if command == "log-key":
        if not is_canonical_id(args.org, "or"):
            err.write("archive-core: --org must be an org id\n")
            return 2
        key_file = args.log_key_file or environ.get("ARCHIVE_CORE_LOG_KEY_FILE")
        if not key_file:
            err.write("archive-core: log-key needs --log-key-file (or ARCHIVE_CORE_LOG_KEY_FILE)\n")
            return 2
        name = checked_log_name(
            args.log_name or environ.get("ARCHIVE_CORE_LOG_NAME") or DEFAULT_LOG_NAME
        )
        out.write(f"{verifier_key(name, args.org, public_key_of(Path(key_file)))}\n")
        return 0
    try:
        out.write(_verify(args) + "\n")
    except ProofInvalid as failed:
        out.write(f"fails: {failed.reason}: {escaped(str(failed))}\n")
        return 1
    return 0
