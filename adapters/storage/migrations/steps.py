"""The Python steps of migrations: what SQL cannot compute, run after the SQL of the
migration of the same name, in its transaction (`STEPS`, by migration name).

A step speaks through `StepConnection`, with `?` parameters whatever the database.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

import attrs

from archive_core import merkle
from archive_core.audit import AuditRecord, leaf_data
from archive_core.usernames import username_key

__all__ = [
    "STEPS",
    "Rename",
    "StepConnection",
    "UserRow",
    "audit_tree",
    "plan_renames",
    "username_keys",
]

log: Final = logging.getLogger("archive_core.storage")
#: How many renamed users the warning names (the table `username_renames` has them all).
_NAMED_IN_LOG: Final = 20


class StepConnection(Protocol):
    """The migration's connection, inside its transaction; `?` marks a parameter."""

    def rows(self, sql: str, params: Sequence[Any] = (), /) -> list[Any]:
        """The rows of one read."""
        ...

    def run_many(self, sql: str, params: Sequence[tuple[Any, ...]], /) -> None:
        """One write, once per tuple of parameters."""
        ...


@attrs.frozen
class Rename:
    """A user the migration renamed: its name was already held in its org."""

    user_id: str
    org_id: str
    old_username: str
    new_username: str


@attrs.frozen
class UserRow:
    """What renaming needs of a stored user."""

    id: str
    org_id: str
    username: str
    is_active: bool
    is_archived: bool


def plan_renames(rows: Sequence[UserRow]) -> list[Rename]:
    """Who is renamed so that usernames are unique per org among users not archived.

    Of the users not archived sharing a name (compared by `username_key`) in an org, the
    first by (active before deactivated, then user id) keeps it — users carry no creation
    time — and each other becomes `<name> (<its user id>)` (then ` 2`, ` 3`, … in the
    unlikely case that name is held too). Archived users are never renamed. The renames
    come by org, then user id.
    """
    holders: dict[tuple[str, str], str] = {}
    later: list[UserRow] = []
    for row in sorted(rows, key=lambda r: (not r.is_active, r.id)):
        if row.is_archived:
            continue
        name = (row.org_id, username_key(row.username))
        if name in holders:
            later.append(row)
        else:
            holders[name] = row.id
    renames = []
    for row in later:
        new = base = f"{row.username} ({row.id})"
        suffix = 1
        while (row.org_id, username_key(new)) in holders:
            suffix += 1
            new = f"{base} {suffix}"
        holders[row.org_id, username_key(new)] = row.id
        renames.append(Rename(row.id, row.org_id, row.username, new))
    return sorted(renames, key=lambda r: (r.org_id, r.user_id))


def username_keys(db: StepConnection) -> None:
    """Migration `username_keys`: every user's `username_key`, the later duplicates of a
    name renamed first (`plan_renames`), each rename recorded in `username_renames` and
    named in a warning of the `archive_core.storage` logger."""
    rows = [
        UserRow(str(id), str(org), str(name), bool(active), bool(archived))
        for id, org, name, active, archived in db.rows(
            "SELECT id, org_id, username, is_active, archived_at IS NOT NULL FROM users"
        )
    ]
    renames = plan_renames(rows)
    renamed = {r.user_id: r.new_username for r in renames}
    db.run_many(
        "UPDATE users SET username = ?, username_key = ?, version = version + 1 WHERE id = ?",
        [(r.new_username, username_key(r.new_username), r.user_id) for r in renames],
    )
    db.run_many(
        "UPDATE users SET username_key = ? WHERE id = ?",
        [(username_key(row.username), row.id) for row in rows if row.id not in renamed],
    )
    db.run_many(
        "INSERT INTO username_renames (user_id, org_id, old_username, new_username)"
        " VALUES (?, ?, ?, ?)",
        [(r.user_id, r.org_id, r.old_username, r.new_username) for r in renames],
    )
    if renames:
        named = ", ".join(r.user_id for r in renames[:_NAMED_IN_LOG])
        more = "" if len(renames) <= _NAMED_IN_LOG else f" and {len(renames) - _NAMED_IN_LOG} more"
        log.warning(
            "usernames are unique per org from now on: renamed to '<name> (<user id>)' "
            "(table username_renames keeps every old name), %d %s whose name another user "
            "of the org already had: %s%s",
            len(renames),
            "user" if len(renames) == 1 else "users",
            named,
            more,
        )


#: Records read, and tree rows written, at a time by `audit_tree`.
TREE_BATCH: Final = 2000


def _newest_of(newest: dict[int, bytes]) -> merkle.SubtreeReader:
    """A reader of the newest subtree of each level: the left sibling a leaf appended
    next reads at that level."""
    return lambda level, _: newest[level]


def audit_tree(db: StepConnection) -> None:
    """Migration `audit_tree`: each org's Merkle tree over the records already stored,
    as `AuditLog.append` would have written it (the leaf of the record of sequence s, at
    index s - 1, is `audit.leaf_data`, the canonical JSON its hash covers). Records are
    read a batch at a time in sequence order and only the newest subtree of each level
    is kept in memory (the only one a later leaf reads: `merkle.append_reads`)."""
    for (org_id,) in db.rows("SELECT DISTINCT org_id FROM audit ORDER BY org_id"):
        newest: dict[int, bytes] = {}
        after = 0
        while batch := db.rows(
            "SELECT sequence, record FROM audit WHERE org_id = ? AND sequence > ?"
            " ORDER BY sequence LIMIT ?",
            (org_id, after, TREE_BATCH),
        ):
            nodes = []
            for sequence, text in batch:
                leaf = merkle.leaf_hash(leaf_data(AuditRecord.from_dict(json.loads(text))))
                for node in merkle.appended_subtrees(sequence - 1, leaf, _newest_of(newest)):
                    newest[node.level] = node.hash
                    nodes.append((org_id, node.level, node.index, node.hash))
            db.run_many(
                "INSERT INTO audit_tree (org_id, level, idx, hash) VALUES (?, ?, ?, ?)", nodes
            )
            after = batch[-1][0]


#: The Python step of a migration, by the migration's name.
STEPS: Final[dict[str, Callable[[StepConnection], None]]] = {
    "username_keys": username_keys,
    "audit_tree": audit_tree,
}
