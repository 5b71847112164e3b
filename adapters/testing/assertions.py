"""Assertions for tests of the core and of rules built on it: an exact refusal, an
unchanged store, and what the audit trail must (and must not) hold. Plain `assert`s and
`AssertionError`s, so they work under any test runner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapters.testing.world import Actor, World
from archive_core.audit import AuditRecord, verify_audit_chain
from archive_core.errors import ArchiveCoreError, ErrorKind
from archive_core.ids import OrgId

__all__ = ["assert_archived_by", "assert_audit_intact", "assert_not_audited", "refused", "snapshot"]


def refused(
    kind: ErrorKind, call: Callable[[], Any], *, message: str | None = None
) -> ArchiveCoreError:
    """Run `call`, expect exactly this refusal (status, code, message); the error."""
    try:
        call()
    except ArchiveCoreError as caught:
        error = caught
    else:
        raise AssertionError(f"expected a refusal {kind.code} ({kind.status}), got none")
    assert (error.status, error.code) == (kind.status, kind.code), repr(error)
    assert error.message == (message if message is not None else kind.message), repr(error)
    return error


def snapshot(world: World) -> tuple[Any, ...]:
    """Everything an archive could change in the in-memory store, to prove a refusal
    changed nothing."""
    store = world.store
    with store.lock:
        return (
            dict(store.users),
            {k: r.used_at for k, r in store.user_actions.items()},
            {k: list(v) for k, v in store.audit.items()},
            dict(store.credentials),
        )


def assert_archived_by(world: World, target: Actor | str, *, by: Actor) -> AuditRecord:
    """The newest audit record of `by`'s org archives `target`, performed by `by`, and
    the stored target is archived; the record."""
    target_id = target if isinstance(target, str) else target.id
    records = world.audit_records(by.user.org_id)
    assert records, f"no audit record in {by.user.org_id}"
    record = records[-1]
    assert (record.target_id, record.actor_id) == (target_id, by.id), record
    before = record.target_before
    assert before is not None and before.is_active and not record.target_after.is_active, record
    with world.uow_factory() as uow:
        stored = uow.users.get(record.target_id)
    assert stored is not None and stored.is_archived, stored
    return record


def assert_not_audited(world: World, target: Actor | str, *, org: OrgId) -> None:
    """No audit record of `org` has `target` as its target."""
    target_id = target if isinstance(target, str) else target.id
    hits = [r for r in world.audit_records(org) if r.target_id == target_id]
    assert not hits, f"{target_id} was audited: {hits}"


def assert_audit_intact(world: World) -> int:
    """Every org's audit chain re-verifies (hashes, links, sequence); how many records."""
    verification = verify_audit_chain(world.audit_records())
    assert verification.ok, verification.breaks
    return verification.checked
