"""`POST /auth/action`: verify the signed challenge and issue a one-time user action token."""

from __future__ import annotations

from collections.abc import Mapping
from operator import attrgetter
from typing import Final

import attrs

from archive_core.access import Gate
from archive_core.config import Policy
from archive_core.encoding import MalformedInput, b64url_encode, parse_json_object
from archive_core.entities import CredentialKind, UserActionGrant, UserActionRecord
from archive_core.errors import ArchiveCoreError, Catalogue, ConcurrencyConflict
from archive_core.ports import (
    AuthenticatorDataParser,
    ChallengeStore,
    Randomness,
    SignatureVerifier,
    UnitOfWorkFactory,
    UserActionTokenCodec,
)
from archive_core.requests import Request
from archive_core.use_cases.init_user_action import challenge_key
from archive_core.user_action import VerifiedAssertion, parse_factor, verify_assertion

__all__ = ["CompleteUserAction"]

MAX_COMPLETE_BODY: Final = 64 * 1024
_EVIDENCE: Final = attrgetter("evidence")
MAX_CHALLENGE_IDENTIFIER: Final = 512


@attrs.frozen(kw_only=True)
class CompleteUserAction:
    """Checks a signed challenge (SPEC §3 step 3) and answers `{"userAction": token}`."""

    gate: Gate
    uow_factory: UnitOfWorkFactory
    challenges: ChallengeStore
    randomness: Randomness
    token_codec: UserActionTokenCodec
    verifiers: Mapping[CredentialKind, SignatureVerifier]
    authenticator_parser: AuthenticatorDataParser
    policy: Policy

    def __call__(self, request: Request) -> dict[str, str]:
        """Answer `POST /auth/action`."""
        screening = self.gate.screen(request.headers)
        now = screening.now
        with self.uow_factory() as uow:
            principal = self.gate.admit(uow, screening, signing=True)
            try:
                body = parse_json_object(request.body, max_bytes=MAX_COMPLETE_BODY)
            except MalformedInput as exc:
                raise ArchiveCoreError(Catalogue.JSON_MALFORMED, reason=exc.reason) from exc

            # The challenge: genuine, unexpired, the caller's, unused. Taking it burns it,
            # so a failed verification below cannot be retried with the same challenge.
            identifier = body.get("challengeIdentifier")
            if (
                not isinstance(identifier, str)
                or not 0 < len(identifier) <= MAX_CHALLENGE_IDENTIFIER
            ):
                raise ArchiveCoreError(Catalogue.CHALLENGE_INVALID, reason="identifier_malformed")
            factors = [parse_factor(body.get("firstFactor"), "firstFactor")]
            if body.get("secondFactor") is not None:
                factors.append(parse_factor(body["secondFactor"], "secondFactor"))
                if factors[1].cred_id == factors[0].cred_id:
                    raise ArchiveCoreError(
                        Catalogue.BODY_INVALID,
                        message=(
                            "The request body is invalid: secondFactor must use another credential."
                        ),
                        reason="second_factor_same_credential",
                    )
            challenge = self.challenges.take(
                challenge_key(identifier), user_id=principal.user.id, now=now
            )
            if challenge is None:
                raise ArchiveCoreError(Catalogue.CHALLENGE_INVALID, reason="challenge_unknown")
            if principal.user.issued_before_cut_off(challenge.issued_at):
                raise ArchiveCoreError(Catalogue.CHALLENGE_INVALID, reason="challenge_cut_off")

            verified: list[VerifiedAssertion] = [
                verify_assertion(
                    factor,
                    uow.credentials.get_by_cred_id(factor.cred_id),
                    principal.user,
                    challenge,
                    self.policy,
                    self.verifiers,
                    self.authenticator_parser,
                )
                for factor in factors
            ]

            # Every check passed: only now are counters stored and the grant recorded.
            for item in verified:
                if (
                    item.new_sign_count is not None
                    and item.new_sign_count != item.credential.sign_count
                ):
                    try:
                        uow.credentials.update_sign_count(
                            item.credential.uuid,
                            new_count=item.new_sign_count,
                            expected_count=item.credential.sign_count,
                        )
                    except ConcurrencyConflict as exc:
                        # Another assertion of this authenticator landed first: its
                        # counter moved under us, so this one cannot be trusted to be newer.
                        raise ArchiveCoreError(
                            Catalogue.ASSERTION_INVALID, reason="sign_count_raced"
                        ) from exc
            action = challenge.action
            grant = UserActionGrant(
                "ua-" + b64url_encode(self.randomness.token_bytes(18)),  # token id
                principal.user.id,
                principal.user.org_id,
                verified[0].credential.uuid,
                action.method,
                action.path,
                action.payload_sha256,
                now,  # issued at
                now + self.policy.user_action_ttl,  # expires at
            )
            uow.user_actions.add(UserActionRecord(grant, tuple(map(_EVIDENCE, verified))))
            uow.commit()
        return {"userAction": self.token_codec.issue(grant)}
