"""The first steps of every request: request headers, then authentication (SPEC §2, §4).

Steps 1 and 2 of SPEC §4's order (numbers match docs/architecture.md and the step
table of `use_cases/signed_mutation.py`):

1. headers — `X-DFNS-APPID` syntax, `X-DFNS-NONCE` parse and clock window (400);
   strict mode requires both.
2. authentication — `Authorization: Bearer`, token verified through the port, the
   caller loaded and found active in the token's org (401); then the caller-bound
   headers — the app id names an active application of the caller's org; the nonce
   is burnt in the replay guard (400). A nonce is burnt only once its request is
   authenticated, whether or not the request then succeeds.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Final

import attrs

from archive_core.encoding import MalformedInput, b64url_decode, parse_json_object
from archive_core.entities import NO_GRANTS, Grants, Principal, TokenKind
from archive_core.errors import ArchiveCoreError, Catalogue
from archive_core.ids import AppId, is_canonical_id
from archive_core.ports import BearerClaims, BearerTokenVerifier, Clock, ReplayGuard, UnitOfWork
from archive_core.requests import Headers

__all__ = ["Gate", "HeaderFacts", "ParsedNonce", "Screening", "parse_nonce"]

APP_ID_HEADER: Final = "x-dfns-appid"
NONCE_HEADER: Final = "x-dfns-nonce"
AUTHORIZATION_HEADER: Final = "authorization"
MAX_BEARER_LENGTH: Final = 8192
NONCE_MEMORY_MARGIN: Final = timedelta(seconds=1)
MAX_NONCE_LENGTH: Final = 1024
_NONCE_UUID_MIN: Final = 13
_NONCE_UUID_MAX: Final = 128
_BEARER_SCHEME: Final = "bearer "
#: The characters of a token (base64url and the dots of a JWS); `bytes.translate`
#: deleting them leaves nothing of a well-formed token, in one pass in C.
_TOKEN_CHARACTERS: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


@attrs.frozen
class ParsedNonce:
    """A request nonce: `{"uuid": "<≥13 chars>", "date": "<ISO-8601>"}`."""

    uuid: str
    date: datetime

    @property
    def replay_key(self) -> str:
        """The key the replay guard remembers (a digest: the nonce itself is not stored)."""
        return "nonce:" + hashlib.sha256(self.uuid.encode("utf-8")).hexdigest()


@attrs.frozen
class HeaderFacts:
    """What step 1 found in the headers, for the caller-bound headers of step 2."""

    app_id: AppId | None
    nonce: ParsedNonce | None


#: The facts of a request that sends neither header (one frozen value serves them all).
_NO_HEADER_FACTS: Final = HeaderFacts(app_id=None, nonce=None)


@attrs.frozen
class Screening:
    """What steps 1 and 2 found before any unit of work: the time of the request, the
    header facts and the verified bearer claims."""

    now: datetime
    facts: HeaderFacts
    claims: BearerClaims

    def without_nonce(self) -> Screening:
        """The same screening once its nonce is burnt (a retried unit of work must not
        burn it again)."""
        return attrs.evolve(self, facts=attrs.evolve(self.facts, nonce=None))


def parse_nonce(value: str) -> ParsedNonce:
    """Parse an `X-DFNS-NONCE` value strictly (no clock involved)."""
    try:
        raw = b64url_decode(value, max_length=MAX_NONCE_LENGTH)
        document = parse_json_object(raw, max_bytes=MAX_NONCE_LENGTH, max_depth=2)
    except MalformedInput as exc:
        raise Catalogue.NONCE_INVALID.error(exc.reason) from exc
    uuid = document.get("uuid")
    date_text = document.get("date")
    if not isinstance(uuid, str) or not _NONCE_UUID_MIN <= len(uuid) <= _NONCE_UUID_MAX:
        raise Catalogue.NONCE_INVALID.error("nonce_uuid")
    if not isinstance(date_text, str) or len(date_text) > 64:
        raise Catalogue.NONCE_INVALID.error("nonce_date")
    try:
        date = datetime.fromisoformat(date_text)
    except ValueError as exc:
        raise Catalogue.NONCE_INVALID.error("nonce_date") from exc
    if date.tzinfo is None:
        raise Catalogue.NONCE_INVALID.error("nonce_date_without_offset")
    return ParsedNonce(uuid=uuid, date=date)


def _single(headers: Headers, name: str) -> str | None:
    values = headers.values(name)
    if len(values) > 1:
        raise ValueError(name)
    return values[0] if values else None


@attrs.frozen(kw_only=True)
class Gate:
    """Request headers and authentication, shared by every use case."""

    clock: Clock
    bearer_verifier: BearerTokenVerifier
    replay_guard: ReplayGuard
    require_app_id: bool
    require_nonce: bool
    nonce_window: timedelta

    # steps 1 and 2 together ---------------------------------------------------------
    def screen(self, headers: Headers) -> Screening:
        """Steps 1 and 2's crypto part: headers, then the bearer token (no storage)."""
        now = self.clock.now()
        sent = headers.by_name
        if (
            self.require_app_id
            or self.require_nonce
            or APP_ID_HEADER in sent
            or NONCE_HEADER in sent
        ):
            facts = self.check_headers(headers, now=now)
        else:  # neither header, neither required: nothing to check
            facts = _NO_HEADER_FACTS
        return Screening(now, facts, self.verify_bearer(headers, now=now))

    def admit(self, uow: UnitOfWork, screening: Screening, *, signing: bool = False) -> Principal:
        """Step 2 inside the unit of work: the caller, then the caller-bound headers."""
        principal = self.authenticate(uow, screening.claims, signing=signing)
        if screening.facts is not _NO_HEADER_FACTS:  # neither header: nothing to enforce
            self.enforce_caller_headers(uow, screening.facts, principal, now=screening.now)
        return principal

    # step 1 -------------------------------------------------------------------------
    def check_headers(self, headers: Headers, *, now: datetime) -> HeaderFacts:
        """Validate `X-DFNS-APPID` and `X-DFNS-NONCE` as far as no caller is needed (400)."""
        try:
            app_value = _single(headers, APP_ID_HEADER)
        except ValueError as exc:
            raise ArchiveCoreError(Catalogue.APP_ID_INVALID, reason="app_id_repeated") from exc
        if app_value is None:
            if self.require_app_id:
                raise ArchiveCoreError(Catalogue.APP_ID_INVALID, reason="app_id_missing")
            app_id = None
        elif is_canonical_id(app_value, "ap"):
            app_id = AppId(app_value)
        else:
            raise ArchiveCoreError(Catalogue.APP_ID_INVALID, reason="app_id_malformed")

        try:
            nonce_value = _single(headers, NONCE_HEADER)
        except ValueError as exc:
            raise Catalogue.NONCE_INVALID.error("nonce_repeated") from exc
        if nonce_value is None:
            if self.require_nonce:
                raise Catalogue.NONCE_INVALID.error("nonce_missing")
            nonce = None
        else:
            nonce = parse_nonce(nonce_value)
            # Inclusive at both edges: a nonce dated exactly `window` away still passes.
            if abs(now - nonce.date) > self.nonce_window:
                raise Catalogue.NONCE_INVALID.error("nonce_date_outside_window")
        if app_id is None and nonce is None:
            return _NO_HEADER_FACTS
        return HeaderFacts(app_id=app_id, nonce=nonce)

    # step 2: the bearer token, then the caller --------------------------------------
    def verify_bearer(self, headers: Headers, *, now: datetime) -> BearerClaims:
        """The verified claims of the `Authorization: Bearer` token (401 otherwise)."""
        values = headers.by_name.get(AUTHORIZATION_HEADER, ())
        if len(values) != 1:
            raise ArchiveCoreError(
                Catalogue.NOT_AUTHORIZED,
                reason="authorization_repeated" if values else "authorization_missing",
            )
        value = values[0]
        if len(value) > MAX_BEARER_LENGTH:
            raise ArchiveCoreError(Catalogue.NOT_AUTHORIZED, reason="bearer_too_long")
        # `Bearer <token>`, the scheme in any case, the token of its characters only
        token = value[7:]
        if (
            not value.isascii()
            or value[:7].lower() != _BEARER_SCHEME
            or not token
            or token.encode("ascii").translate(None, _TOKEN_CHARACTERS)
        ):
            raise ArchiveCoreError(Catalogue.NOT_AUTHORIZED, reason="bearer_malformed")
        return self.bearer_verifier.verify(token, now=now)

    def authenticate(
        self, uow: UnitOfWork, claims: BearerClaims, *, signing: bool = False
    ) -> Principal:
        """Load the caller named by verified claims and check it may act.

        For the user action endpoints (`signing=True`) the catalogue has its own
        answers: an unknown (or archived) user is 401 `User not found`, a deactivated
        one 400 `User account has been deactivated.`. Everywhere else both are 401.
        """
        user = uow.users.get(claims.user_id)
        if user is None or user.is_archived:
            if signing:
                raise ArchiveCoreError(Catalogue.SIGNING_USER_NOT_FOUND, reason="caller_unknown")
            raise ArchiveCoreError(Catalogue.NOT_AUTHORIZED, reason="caller_unknown")
        if user.org_id != claims.org_id:
            raise ArchiveCoreError(Catalogue.NOT_AUTHORIZED, reason="caller_org_mismatch")
        if (claims.token_kind is TokenKind.SERVICE_ACCOUNT) != user.is_service_account:
            raise ArchiveCoreError(Catalogue.NOT_AUTHORIZED, reason="token_kind_mismatch")
        if not user.is_active:
            if signing:
                raise ArchiveCoreError(Catalogue.USER_DEACTIVATED, reason="caller_inactive")
            raise ArchiveCoreError(Catalogue.NOT_AUTHORIZED, reason="caller_inactive")
        if user.issued_before_cut_off(claims.issued_at):
            # Issued before the caller's last deactivation: activation does not revive it.
            raise ArchiveCoreError(Catalogue.NOT_AUTHORIZED, reason="token_cut_off")
        # Signing a user action needs no permission: its caller's grants are not read.
        grants = (
            NO_GRANTS
            if signing
            else Grants.of(uow.permissions.assignments_of(user.id), user.org_id)
        )
        return Principal(user, claims.token_kind, claims.token_id, grants)

    # step 2, last: the caller-bound headers -----------------------------------------
    def enforce_caller_headers(
        self, uow: UnitOfWork, facts: HeaderFacts, principal: Principal, *, now: datetime
    ) -> None:
        """The app id must name an active app of the caller's org; the nonce is burnt."""
        if facts.app_id is not None:
            app = uow.applications.get(facts.app_id)
            if app is None or not app.is_active or app.org_id != principal.user.org_id:
                raise ArchiveCoreError(Catalogue.APP_ID_INVALID, reason="app_unknown")
        if facts.nonce is not None:
            # Remembered a little past the last instant it could pass the window check,
            # so that a store whose expiry is exclusive (or a coarser clock) never forgets
            # it one tick too early.
            fresh = self.replay_guard.first_use(
                facts.nonce.replay_key,
                expires_at=facts.nonce.date + self.nonce_window + NONCE_MEMORY_MARGIN,
                now=now,
            )
            if not fresh:
                raise ArchiveCoreError(Catalogue.NONCE_REPLAYED, reason="nonce_replayed")
