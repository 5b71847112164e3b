"""`DELETE /auth/users/{userId}`: archive a user of the caller's org (SPEC §1, §4, §5).

The order of checks is part of the contract (SPEC §4); each step is one guard:

1. headers (400)                 5. user id syntax (400)
2. authentication (401)          6. target look-up in the caller's org (404)
3. user action token (403; replay 400)
4. `Auth:Users:Update` (403)     7. permission for the target's kind (403)
                                 8. archive rules: self, service account, lock-out (400)
                                 9. commit: token consumed, user archived, record appended

Steps 2 to 9 run in one unit of work: a refusal anywhere leaves the token unused,
the user untouched and the audit log as it was.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import datetime
from typing import Any, Final, NoReturn

import attrs

from archive_core.access import Gate, Screening
from archive_core.audit import GENESIS_HASH, AuditRecord, chain_record
from archive_core.config import Policy
from archive_core.entities import Grants, Principal, UserActionRecord, UserKind
from archive_core.errors import ArchiveCoreError, Catalogue, ConcurrencyConflict
from archive_core.ids import UserId, is_canonical_id, new_id
from archive_core.permissions import Operation, authorize, denial_message
from archive_core.ports import (
    ConsumeStatus,
    Randomness,
    UnitOfWork,
    UnitOfWorkFactory,
    UserActionTokenCodec,
)
from archive_core.requests import Request
from archive_core.wire import user_to_wire

__all__ = ["ArchiveUser", "check_user_action"]

USER_ACTION_HEADER: Final = "x-dfns-useraction"
MAX_USER_ACTION_TOKEN: Final = 4096
_log = logging.getLogger("archive_core.decisions")


def _ua_error(reason: str) -> ArchiveCoreError:
    return ArchiveCoreError(Catalogue.USER_ACTION_INVALID, reason=reason)


def check_user_action(
    request: Request,
    principal: Principal,
    codec: UserActionTokenCodec,
    *,
    now: datetime,
) -> str:
    """Step 3 without the single-use part: the token is genuine, unexpired and bound to
    this caller and this exact request. Returns the token id to consume."""
    values = request.headers.values(USER_ACTION_HEADER)
    if len(values) != 1:
        raise _ua_error("user_action_missing" if not values else "user_action_repeated")
    token = values[0]
    if not token or len(token) > MAX_USER_ACTION_TOKEN or not token.isascii():
        raise _ua_error("user_action_malformed")
    grant = codec.decode(token)
    if now >= grant.expires_at:
        raise _ua_error("user_action_expired")
    if grant.issued_at > now:
        raise _ua_error("user_action_not_yet_valid")
    user = principal.user
    payload_sha256 = hashlib.sha256(request.body).hexdigest()
    bound = (
        hmac.compare_digest(grant.user_id.encode(), user.id.encode())
        & hmac.compare_digest(grant.org_id.encode(), user.org_id.encode())
        & hmac.compare_digest(grant.method.encode(), request.method.encode())
        & hmac.compare_digest(grant.path.encode(), request.path.encode("utf-8", "replace"))
        & hmac.compare_digest(grant.payload_sha256.encode(), payload_sha256.encode())
    )
    if not bound:
        raise _ua_error("user_action_binding_mismatch")
    return grant.token_id


@attrs.frozen(kw_only=True)
class ArchiveUser:
    """Archives one user, atomically with the token's consumption and the audit record."""

    gate: Gate
    uow_factory: UnitOfWorkFactory
    randomness: Randomness
    token_codec: UserActionTokenCodec
    policy: Policy

    def __call__(self, request: Request, user_id: str) -> dict[str, Any]:
        """Answer `DELETE /auth/users/{userId}` with the user as it now stands."""
        try:
            return self._decide(request, user_id)
        except ArchiveCoreError as refusal:
            _log.info(
                "archive refused",
                extra={"code": refusal.code, "reason": refusal.reason, "status": refusal.status},
            )
            raise

    def _decide(self, request: Request, user_id: str) -> dict[str, Any]:
        screening = self.gate.screen(request.headers)  # 1, and 2's crypto part
        for _attempt in range(self.policy.max_conflict_retries + 1):
            try:
                return self._attempt(request, user_id, screening)
            except ConcurrencyConflict:
                # The nonce was burnt by the first attempt; a retry must not see it again.
                screening = screening.without_nonce()
        raise ArchiveCoreError(Catalogue.CONFLICT, reason="retries_exhausted")

    def _attempt(
        self,
        request: Request,
        user_id: str,
        screening: Screening,
    ) -> dict[str, Any]:
        now = screening.now
        with self.uow_factory() as uow:
            principal = self.gate.admit(uow, screening)  # 2, and the caller-bound headers
            token_id = check_user_action(request, principal, self.token_codec, now=now)  # 3
            consumed = uow.user_actions.consume(token_id, at=now)
            if consumed.status is ConsumeStatus.ALREADY_USED:
                raise ArchiveCoreError(Catalogue.USER_ACTION_REPLAYED, reason="user_action_used")
            if consumed.record is None:
                raise _ua_error("user_action_unknown")
            return self._archive(uow, principal, user_id, consumed.record, now)

    def _archive(
        self,
        uow: UnitOfWork,
        principal: Principal,
        user_id: str,
        record: UserActionRecord,
        now: datetime,
    ) -> dict[str, Any]:
        caller = principal.user
        matrix = self.policy.matrix
        operation = Operation.ARCHIVE_USER

        # 4. the unconditional permissions
        first = authorize(
            matrix,
            operation,
            granted=principal.grants.operations,
            full_admin=principal.grants.full_admin,
            target_kind=None,
        )
        if not first.allowed:
            self._deny(caller.kind, caller.id, first.missing)

        # 5. user id syntax
        if not is_canonical_id(user_id, "us"):
            raise ArchiveCoreError(Catalogue.USER_ID_MALFORMED, reason="user_id_malformed")

        # 6. the target, in the caller's org, not archived
        target = uow.users.get(UserId(user_id))
        if target is None or target.org_id != caller.org_id or target.is_archived:
            raise ArchiveCoreError(Catalogue.TARGET_NOT_FOUND, reason="target_not_found")

        # 7. the permission for the target's kind
        decision = authorize(
            matrix,
            operation,
            granted=principal.grants.operations,
            full_admin=principal.grants.full_admin,
            target_kind=target.kind,
        )
        if not decision.allowed:
            self._deny(caller.kind, caller.id, decision.missing)

        # 8. archive rules
        if target.id == caller.id:
            raise ArchiveCoreError(Catalogue.SELF_ARCHIVE, reason="self_archive")
        if target.is_service_account:
            raise ArchiveCoreError(Catalogue.SERVICE_ACCOUNT_TARGET, reason="service_account")
        target_grants = Grants.of(uow.permissions.assignments_of(target.id), target.org_id)
        if self.policy.lockout_guard and target.is_active:
            can_archive = frozenset(matrix.required(operation, None))
            if target_grants.hold_all(can_archive) and not uow.users.has_other_active_holder(
                target.org_id,
                operations=can_archive,
                exclude=target.id,
                include_service_accounts=self.policy.lockout_counts_service_accounts,
            ):
                raise ArchiveCoreError(Catalogue.LAST_ARCHIVER, reason="last_archiver")

        # 9. commit: archive, audit, token consumption (already staged) — all or nothing
        archived = target.archived(now)
        uow.users.update(archived, expected_version=target.version)
        draft = AuditRecord(
            id=new_id("au", self.randomness),
            org_id=caller.org_id,
            sequence=0,
            action=f"DELETE /auth/users/{target.id}",
            user_action_id=record.grant.token_id,
            actor_id=caller.id,
            actor_username=caller.username,
            actor_kind=caller.kind.value,
            token_kind=principal.token_kind.value,
            performed_at=now,
            evidence=record.evidence,
            permissions_required=decision.required,
            permissions_matched=decision.matched,
            target_id=target.id,
            target_before=target.state,
            target_after=archived.state,
            prev_hash=GENESIS_HASH,
            hash="",
        )
        uow.audit.append(chain_record(draft, uow.audit.head(caller.org_id)))
        uow.commit()
        if _log.isEnabledFor(logging.INFO):
            _log.info(
                "archive allowed",
                extra={
                    "code": "archived",
                    "operation": operation,
                    "caller": caller.id,
                    "target": target.id,
                    "org": caller.org_id,
                },
            )
        return user_to_wire(archived, target_grants.assignments)

    @staticmethod
    def _deny(kind: UserKind, caller_id: str, missing: tuple[str, ...]) -> NoReturn:
        raise ArchiveCoreError(
            Catalogue.PERMISSION_DENIED,
            message=denial_message(kind, caller_id, missing),
            reason="permission_missing",
        )
