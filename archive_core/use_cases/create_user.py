"""`POST /auth/users`: Create User, a user of the caller's org (SPEC §1.5).

Signed over its method, path and exact body, on the steps every signed operation
shares (`SignedOperation`), in the order of SPEC §4: headers, authentication, the user
action token, `Auth:Users:Create` (under `dfns-current` EndUser callers are refused),
the body, the type permission of the new user's kind, the rules (the username rule of
`usernames`; `registration: Direct` refused: this server sends no email), then, in the
org's turn: an `externalId` a user not archived already has answers that user when the
body is the same (no second user, no record; the token is spent) and 409 naming it
otherwise; a username taken is 409; else the user is added — active, unregistered,
without credential or permission — with an audit record whose "before" is empty.
"""

from __future__ import annotations

from typing import Final

import attrs

from archive_core.access import Screening
from archive_core.declarations import Declaration, Wiring
from archive_core.entities import User, UserKind
from archive_core.errors import ArchiveCoreError, Catalogue
from archive_core.fields import Body, Field, Values
from archive_core.permissions import Entry, Permissions, Requirement
from archive_core.requests import Answer, Request
from archive_core.use_cases.provisioning import add_new_user
from archive_core.use_cases.signed_mutation import SignedOperation, parse_values
from archive_core.usernames import MAX_USERNAME_LENGTH, check_username
from archive_core.wire import USER, user_to_wire

__all__ = ["CREATE_USER", "CreateUser"]

_KINDS: Final = {kind._value_: kind for kind in UserKind}


@attrs.frozen(kw_only=True)
class CreateUser(SignedOperation):
    """Create User (see the module's doc)."""

    declaration: Declaration[CreateUser]

    @classmethod
    def wired(cls, wiring: Wiring, declaration: Declaration[CreateUser]) -> CreateUser:
        """The use case of `declaration`, built from a deployment's wiring."""
        return cls(**cls.wired_parts(wiring), declaration=declaration)

    def attempt(self, request: Request, screening: Screening) -> Answer:
        """Steps 2 to 10 in one unit of work; the user created (or found again)."""
        with self.uow_factory() as uow:
            admitted = self.admit(uow, request, screening, empty_object_signed_empty=False)
            org_id = admitted.principal.user.org_id

            values = parse_values(self.declaration, request)  # 5. the body
            kind = _KINDS[values["kind"]]
            decision = self.authorize_kind(admitted.principal, kind)  # 8. the new user's kind

            # 9. the rules
            check_username(values["email"])
            if values["registration"] == "Direct":
                raise ArchiveCoreError(Catalogue.DIRECT_REGISTRATION, reason="direct_registration")

            # 10. in the org's turn, the caller current: the externalId, then the name
            head = self.current_caller(uow, admitted)
            external_id: str | None = values["externalId"]
            existing = (
                None if external_id is None else uow.users.find_by_external_id(org_id, external_id)
            )
            if existing is not None:
                if not _same(existing, values, kind):
                    raise ArchiveCoreError(
                        Catalogue.EXTERNAL_ID_TAKEN,
                        reason="external_id_taken",
                        details={"userId": existing.id, "username": existing.username},
                    )
                assignments = uow.permissions.assignments_of(existing.id)
                uow.commit()  # the token is spent
                self.allowed("unchanged", admitted, existing.id)
                return Answer.json(user_to_wire(existing, assignments), outcome="unchanged")
            user = add_new_user(
                uow,
                self.randomness,
                org_id=org_id,
                username=values["email"],
                kind=kind,
                is_registered=False,
                is_sso_required=values["isSSORequired"],
                external_id=external_id,
            )
            self.seal(
                uow,
                head,
                admitted,
                decision,
                action="POST /auth/users",
                target_id=user.id,
                before=None,
                after=user.state,
            )
            uow.commit()
        self.allowed(self.declaration.outcome, admitted, user.id)
        return Answer.json(user_to_wire(user, ()), outcome=self.declaration.outcome)


def _same(existing: User, values: Values, kind: UserKind) -> bool:
    """Whether a create of `values` is the one that made `existing`."""
    return (
        existing.username == values["email"]
        and existing.kind is kind
        and existing.is_sso_required == values["isSSORequired"]
    )


CREATE_USER: Final = Declaration[CreateUser](
    name="CreateUser",
    method="POST",
    path="/auth/users",
    operation_id="createUser",
    outcome="created",
    summary="Create a user of the caller's org.",
    description=(
        "Needs Auth:Users:Create plus the new user's type permission (presets dfns and "
        "dfns-delete), or Auth:Users:Create alone, EndUser callers refused (dfns-current). "
        "The email becomes the username (unique among the org's users not archived, "
        "compared casefolded: 409). The user is active, unregistered, without credential "
        "or permission. The same externalId with the same body answers the same user "
        "again (no second user or record); with another body, 409 naming it. "
        "registration Direct is refused: this server sends no email."
    ),
    permissions=Permissions(
        Entry(
            (
                Requirement("Auth:Users:Create"),
                Requirement("Auth:Types:Employee", UserKind.CUSTOMER_EMPLOYEE),
                Requirement("Auth:Types:EndUser", UserKind.END_USER),
            )
        ),
        {
            "dfns-current": Entry(
                (Requirement("Auth:Users:Create"),), frozenset({UserKind.END_USER})
            )
        },
    ),
    signed=True,
    body=Body(
        (
            Field(name="email", required=True, max_length=MAX_USERNAME_LENGTH),
            Field(name="kind", required=True, choices=tuple(_KINDS)),
            Field(name="externalId", min_length=1, max_length=MAX_USERNAME_LENGTH),
            Field(name="isSSORequired", type="boolean", default=False),
            Field(name="registration", choices=("Delegated", "Direct"), default="Delegated"),
        ),
        required=True,
    ),
    answer=USER,
    errors=(400, 401, 403, 409, 413, 500, 503),
    answer_description="The user created (or, for a known externalId, the user it made).",
    build=CreateUser.wired,
)
