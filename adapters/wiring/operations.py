"""Operator tasks shared by the CLI and the demo: bootstrap an org, create users with keys,
and check an audit trail (chain and signed evidence)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from functools import partial
from typing import Any, NamedTuple

import attrs

from adapters.crypto import generate_key_credential
from adapters.crypto.keys import algorithm_for_public_key
from adapters.crypto.webauthn import cose_key_from_pem
from adapters.wiring.bootstrap import Deployment
from archive_core.audit import AuditRecord, ChainVerification, verify_audit_chain
from archive_core.audit_tree import TreeBreak, first_tree_break
from archive_core.entities import (
    FULL_ADMIN,
    Credential,
    CredentialKind,
    Grants,
    User,
    UserKind,
)
from archive_core.errors import AlreadyExists, ArchiveCoreError
from archive_core.ids import OrgId, UserId
from archive_core.operations import KNOWN_PERMISSIONS
from archive_core.ports import UnitOfWork
from archive_core.user_action import reverify_evidence

__all__ = [
    "AuditCheck",
    "NewOrg",
    "NewUser",
    "OperatorError",
    "add_credential",
    "bootstrap_org",
    "check_audit",
    "create_user",
    "walk_users",
]

KEY_CHOICES = ("ed25519", "p256", "secp256k1", "rsa")
#: How many users `walk_users` reads per unit of work.
WALK_PAGE = 200
TOKEN_TTL = timedelta(hours=24)


@attrs.frozen
class NewUser:
    """A user just created (`create_user`, `bootstrap_org`), with its key pair and its
    bearer token when they were asked for."""

    #: the user as stored: `.id` (`us-…`), `.org_id` (`or-…`), `.username`, `.kind`
    user: User
    #: its `Key` credential when a key was asked for: `.cred_id` is what a signer names
    credential: Credential | None = None
    #: the credential's private key (PKCS#8 PEM), returned once and never stored: hand it
    #: to the user's signer (`adapters.client.KeySigner(credential.cred_id, pem)`)
    private_key_pem: str | None = None
    #: a `Login` bearer token valid for 24 hours, when one was asked for
    auth_token: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON keys of `users create` (and, with `orgId`, of `bootstrap`)."""
        result: dict[str, Any] = {
            "userId": self.user.id,
            "username": self.user.username,
            "kind": self.user.kind.value,
            "orgId": self.user.org_id,
        }
        if self.credential is not None:
            result["credId"] = self.credential.cred_id
            result["privateKeyPem"] = self.private_key_pem
        if self.auth_token is not None:
            result["authToken"] = self.auth_token
        return result


def create_user(
    deployment: Deployment,
    org_id: OrgId,
    username: str,
    kind: UserKind,
    *,
    operations: Iterable[str] = (),
    key_algorithm: str | None = None,
    token: bool = False,
) -> NewUser:
    """A new user of an existing org, returned as a `NewUser`: `operations` become one
    permission (`DfnsFullAdminAccess` is the built-in full grant); `key_algorithm`
    registers a `Key` credential with a fresh key pair (`credential`,
    `private_key_pem`); `token` issues a `Login` bearer token (`auth_token`). What was
    not asked for is None.

    Raises OperatorError when the org has no user yet (orgs exist through their users;
    `bootstrap_org` makes one) or an operation is not a known permission
    (`KNOWN_PERMISSIONS`), before anything is written; ArchiveCoreError when the username
    breaks the rule or is taken in the org."""
    operations = tuple(operations)
    unknown = [op for op in operations if op not in KNOWN_PERMISSIONS]
    if unknown:
        raise OperatorError(
            f"--permission {unknown[0]!r} is not a known permission (see docs/permissions.md)"
        )
    with deployment.storage.uow_factory() as uow:
        known_org = uow.users.org_exists(org_id)
    if not known_org:
        raise OperatorError(f"--org {org_id} is not an org of this store: it has no user")
    return _new_user(
        deployment,
        org_id,
        username,
        kind,
        operations=operations,
        key_algorithm=key_algorithm,
        token=token,
    )


def _new_user(
    deployment: Deployment,
    org_id: OrgId,
    username: str,
    kind: UserKind,
    *,
    operations: tuple[str, ...],
    key_algorithm: str | None,
    token: bool,
) -> NewUser:
    provisioning = deployment.provisioning
    user = provisioning.create_user(org_id, username, kind)
    ops = [op for op in operations if op != FULL_ADMIN]
    if FULL_ADMIN in operations:
        provisioning.assign(provisioning.create_permission(org_id, FULL_ADMIN, ()), user)
    if ops:
        provisioning.grant(user, ops)
    credential = private_pem = None
    if key_algorithm is not None:
        private_pem, public_pem, algorithm = generate_key_credential(key_algorithm)  # type: ignore[arg-type]
        credential = provisioning.register_credential(
            user,
            kind=CredentialKind.KEY,
            cred_id=secrets.token_urlsafe(24),
            public_key=public_pem,
            algorithm=algorithm,
        )
    auth_token = deployment.issue_bearer_token(user.id, ttl=TOKEN_TTL) if token else None
    return NewUser(user, credential, private_pem, auth_token)


class OperatorError(Exception):
    """An operator task refused its input; the message is one line, safe to print (input
    it names is shown by its `repr`)."""


def add_credential(
    deployment: Deployment,
    user_id: str,
    kind: CredentialKind,
    public_key_pem: str,
    cred_id: str,
    *,
    encrypted_private_key: str | None = None,
) -> Credential:
    """Register a credential for an existing, active user from a PEM public key (SPKI, or
    PKCS#1 for RSA). Key kinds store the PEM with its default algorithm; `Fido2` stores
    the COSE form derived from it. A bad key raises ArchiveCoreError(CREDENTIAL_REJECTED)."""
    if not cred_id or len(cred_id) > 1024 or not cred_id.isascii() or not cred_id.isprintable():
        raise OperatorError("--cred-id must be 1 to 1024 printable ASCII characters")
    with deployment.storage.uow_factory() as uow:
        user = uow.users.get(UserId(user_id))
    if user is None or user.is_archived or not user.is_active:
        raise OperatorError("no active user with that id")
    if kind is CredentialKind.FIDO2:
        public_key, algorithm = cose_key_from_pem(public_key_pem)
    else:
        public_key, algorithm = public_key_pem, algorithm_for_public_key(public_key_pem)
    try:
        return deployment.provisioning.register_credential(
            user,
            kind=kind,
            cred_id=cred_id,
            public_key=public_key,
            algorithm=algorithm,
            encrypted_private_key=encrypted_private_key,
        )
    except AlreadyExists as exc:
        raise OperatorError("a credential with that --cred-id is already registered") from exc


class NewOrg(NamedTuple):
    """What `bootstrap_org` made: `admin, app_id = bootstrap_org(deployment)`."""

    #: the org's first user: `DfnsFullAdminAccess`, a `Key` credential with its private
    #: key, a bearer token (`admin.user.org_id` is the new org's id)
    admin: NewUser
    #: the org's application (`X-DFNS-APPID`), named `default`
    app_id: str


def bootstrap_org(
    deployment: Deployment, *, key_algorithm: str = "ed25519", username: str | None = None
) -> NewOrg:
    """A new org with an application and an admin: `DfnsFullAdminAccess`, a `Key`
    credential of `key_algorithm` (its private key returned once, in
    `admin.private_key_pem`) and a `Login` bearer token (`admin.auth_token`).
    `username` defaults to `admin.<org>@example.com`."""
    org_id = deployment.provisioning.new_org_id()
    # The admin first: a username the rule refuses leaves nothing behind.
    admin = _new_user(
        deployment,
        org_id,
        username or f"admin.{org_id.split('-')[1]}@example.com",
        UserKind.CUSTOMER_EMPLOYEE,
        operations=(FULL_ADMIN,),
        key_algorithm=key_algorithm,
        token=True,
    )
    app = deployment.provisioning.create_application(org_id, "default")
    return NewOrg(admin, app.id)


@attrs.frozen
class AuditCheck:
    """The audit trail and what re-checking it found."""

    records: list[AuditRecord]
    chain: ChainVerification
    evidence_failures: list[tuple[str, str]]
    #: Each org's stored Merkle tree against its records (`audit_tree.first_tree_break`).
    tree_breaks: list[TreeBreak] = attrs.field(factory=list)

    @property
    def ok(self) -> bool:
        """Chain intact, every signature re-verified, every tree the records' own."""
        return self.chain.ok and not self.evidence_failures and not self.tree_breaks


def check_audit(
    deployment: Deployment,
    org_id: OrgId | None = None,
    *,
    on_record: Callable[[int, int], None] | None = None,
    on_tree: Callable[[int, int], None] | None = None,
) -> AuditCheck:
    """Read the audit records (of one org, or all), verify the hash chains, check each
    org's Merkle tree against its records and re-verify every signed evidence with the
    credential verifiers, offline. `on_tree(done, total)` is called as records' leaves are
    checked against the trees, `on_record(done, total)` after each record's evidence is
    re-verified (progress reports). One org's records and tree are read in its turn (`audit.head`),
    so that no append lands between them; all orgs' are read in one unit of work."""
    with deployment.storage.uow_factory() as uow:
        if org_id is not None:
            uow.audit.head(org_id)
        records = uow.audit.records(org_id)
        tree_breaks = _tree_breaks(uow, records, on_tree)
    failures: list[tuple[str, str]] = []
    total = len(records)
    for done, record in enumerate(records, start=1):
        for evidence in record.evidence:
            try:
                reverify_evidence(evidence, deployment.verifiers)
            except ArchiveCoreError as exc:
                failures.append((record.id, exc.reason or exc.code))
        if on_record is not None:
            on_record(done, total)
    return AuditCheck(records, verify_audit_chain(records), failures, tree_breaks)


def _tree_breaks(
    uow: UnitOfWork, records: list[AuditRecord], on_tree: Callable[[int, int], None] | None
) -> list[TreeBreak]:
    by_org: dict[OrgId, list[AuditRecord]] = {}
    for record in records:
        by_org.setdefault(record.org_id, []).append(record)
    breaks = []
    checked = 0
    for org, chain in by_org.items():
        progress = None
        if on_tree is not None:
            progress = partial(lambda before, count: on_tree(before + count, len(records)), checked)
        broken = first_tree_break(
            org,
            chain,
            size=uow.audit.tree_size(org),
            read=partial(uow.audit.subtrees, org),
            on_records=progress,
        )
        if broken is not None:
            breaks.append(broken)
        checked += len(chain)
    return breaks


def walk_users(
    deployment: Deployment, org_id: OrgId, kinds: Iterable[UserKind] = ()
) -> Iterator[tuple[User, Grants]]:
    """The org's users not archived (of `kinds`; any when empty), in id order, each with
    its grants: keyset pages of `WALK_PAGE`, each read in a unit of work of its own, so
    that an org of any size is walked in bounded memory without holding the store."""
    chosen = frozenset(kinds)
    if chosen == frozenset(UserKind):
        chosen = frozenset()
    after: UserId | None = None
    while True:
        with deployment.storage.uow_factory() as uow:
            page = uow.users.list_users(org_id, after=after, kinds=chosen, limit=WALK_PAGE)
            held = uow.permissions.assignments_of_users([u.id for u in page])
            pairs = [(u, Grants.of(held[u.id], org_id)) for u in page]
        yield from pairs
        if len(page) < WALK_PAGE:
            return
        after = page[-1].id
