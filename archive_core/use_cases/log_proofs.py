"""The audit log proves to outsiders that it only grows (SPEC §1.6, beyond Dfns).

Three reads, each needing a bearer token and `Auth:Logs:Read`:

- `GET /auth/action/logs/checkpoint`: the org's latest signed checkpoint (`text/plain`);
- `GET /auth/action/logs/{id}/proof`: a C2SP `tlog-proof@v1` bundle: the record's leaf
  data (`extra`), its index (sequence - 1), its inclusion path, then that checkpoint;
- `GET /auth/action/logs/consistency?from=<size>`: the RFC 9162 §2.1.4 path from that
  size to the latest checkpoint, one base64 hash a line, a blank line, the checkpoint
  (`from` equal to the size: no hashes; 0, above the size or malformed: 400).

Each reads the org's tree size and the O(log n) stored subtrees it needs in one reading
unit of work, and has the checkpoint signed by the log key (`CheckpointSigner`), which
refuses (503) a tree that does not extend the last one it signed. A tree that does not
match the records (a subtree or a leaf missing) is a 503 too, and logged.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Final, Self

import attrs

from archive_core import merkle
from archive_core.audit import leaf_data
from archive_core.checkpoints import (
    Checkpoint,
    ConsistencyBundle,
    InclusionBundle,
    format_consistency_bundle,
    format_inclusion_bundle,
    origin,
)
from archive_core.declarations import Declaration, Wiring
from archive_core.errors import ArchiveCoreError, Catalogue
from archive_core.fields import Field, Query
from archive_core.ids import OrgId
from archive_core.log_signing import CheckpointSigner, SigningRefused
from archive_core.ports import UnitOfWork
from archive_core.requests import Answer, Request
from archive_core.use_cases.audit_logs import log_read, record_of
from archive_core.use_cases.reading import Read, ReadAccess

__all__ = [
    "GET_CHECKPOINT",
    "GET_CONSISTENCY_PROOF",
    "GET_INCLUSION_PROOF",
    "GetCheckpoint",
    "GetConsistencyProof",
    "GetInclusionProof",
    "LogRead",
    "SignedTree",
    "signed_tree",
]

_log: Final = logging.getLogger("archive_core.audit_log")


@attrs.frozen
class SignedTree:
    """An org's tree as the log key signed it: its size, the signed note, and a reader
    of its stored subtrees (in the unit of work it was read in)."""

    size: int
    note: str
    read: merkle.SubtreesReader


def _damaged(org_id: OrgId, what: str) -> ArchiveCoreError:
    _log.error("the audit log's tree of %s does not match its records: %s", org_id, what)
    return ArchiveCoreError(Catalogue.LOG_TREE_DAMAGED, reason="tree_damaged")


def signed_tree(uow: UnitOfWork, org_id: OrgId, signer: CheckpointSigner | None) -> SignedTree:
    """The org's current tree, its checkpoint signed (503 when there is no log key, when
    the tree is damaged, or when the signer refuses it)."""
    if signer is None:
        raise ArchiveCoreError(Catalogue.LOG_UNSIGNED, reason="no_log_key")
    read = functools.partial(uow.audit.subtrees, org_id)
    size = uow.audit.tree_size(org_id)
    try:
        root = merkle.root_from_subtrees(read(merkle.root_subtrees(size)))
    except KeyError as missing:
        raise _damaged(org_id, f"a subtree of its root is missing ({missing})") from missing

    def proof_from(old_size: int) -> tuple[bytes, ...]:
        reader = merkle.prefetched(merkle.consistency_subtrees(old_size, size), read)
        return merkle.consistency_path(old_size, size, reader)

    checkpoint = Checkpoint(origin(signer.log_name, org_id), size, root)
    try:
        note = signer.sign(checkpoint, proof_from=proof_from)
    except SigningRefused as refused:
        raise ArchiveCoreError(Catalogue.LOG_SIGNING_REFUSED, reason=refused.reason) from refused
    return SignedTree(size, note, read)


@attrs.frozen(kw_only=True)
class LogRead(Read):
    """What the three reads share: their access, and the log key (None: not configured)."""

    signer: CheckpointSigner | None

    @classmethod
    def wired(cls, wiring: Wiring, declaration: Declaration[Any]) -> Self:
        """The use case of `declaration`, built from a deployment's wiring."""
        return cls(access=ReadAccess.wired(wiring, declaration), signer=wiring.log_signer)


@attrs.frozen(kw_only=True)
class GetCheckpoint(LogRead):
    """Headers → authentication → permission → the signed tree: its note."""

    def __call__(self, request: Request) -> Answer:
        """Answer `GET /auth/action/logs/checkpoint`."""
        with self.access.admitted(request) as (uow, principal, _values):
            tree = signed_tree(uow, principal.user.org_id, self.signer)
        return Answer.plain(tree.note)


@attrs.frozen(kw_only=True)
class GetInclusionProof(LogRead):
    """Headers → authentication → permission → id syntax → the record in the caller's
    org → the signed tree → the record's inclusion path."""

    def __call__(self, request: Request) -> Answer:
        """Answer `GET /auth/action/logs/{id}/proof`."""
        with self.access.admitted(request) as (uow, principal, _values):
            org_id = principal.user.org_id
            record = record_of(uow, principal, request)
            tree = signed_tree(uow, org_id, self.signer)
            index = record.sequence - 1
            if index >= tree.size:
                raise _damaged(org_id, f"record {record.sequence} is past the tree's leaves")
            path = merkle.inclusion_path(index, tree.size, _reader(tree, org_id, index))
        bundle = InclusionBundle(leaf_data(record), index, path, tree.note)
        return Answer.plain(format_inclusion_bundle(bundle))


@attrs.frozen(kw_only=True)
class GetConsistencyProof(LogRead):
    """Headers → authentication → permission → `from` → the signed tree → the path from
    `from` to its size (400 when `from` is above it)."""

    def __call__(self, request: Request) -> Answer:
        """Answer `GET /auth/action/logs/consistency?from=<size>`."""
        with self.access.admitted(request) as (uow, principal, values):
            org_id = principal.user.org_id
            tree = signed_tree(uow, org_id, self.signer)
            old_size = values["from"]
            if old_size > tree.size:
                raise ArchiveCoreError(
                    Catalogue.LOG_SIZE_INVALID,
                    message=(
                        f"The query is invalid: from must not be above the tree size ({tree.size})."
                    ),
                    reason="size_above_tree",
                )
            path = merkle.consistency_path(
                old_size, tree.size, _reader(tree, org_id, None, old_size)
            )
        return Answer.plain(format_consistency_bundle(ConsistencyBundle(path, tree.note)))


def _reader(
    tree: SignedTree, org_id: OrgId, index: int | None, old_size: int = 0
) -> merkle.SubtreeReader:
    """The subtrees of leaf `index`'s inclusion path (None: of the consistency path from
    `old_size`), read at once (a missing one: the tree is damaged)."""
    positions = (
        merkle.consistency_subtrees(old_size, tree.size)
        if index is None
        else merkle.inclusion_subtrees(index, tree.size)
    )
    try:
        return merkle.prefetched(positions, tree.read)
    except KeyError as missing:
        raise _damaged(org_id, f"a subtree of a proof is missing ({missing})") from missing


GET_CHECKPOINT: Final = log_read(
    GetCheckpoint.wired,
    name="GetAuditLogCheckpoint",
    path="/auth/action/logs/checkpoint",
    summary="The org's latest signed checkpoint of its audit log (needs Auth:Logs:Read).",
    description=(
        "A C2SP tlog-checkpoint (origin `<log name>/<orgId>`, tree size, base64 root) in "
        "a C2SP signed-note, signed with the log key (Ed25519); verify it with the "
        "org's verifier key (`archive-core audit log-key --org`)."
    ),
    media_type="text/plain",
    answer_description="The signed note.",
)

GET_INCLUSION_PROOF: Final = log_read(
    GetInclusionProof.wired,
    name="GetAuditLogProof",
    path="/auth/action/logs/{id}/proof",
    summary="Proof that a record is in the org's signed audit log (needs Auth:Logs:Read).",
    description=(
        "A C2SP tlog-proof@v1: `extra` (the record's leaf data, base64: the canonical "
        "JSON its hash covers), `index` (its sequence - 1), the RFC 9162 inclusion path, "
        "a blank line, the signed checkpoint (`archive-core audit verify-proof`)."
    ),
    media_type="text/plain",
    answer_description="The tlog-proof@v1 bundle.",
)

GET_CONSISTENCY_PROOF: Final = log_read(
    GetConsistencyProof.wired,
    name="GetAuditLogConsistency",
    path="/auth/action/logs/consistency",
    summary="Proof that the org's audit log only grew since a size (needs Auth:Logs:Read).",
    description=(
        "The RFC 9162 §2.1.4 consistency path from `from` to the latest checkpoint, one "
        "base64 hash a line, a blank line, that checkpoint (`from` equal to its size: no "
        "hashes); `archive-core audit verify-consistency`."
    ),
    query=Query(
        (
            Field(
                name="from",
                type="integer",
                required=True,
                minimum=1,
                expectation="must be a tree size of at least 1",
                description="The size of the older checkpoint.",
            ),
        )
    ),
    media_type="text/plain",
    answer_description="The consistency path and the checkpoint.",
)
