"""`POST /auth/action`: verify the signed challenge and issue a one-time user action token."""

from __future__ import annotations

from collections.abc import Mapping
from operator import attrgetter
from typing import Final

import attrs

from archive_core.access import Gate
from archive_core.config import Policy
from archive_core.declarations import Declaration, Wiring
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
from archive_core.requests import Answer, Request
from archive_core.use_cases.init_user_action import challenge_key
from archive_core.user_action import VerifiedAssertion, parse_factor, verify_assertion
from archive_core.wire import Schema

__all__ = ["COMPLETE_USER_ACTION", "CompleteUserAction"]

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

    @classmethod
    def wired(
        cls, wiring: Wiring, declaration: Declaration[CompleteUserAction]
    ) -> CompleteUserAction:
        """The use case of `declaration`, built from a deployment's wiring."""
        return cls(
            gate=wiring.gate,
            uow_factory=wiring.uow_factory,
            challenges=wiring.challenges,
            randomness=wiring.randomness,
            token_codec=wiring.token_codec,
            verifiers=wiring.verifiers,
            authenticator_parser=wiring.authenticator_parser,
            policy=wiring.policy,
        )

    def __call__(self, request: Request) -> Answer:
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
                    credential=uow.credentials.get_by_cred_id(factor.cred_id),
                    caller=principal.user,
                    challenge=challenge,
                    policy=self.policy,
                    verifiers=self.verifiers,
                    authenticator_parser=self.authenticator_parser,
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
        return Answer.json({"userAction": self.token_codec.issue(grant)})


_STRING: Final = {"type": "string"}

COMPLETE_USER_ACTION: Final = Declaration[CompleteUserAction](
    name="CompleteUserAction",
    method="POST",
    path="/auth/action",
    operation_id="completeUserAction",
    outcome="user_action_issued",
    summary="Verify the signed challenge; issue a one-time user action token.",
    request_schema=Schema(
        "CompleteUserActionRequest",
        {
            "type": "object",
            "required": ["challengeIdentifier", "firstFactor"],
            "properties": {
                "challengeIdentifier": _STRING,
                "firstFactor": {"$ref": "#/components/schemas/Factor"},
                "secondFactor": {"$ref": "#/components/schemas/Factor"},
            },
        },
        {
            "CredentialAssertion": {
                "type": "object",
                "required": ["credId", "clientData", "signature"],
                "properties": {
                    "credId": _STRING,
                    "clientData": {"type": "string", "description": "base64url, no padding"},
                    "signature": {"type": "string", "description": "base64url, no padding"},
                    "authenticatorData": {"type": "string", "description": "Fido2 only"},
                    "userHandle": {"type": "string", "description": "Fido2 only"},
                    "algorithm": _STRING,
                },
            },
            "Factor": {
                "type": "object",
                "required": ["kind", "credentialAssertion"],
                "properties": {
                    "kind": {
                        "enum": ["Fido2", "Key", "PasswordProtectedKey", "Password", "Totp"],
                        "description": (
                            "Key and PasswordProtectedKey are one family (the stored "
                            "credential decides); Password and Totp are refused (401); "
                            "RecoveryKey never signs."
                        ),
                    },
                    "credentialAssertion": {"$ref": "#/components/schemas/CredentialAssertion"},
                },
            },
        },
    ),
    answer=Schema(
        "CompleteUserActionResponse",
        {
            "type": "object",
            "required": ["userAction"],
            "additionalProperties": False,
            "properties": {
                "userAction": {
                    "type": "string",
                    "description": "One-time token for the exact signed request.",
                }
            },
        },
    ),
    answer_description="The user action token.",
    build=CompleteUserAction.wired,
)
