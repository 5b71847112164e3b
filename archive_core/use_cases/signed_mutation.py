"""One pipeline for every signed mutation of a target user (SPEC §4, §5).

An operation brings its declaration (`Declaration`: its name in the permission matrix
and its row in each preset, its route, its body) and what is its own (`UserMutation`):
its rules, its state change and its audit action. `SignedUserMutation` runs it through
the steps every such request shares, in the order of SPEC §4 (numbers match
docs/architecture.md and docs/extending.md):

1. headers (400)                 6. user id syntax (400)
2. authentication (401)          7. target look-up in the caller's org (404)
3. user action token (403; replay 400)
4. the operation's unconditional permissions (403)
5. the declared body and query (400)
                                 8. permission for the target's kind (403)
                                 9. the operation's own rules (400)
                                10. commit, in the org's turn: the caller read again,
                                    token consumed, target changed, record appended

Steps 2 to 10 run in one unit of work: a refusal anywhere leaves the token unused,
the target untouched and the audit log as it was. A concurrent change of the target,
of the caller (current at commit, SPEC §5) or of the org's audit chain retries the
unit of work a bounded number of times.
"""

from __future__ import annotations

import abc
import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, NoReturn, Protocol

import attrs

from archive_core.access import Gate, Screening
from archive_core.audit import AuditRecord, sealed_record
from archive_core.config import Policy
from archive_core.declarations import Declaration, Wiring
from archive_core.entities import Grants, Principal, User, UserActionRecord, UserKind, UserState
from archive_core.errors import (
    AlreadyExists,
    ArchiveCoreError,
    Catalogue,
    ConcurrencyConflict,
    ErrorKind,
)
from archive_core.fields import NO_VALUES, Values
from archive_core.ids import UserId, is_canonical_id, new_id
from archive_core.permissions import Decision, PermissionMatrix, authorize, denial_message
from archive_core.ports import (
    ConsumeStatus,
    Randomness,
    UnitOfWork,
    UnitOfWorkFactory,
    UserActionTokenCodec,
)
from archive_core.requests import Answer, Request
from archive_core.wire import user_to_wire

__all__ = [
    "Admitted",
    "SignedOperation",
    "SignedUserMutation",
    "Subject",
    "UserMutation",
    "check_user_action",
    "parse_values",
    "signed_user_mutation",
]

USER_ACTION_HEADER: Final = "x-dfns-useraction"
MAX_USER_ACTION_TOKEN: Final = 4096
_EMPTY_SHA256: Final = hashlib.sha256(b"").hexdigest().encode()
_log = logging.getLogger("archive_core.decisions")


def check_user_action(
    request: Request,
    principal: Principal,
    codec: UserActionTokenCodec,
    *,
    now: datetime,
    empty_object_signed_empty: bool = False,
) -> str:
    """Step 3 without the single-use part: the token is genuine, unexpired and bound to
    this caller and this exact request. Returns the token id to consume.

    With `empty_object_signed_empty`, a body of exactly `{}` may also have been signed
    as the empty payload (the official Python SDK signs an empty dict body as `""`)."""
    values = request.headers.by_name.get(USER_ACTION_HEADER, ())
    if len(values) != 1:
        raise Catalogue.USER_ACTION_INVALID.error(
            "user_action_missing" if not values else "user_action_repeated"
        )
    token = values[0]
    if not token or len(token) > MAX_USER_ACTION_TOKEN or not token.isascii():
        raise Catalogue.USER_ACTION_INVALID.error("user_action_malformed")
    grant = codec.decode(token)
    if now >= grant.expires_at:
        raise Catalogue.USER_ACTION_INVALID.error("user_action_expired")
    if grant.issued_at > now:
        raise Catalogue.USER_ACTION_INVALID.error("user_action_not_yet_valid")
    user = principal.user
    if user.issued_before_cut_off(grant.issued_at):
        raise Catalogue.USER_ACTION_INVALID.error("user_action_cut_off")
    signed_payload = grant.payload_sha256.encode()
    body = request.body
    payload_bound = hmac.compare_digest(
        signed_payload, hashlib.sha256(body).hexdigest().encode() if body else _EMPTY_SHA256
    )
    if empty_object_signed_empty and request.body == b"{}":
        payload_bound |= hmac.compare_digest(signed_payload, _EMPTY_SHA256)
    bound = (
        hmac.compare_digest(grant.user_id.encode(), user.id.encode())
        & hmac.compare_digest(grant.org_id.encode(), user.org_id.encode())
        & hmac.compare_digest(grant.method.encode(), request.method.encode())
        & hmac.compare_digest(grant.path.encode(), request.path.encode("utf-8", "replace"))
        & payload_bound
    )
    if not bound:
        raise Catalogue.USER_ACTION_INVALID.error("user_action_binding_mismatch")
    return grant.token_id


def parse_values(declaration: Declaration[Any], request: Request) -> Values:
    """Step 5: the declared body and query, strictly parsed (400 naming the defect)."""
    values: dict[str, object] = {}
    if declaration.body is not None:
        values.update(declaration.body.parse(request.body))
    if declaration.query is not None:
        values.update(declaration.query.parse(request.query))
    return values if values else NO_VALUES


@attrs.define
class Subject:
    """What an operation's rules and change see at step 9: the request, the caller, the
    target (found in the caller's org, not archived), the time, the unit of work, the
    matrix in force, the operation's name and the values of its declared body and query."""

    request: Request
    caller: Principal
    target: User
    now: datetime
    policy: Policy
    uow: UnitOfWork
    matrix: PermissionMatrix
    operation: str
    values: Values = NO_VALUES
    _target_grants: Grants | None = attrs.field(default=None, init=False)

    @property
    def target_grants(self) -> Grants:
        """The target's effective grants (read once, on first use)."""
        if self._target_grants is None:
            self._target_grants = Grants.of(
                self.uow.permissions.assignments_of(self.target.id), self.target.org_id
            )
        return self._target_grants

    def guard_lockout(self, operation: str, kind: ErrorKind) -> None:
        """The lock-out guard (SPEC §5): refuse (`kind`) when the target is active and
        able to perform `operation` on a user of its own kind, and no other active user
        of the org is (service accounts count as the policy says). Able means, under the
        active matrix: of a caller kind it does not refuse `operation`, and holding the
        operation's unconditional and kind requirements (or the full admin permission).
        A target that is not able takes no ability away: the guard lets it go."""
        target = self.target
        if not self.policy.lockout_guard or not target.is_active:
            return
        matrix = self.matrix
        needed = matrix.required(operation, target.kind)
        if matrix.refuses(operation, target.kind) or not self.target_grants.hold_all(needed):
            return
        if not self.uow.users.has_other_active_holder(
            target.org_id,
            operations=frozenset(needed),
            kinds=matrix.allowed_callers(operation),
            exclude=target.id,
            include_service_accounts=self.policy.lockout_counts_service_accounts,
        ):
            raise ArchiveCoreError(kind, reason=kind.code)


class UserMutation(Protocol):
    """What an operation on a target user brings of its own besides its declaration;
    the pipeline does the rest."""

    @property
    def empty_object_signed_empty(self) -> bool:
        """Whether the body `{}` may have been signed as the empty payload `""` (true
        where `{}` and no body mean the same; the official Python SDK signs so)."""
        ...

    def check(self, subject: Subject) -> None:
        """Its own rules, in order (step 9): raise ArchiveCoreError to refuse."""
        ...

    def change(self, subject: Subject) -> User | None:
        """The target as the operation leaves it, one version later; None when there is
        nothing to change (the answer is then the target as it stands, with no record)."""
        ...

    def audit_action(self, target: User) -> str:
        """The action its audit record names, e.g. `DELETE /auth/users/{userId}`."""
        ...


@attrs.frozen
class Admitted:
    """A signed request past steps 2 to 4: the caller, its token's record (consumed in
    the unit of work) and the time."""

    principal: Principal
    record: UserActionRecord
    now: datetime


@attrs.frozen(kw_only=True)
class SignedOperation(abc.ABC):
    """What every signed operation shares: the refusal's log line, the retries on a
    concurrent change, steps 2 to 4 (`admit`), the permission for a user's kind
    (`authorize_kind`) and the commit's audit record (`seal`). An operation brings
    `attempt`: one run of its unit of work."""

    gate: Gate
    uow_factory: UnitOfWorkFactory
    randomness: Randomness
    token_codec: UserActionTokenCodec
    policy: Policy
    matrix: PermissionMatrix
    declaration: Declaration[Any]

    @staticmethod
    def wired_parts(wiring: Wiring) -> dict[str, Any]:
        """What every signed operation takes of a deployment's wiring (its keywords)."""
        return {
            "gate": wiring.gate,
            "uow_factory": wiring.uow_factory,
            "randomness": wiring.randomness,
            "token_codec": wiring.token_codec,
            "policy": wiring.policy,
            "matrix": wiring.matrix,
        }

    def __call__(self, request: Request) -> Answer:
        """Answer the request (a refusal raises `ArchiveCoreError`, logged here)."""
        try:
            return self._decide(request)
        except ArchiveCoreError as refusal:
            if _log.isEnabledFor(logging.INFO):
                _log.info(
                    "%s refused",
                    self.declaration.name,
                    extra={
                        "code": refusal.code,
                        "reason": refusal.reason,
                        "status": refusal.status,
                        "operation": self.declaration.name,
                    },
                )
            raise

    def _decide(self, request: Request) -> Answer:
        screening = self.gate.screen(request.headers)  # 1, and 2's crypto part
        for _attempt in range(self.policy.max_conflict_retries + 1):
            try:
                return self.attempt(request, screening)
            except ConcurrencyConflict:
                # The nonce was burnt by the first attempt; a retry must not see it again.
                screening = screening.without_nonce()
        raise ArchiveCoreError(Catalogue.CONFLICT, reason="retries_exhausted")

    @abc.abstractmethod
    def attempt(self, request: Request, screening: Screening) -> Answer:
        """One run of the operation's unit of work (ConcurrencyConflict: run again)."""

    def admit(
        self,
        uow: UnitOfWork,
        request: Request,
        screening: Screening,
        *,
        empty_object_signed_empty: bool,
    ) -> Admitted:
        """Steps 2 to 4: the caller, its user action token (consumed), the operation's
        unconditional permissions."""
        now = screening.now
        principal = self.gate.admit(uow, screening)  # 2, and the caller-bound headers

        # 3. the user action token: bound to this request, then consumed (single use)
        token_id = check_user_action(
            request,
            principal,
            self.token_codec,
            now=now,
            empty_object_signed_empty=empty_object_signed_empty,
        )
        consumed = uow.user_actions.consume(token_id, at=now)
        if consumed.status is ConsumeStatus.ALREADY_USED:
            raise ArchiveCoreError(Catalogue.USER_ACTION_REPLAYED, reason="user_action_used")
        if consumed.record is None:
            raise Catalogue.USER_ACTION_INVALID.error("user_action_unknown")

        # 4. the unconditional permissions
        self.authorize_kind(principal, None)
        return Admitted(principal, consumed.record, now)

    def authorize_kind(self, principal: Principal, kind: UserKind | None) -> Decision:
        """The matrix's decision for a user of `kind` (None: the unconditional part);
        403 naming what is missing when it denies."""
        grants = principal.grants
        caller = principal.user
        decision = authorize(
            self.matrix,
            self.declaration.name,
            granted=grants.operations,
            full_admin=grants.full_admin,
            target_kind=kind,
            caller_kind=caller.kind,
        )
        if not decision.allowed:
            _deny(caller.kind, caller.id, decision.missing)
        return decision

    def current_caller(self, uow: UnitOfWork, admitted: Admitted) -> AuditRecord | None:
        """Step 10's turn: the org's audit head read first (taking the org's lock where
        units of work are not serialised, to the end of this one), then the caller read
        again under it: a caller changed since admission (deactivated, archived, cut off)
        sends the unit round again, to be answered as it now stands. The head."""
        caller = admitted.principal.user
        head = uow.audit.head(caller.org_id)
        current = uow.users.get(caller.id)
        if current is None or current.version != caller.version:
            raise ConcurrencyConflict(caller.id)
        return head

    def seal(
        self,
        uow: UnitOfWork,
        head: AuditRecord | None,
        admitted: Admitted,
        decision: Decision,
        *,
        action: str,
        target_id: UserId,
        before: UserState | None,
        after: UserState,
    ) -> None:
        """Append the decision's audit record after `head`."""
        principal = admitted.principal
        caller = principal.user
        uow.audit.append(
            sealed_record(
                head,
                id=new_id("au", self.randomness),
                org_id=caller.org_id,
                action=action,
                user_action_id=admitted.record.grant.token_id,
                actor_id=caller.id,
                actor_username=caller.username,
                actor_kind=caller.kind._value_,
                token_kind=principal.token_kind._value_,
                performed_at=admitted.now,
                evidence=admitted.record.evidence,
                permissions_required=decision.required,
                permissions_matched=decision.matched,
                target_id=target_id,
                target_before=before,
                target_after=after,
                signed_at=admitted.record.grant.issued_at,
            )
        )

    def allowed(self, outcome: str, admitted: Admitted, target_id: UserId) -> None:
        """The decision's log line."""
        if _log.isEnabledFor(logging.INFO):
            caller = admitted.principal.user
            _log.info(
                "%s allowed",
                self.declaration.name,
                extra={
                    "code": outcome,
                    "operation": self.declaration.name,
                    "caller": caller.id,
                    "target": target_id,
                    "org": caller.org_id,
                },
            )


@attrs.frozen(kw_only=True)
class SignedUserMutation(SignedOperation):
    """Runs one `UserMutation`, as its declaration says, as a signed request on a user
    of the caller's org (the user id is the path parameter `userId`)."""

    declaration: Declaration[SignedUserMutation]
    mutation: UserMutation

    def attempt(self, request: Request, screening: Screening) -> Answer:
        """Steps 2 to 10 in one unit of work; the user as it now stands (SPEC §1.2)."""
        user_id = request.params.get("userId", "")
        declaration = self.declaration
        with self.uow_factory() as uow:
            admitted = self.admit(  # 2 to 4
                uow,
                request,
                screening,
                empty_object_signed_empty=self.mutation.empty_object_signed_empty,
            )
            principal = admitted.principal
            caller = principal.user

            # 5. the declared body and query
            values = parse_values(declaration, request)

            # 6. user id syntax
            if not is_canonical_id(user_id, "us"):
                raise ArchiveCoreError(Catalogue.USER_ID_MALFORMED, reason="user_id_malformed")

            # 7. the target, in the caller's org, not archived
            target = uow.users.get(UserId(user_id))
            if target is None or target.org_id != caller.org_id or target.is_archived:
                raise ArchiveCoreError(Catalogue.TARGET_NOT_FOUND, reason="target_not_found")

            # 8. the permission for the target's kind
            decision = self.authorize_kind(principal, target.kind)

            # 9. the operation's own rules
            subject = Subject(
                request,
                principal,
                target,
                admitted.now,
                self.policy,
                uow,
                self.matrix,
                declaration.name,
                values,
            )
            self.mutation.check(subject)
            after = self.mutation.change(subject)

            # 10. commit: change, audit, token consumption (already staged) — all or nothing,
            # in the org's turn with the caller current. A no-op takes the same turn: its
            # token stays unused then.
            head = self.current_caller(uow, admitted)
            if after is not None:
                try:
                    uow.users.update(after, expected_version=target.version)
                except AlreadyExists as taken:  # a change that took another's username
                    raise ArchiveCoreError(
                        Catalogue.USERNAME_TAKEN, reason="username_taken"
                    ) from taken
                self.seal(
                    uow,
                    head,
                    admitted,
                    decision,
                    action=self.mutation.audit_action(target),
                    target_id=target.id,
                    before=target.state,
                    after=after.state,
                )
            assignments = subject.target_grants.assignments  # read before the commit ends it
            uow.commit()
        outcome = declaration.outcome if after is not None else "unchanged"
        self.allowed(outcome, admitted, target.id)
        return Answer.json(
            user_to_wire(target if after is None else after, assignments),
            outcome=outcome,
        )


def signed_user_mutation(
    mutation: UserMutation,
) -> Callable[[Wiring, Declaration[SignedUserMutation]], SignedUserMutation]:
    """A declaration's `build` for an operation on the signed pipeline."""

    def build(wiring: Wiring, declaration: Declaration[SignedUserMutation]) -> SignedUserMutation:
        return SignedUserMutation(
            **SignedOperation.wired_parts(wiring), declaration=declaration, mutation=mutation
        )

    return build


def _deny(kind: UserKind, caller_id: str, missing: tuple[str, ...]) -> NoReturn:
    raise ArchiveCoreError(
        Catalogue.PERMISSION_DENIED,
        message=denial_message(kind, caller_id, missing),
        reason="permission_missing",
    )
