"""Creating what the archive flow acts on: orgs, applications, users, credentials, permissions.

These are administrative operations of the embedding application (the CLI's
`bootstrap` and `users create` use them); they take no bearer token. Public keys
are validated through the signature verifier of their kind before they are stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from archive_core.entities import (
    FULL_ADMIN,
    Application,
    Assignment,
    Credential,
    CredentialKind,
    Permission,
    User,
    UserKind,
)
from archive_core.errors import AlreadyExists, ArchiveCoreError, Catalogue
from archive_core.ids import (
    AppId,
    AssignmentId,
    CredentialUuid,
    OrgId,
    PermissionId,
    UserId,
    new_id,
)
from archive_core.ports import Randomness, SignatureVerifier, UnitOfWork, UnitOfWorkFactory
from archive_core.usernames import check_username

__all__ = ["Provisioning", "add_new_user"]


@attrs.frozen(kw_only=True)
class Provisioning:
    """Administrative writes, each in its own unit of work."""

    uow_factory: UnitOfWorkFactory
    randomness: Randomness
    verifiers: Mapping[CredentialKind, SignatureVerifier]

    def new_org_id(self) -> OrgId:
        """A fresh org id (orgs exist through what belongs to them)."""
        return OrgId(new_id("or", self.randomness))

    def create_application(self, org_id: OrgId, name: str) -> Application:
        """A new active application of the org."""
        app = Application(id=AppId(new_id("ap", self.randomness)), org_id=org_id, name=name)
        with self.uow_factory() as uow:
            uow.applications.add(app)
            uow.commit()
        return app

    def create_user(
        self,
        org_id: OrgId,
        username: str,
        kind: UserKind,
        *,
        is_service_account: bool = False,
        is_registered: bool = True,
    ) -> User:
        """A new active user of the org (its credential uuid is reserved now).

        The username must follow the rule of `usernames.check_username` (400
        `username_invalid`) and be free in the org (409 `username_taken`: a user not
        archived has it, compared with `str.casefold()`; the store decides, so two
        concurrent creations of one name never both succeed). User ids are random, so a
        refusal of the store is the name's.
        """
        check_username(username)
        with self.uow_factory() as uow:
            user = add_new_user(
                uow,
                self.randomness,
                org_id=org_id,
                username=username,
                kind=kind,
                is_service_account=is_service_account,
                is_registered=is_registered,
            )
            uow.commit()
        return user

    def register_credential(
        self,
        user: User,
        *,
        kind: CredentialKind,
        cred_id: str,
        public_key: str,
        algorithm: str,
        encrypted_private_key: str | None = None,
    ) -> Credential:
        """Validate the key material with the kind's verifier, then store the credential.

        The user's first credential takes the uuid reserved at user creation.
        """
        verifier = self.verifiers.get(kind)
        if verifier is None:
            raise ArchiveCoreError(Catalogue.CREDENTIAL_REJECTED, reason="kind_not_supported")
        verifier.validate_public_key(kind, algorithm, public_key)
        with self.uow_factory() as uow:
            existing = uow.credentials.list_for_user(user.id)
            uuid = (
                user.credential_uuid
                if not existing
                else CredentialUuid(new_id("cr", self.randomness))
            )
            credential = Credential(
                uuid=uuid,
                cred_id=cred_id,
                user_id=user.id,
                org_id=user.org_id,
                kind=kind,
                public_key=public_key,
                algorithm=algorithm,
                encrypted_private_key=encrypted_private_key,
            )
            uow.credentials.add(credential)
            uow.commit()
        return credential

    def create_permission(self, org_id: OrgId, name: str, operations: Iterable[str]) -> Permission:
        """A new permission of the org. `DfnsFullAdminAccess` is the built-in full grant."""
        permission = Permission(
            id=PermissionId(new_id("pm", self.randomness)),
            org_id=org_id,
            name=name,
            operations=() if name == FULL_ADMIN else tuple(operations),
        )
        with self.uow_factory() as uow:
            uow.permissions.add_permission(permission)
            uow.commit()
        return permission

    def assign(self, permission: Permission, user: User) -> Assignment:
        """Assign a permission to a user of the same org."""
        if permission.org_id != user.org_id:
            raise ValueError("a permission can only be assigned within its org")
        assignment = Assignment(
            id=AssignmentId(new_id("as", self.randomness)),
            permission_id=permission.id,
            identity_id=user.id,
            org_id=user.org_id,
        )
        with self.uow_factory() as uow:
            uow.permissions.assign(assignment)
            uow.commit()
        return assignment

    def grant(
        self, user: User, operations: Iterable[str], *, name: str | None = None
    ) -> Permission:
        """Create a permission with these operations and assign it to the user (a shortcut)."""
        ops = tuple(operations)
        permission = self.create_permission(
            user.org_id, name or f"{user.username}: {', '.join(ops)}"[:128], ops
        )
        self.assign(permission, user)
        return permission


def add_new_user(
    uow: UnitOfWork,
    randomness: Randomness,
    *,
    org_id: OrgId,
    username: str,
    kind: UserKind,
    is_service_account: bool = False,
    is_registered: bool = True,
    is_sso_required: bool = False,
    external_id: str | None = None,
) -> User:
    """A new active user of the org with fresh ids (its credential uuid reserved), added in
    `uow`; 409 `username_taken` when a user not archived of the org holds the name (the
    store decides: user ids are random, so a refusal of the store is the name's)."""
    user = User(
        id=UserId(new_id("us", randomness)),
        org_id=org_id,
        username=username,
        kind=kind,
        credential_uuid=CredentialUuid(new_id("cr", randomness)),
        is_service_account=is_service_account,
        is_registered=is_registered,
        is_sso_required=is_sso_required,
        external_id=external_id,
    )
    try:
        uow.users.add(user)
    except AlreadyExists as taken:
        raise ArchiveCoreError(Catalogue.USERNAME_TAKEN, reason="username_taken") from taken
    return user
