"""The contract of `UnitOfWork` / `UnitOfWorkFactory` and the six repositories in it.

Every adapter subclasses `UnitOfWorkContract` (memory, SQLite, PostgreSQL, and any
third-party adapter) and implements `open`: the suite is the port's specification
in executable form; `adapters/storage/memory.py` is its reference implementation.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import ClassVar, TypeVar

import attrs
import pytest

from adapters.testing.contracts import samples
from adapters.testing.contracts.audit_tree import AuditTreeContract
from adapters.testing.contracts.samples import ARCHIVE_OPS, T0, T0_PARIS
from archive_core.audit import AuditRecord, AuditWindow, verify_audit_chain
from archive_core.entities import (
    Application,
    Assignment,
    Credential,
    CredentialKind,
    Permission,
    User,
    UserActionRecord,
    UserKind,
)
from archive_core.errors import AlreadyExists, ConcurrencyConflict
from archive_core.ids import AppId, AssignmentId, CredentialUuid, OrgId, PermissionId, UserId
from archive_core.ports import ConsumeStatus, UnitOfWork, UnitOfWorkFactory

T = TypeVar("T")
THREADS = 8


def committed(factory: UnitOfWorkFactory, work: Callable[[UnitOfWork], T]) -> T:
    """Run `work` in a unit of work and commit it."""
    with factory() as uow:
        result = work(uow)
        uow.commit()
    return result


def read(factory: UnitOfWorkFactory, work: Callable[[UnitOfWork], T]) -> T:
    """Run `work` in a unit of work that is not committed."""
    with factory() as uow:
        return work(uow)


def store(factory: UnitOfWorkFactory, *values: object) -> None:
    """Add each value through its repository, in one committed unit of work."""
    with factory() as uow:
        for value in values:
            if isinstance(value, User):
                uow.users.add(value)
            elif isinstance(value, Credential):
                uow.credentials.add(value)
            elif isinstance(value, Application):
                uow.applications.add(value)
            elif isinstance(value, Permission):
                uow.permissions.add_permission(value)
            elif isinstance(value, Assignment):
                uow.permissions.assign(value)
            elif isinstance(value, UserActionRecord):
                uow.user_actions.add(value)
            elif isinstance(value, AuditRecord):
                uow.audit.append(value)
            else:
                raise TypeError(value)
        uow.commit()


def user_of(factory: UnitOfWorkFactory, user_id: UserId) -> User | None:
    """The stored user."""
    with factory() as uow:
        return uow.users.get(user_id)


def permission_of(factory: UnitOfWorkFactory, permission_id: PermissionId) -> Permission | None:
    """The stored permission."""
    with factory() as uow:
        return uow.permissions.get_permission(permission_id)


def race(count: int, work: Callable[[int], T]) -> list[T]:
    """Run `work(i)` on `count` threads released together by a barrier."""
    barrier = threading.Barrier(count)

    def start(i: int) -> T:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(start, range(count)))


def with_retries(factory: UnitOfWorkFactory, work: Callable[[UnitOfWork], None]) -> int:
    """Run and commit `work`, retrying on ConcurrencyConflict; return the conflicts seen."""
    for conflicts in range(1000):
        try:
            with factory() as uow:
                work(uow)
                uow.commit()
        except ConcurrencyConflict:
            continue
        return conflicts
    raise AssertionError("no progress after 1000 conflicts")


class UnitOfWorkContract(AuditTreeContract, abc.ABC):
    """What every unit of work and its repositories guarantee (each org's Merkle tree:
    `AuditTreeContract`)."""

    #: True when units of work never interleave (memory, SQLite): then a read followed
    #: by a write in one unit never meets a ConcurrencyConflict (and the suite checks so).
    serialised: ClassVar[bool] = False
    #: A store adds at most this many grants before it purges expired ones by itself
    #: (with `stored_user_actions`, the suite checks storage stays bounded).
    purge_every: ClassVar[int | None] = None

    @abc.abstractmethod
    def open(self, request: pytest.FixtureRequest) -> AbstractContextManager[UnitOfWorkFactory]:
        """A fresh, empty store; closed when the context ends (the one method to write)."""

    def stored_user_actions(self, factory: UnitOfWorkFactory) -> int | None:
        """How many grants the store holds right now (None: not measured, the bound is
        not checked)."""
        return None

    @pytest.fixture
    def factory(self, request: pytest.FixtureRequest) -> Iterator[UnitOfWorkFactory]:
        with self.open(request) as opened:
            yield opened

    # ------------------------------------------------------------------ users

    def test_an_unknown_user_is_none(self, factory: UnitOfWorkFactory) -> None:
        assert read(factory, lambda uow: uow.users.get(UserId("us-nobody"))) is None

    def test_users_round_trip_every_field(self, factory: UnitOfWorkFactory) -> None:
        org = samples.org_id()
        plain = samples.user(org)
        archived = samples.user(
            org,
            kind=UserKind.END_USER,
            is_active=False,
            archived_at=T0_PARIS,
            is_service_account=True,
            is_registered=False,
            version=7,
            is_sso_required=True,
            external_id="ext-7",
        )
        store(factory, plain, archived)
        assert read(factory, lambda uow: uow.users.get(plain.id)) == plain
        stored = read(factory, lambda uow: uow.users.get(archived.id))
        assert stored == archived
        assert stored is not None
        assert stored.archived_at == T0_PARIS

    def test_a_taken_user_id_is_refused_and_the_unit_stays_usable(
        self, factory: UnitOfWorkFactory
    ) -> None:
        org = samples.org_id()
        first = samples.user(org)
        committed(factory, lambda uow: uow.users.add(first))
        other = samples.user(org)
        with factory() as uow:
            with pytest.raises(AlreadyExists):
                uow.users.add(attrs.evolve(first, username="someone else"))
            uow.users.add(other)
            uow.commit()
        assert read(factory, lambda uow: uow.users.get(first.id)) == first
        assert read(factory, lambda uow: uow.users.get(other.id)) == other

    def test_an_update_at_the_expected_version_replaces_the_user(
        self, factory: UnitOfWorkFactory
    ) -> None:
        target = samples.user(samples.org_id())
        committed(factory, lambda uow: uow.users.add(target))
        archived = target.archived(T0_PARIS)
        committed(factory, lambda uow: uow.users.update(archived, expected_version=1))
        assert read(factory, lambda uow: uow.users.get(target.id)) == archived

    def test_a_cut_off_survives_deactivation_and_activation(
        self, factory: UnitOfWorkFactory
    ) -> None:
        target = samples.user(samples.org_id())
        committed(factory, lambda uow: uow.users.add(target))
        deactivated = target.deactivated(T0_PARIS)
        committed(factory, lambda uow: uow.users.update(deactivated, expected_version=1))
        assert read(factory, lambda uow: uow.users.get(target.id)) == deactivated
        activated = deactivated.activated()
        committed(factory, lambda uow: uow.users.update(activated, expected_version=2))
        stored = read(factory, lambda uow: uow.users.get(target.id))
        assert stored == activated
        assert stored is not None
        assert stored.is_active
        assert stored.cut_off_at == T0_PARIS

    def test_an_update_at_another_version_conflicts_and_changes_nothing(
        self, factory: UnitOfWorkFactory
    ) -> None:
        target = samples.user(samples.org_id(), version=3)
        committed(factory, lambda uow: uow.users.add(target))
        with factory() as uow, pytest.raises(ConcurrencyConflict):
            uow.users.update(target.archived(T0), expected_version=2)
        assert read(factory, lambda uow: uow.users.get(target.id)) == target

    def test_an_update_of_an_unknown_user_conflicts(self, factory: UnitOfWorkFactory) -> None:
        ghost = samples.user(samples.org_id())
        with factory() as uow, pytest.raises(ConcurrencyConflict):
            uow.users.update(ghost, expected_version=1)

    def test_a_stale_read_cannot_overwrite_a_committed_update(
        self, factory: UnitOfWorkFactory
    ) -> None:
        target = samples.user(samples.org_id())
        committed(factory, lambda uow: uow.users.add(target))
        stale = read(factory, lambda uow: uow.users.get(target.id))
        assert stale is not None
        committed(factory, lambda uow: uow.users.update(stale.archived(T0), expected_version=1))
        renamed = attrs.evolve(stale, username="renamed", version=2)
        with factory() as uow, pytest.raises(ConcurrencyConflict):
            uow.users.update(renamed, expected_version=stale.version)

    # ------------------------------------------------------------------ usernames

    def test_a_username_is_unique_per_org_compared_casefolded(
        self, factory: UnitOfWorkFactory
    ) -> None:
        org = samples.org_id()
        first = samples.user(org, username="Straße@Example.co")
        committed(factory, lambda uow: uow.users.add(first))
        same = samples.user(org, username="STRASSE@example.CO")
        other = samples.user(org, username="strasse@example.co.uk")
        with factory() as uow:
            with pytest.raises(AlreadyExists):
                uow.users.add(same)
            uow.users.add(other)  # the unit goes on
            uow.commit()
        elsewhere = samples.user(samples.org_id(), username=same.username)
        committed(factory, lambda uow: uow.users.add(elsewhere))
        assert read(factory, lambda uow: uow.users.get(same.id)) is None
        assert read(factory, lambda uow: uow.users.get(other.id)) == other
        assert read(factory, lambda uow: uow.users.get(elsewhere.id)) == elsewhere

    def test_a_renamed_user_takes_its_new_name_and_frees_the_old(
        self, factory: UnitOfWorkFactory
    ) -> None:
        org = samples.org_id()
        carol = samples.user(org, username="carol@example.co")
        dave = samples.user(org, username="dave@example.co")
        store(factory, carol, dave)
        renamed = attrs.evolve(carol, username="Caroline@example.co", version=2)
        committed(factory, lambda uow: uow.users.update(renamed, expected_version=1))
        assert read(factory, lambda uow: uow.users.get(carol.id)) == renamed
        # its old name is free, its new one taken (casefolded), its own case change fine
        committed(factory, lambda uow: uow.users.add(samples.user(org, username=carol.username)))
        with factory() as uow, pytest.raises(AlreadyExists):
            uow.users.add(samples.user(org, username="CAROLINE@example.co"))
        recased = attrs.evolve(renamed, username="caroline@example.co", version=3)
        committed(factory, lambda uow: uow.users.update(recased, expected_version=2))
        assert read(factory, lambda uow: uow.users.get(carol.id)) == recased

    def test_a_rename_to_another_users_name_changes_nothing(
        self, factory: UnitOfWorkFactory
    ) -> None:
        org = samples.org_id()
        erin = samples.user(org, username="erin@example.co")
        frank = samples.user(org, username="frank@example.co")
        gone = samples.user(org, username="gone@example.co")
        store(factory, erin, frank, gone)
        committed(factory, lambda uow: uow.users.update(gone.archived(T0), expected_version=1))
        with factory() as uow, pytest.raises(AlreadyExists):
            uow.users.update(
                attrs.evolve(erin, username="FRANK@example.co", version=2), expected_version=1
            )
        assert read(factory, lambda uow: uow.users.get(erin.id)) == erin
        # an archived user's name is free to take
        freed = attrs.evolve(erin, username="gone@example.co", version=2)
        committed(factory, lambda uow: uow.users.update(freed, expected_version=1))
        with factory() as uow, pytest.raises(AlreadyExists):
            uow.users.add(samples.user(org, username="Gone@example.co"))

    def test_an_archived_user_frees_its_name_and_a_deactivated_one_keeps_it(
        self, factory: UnitOfWorkFactory
    ) -> None:
        org = samples.org_id()
        leaving = samples.user(org, username="Alice@example.co")
        resting = samples.user(org, username="bob@example.co")
        store(factory, leaving, resting)
        committed(factory, lambda uow: uow.users.update(leaving.archived(T0), expected_version=1))
        committed(
            factory, lambda uow: uow.users.update(resting.deactivated(T0), expected_version=1)
        )
        successor = samples.user(org, username="alice@example.co")
        committed(factory, lambda uow: uow.users.add(successor))
        assert read(factory, lambda uow: uow.users.get(successor.id)) == successor
        with factory() as uow, pytest.raises(AlreadyExists):
            uow.users.add(samples.user(org, username="BOB@example.co"))

    def test_archived_users_never_hold_a_name(self, factory: UnitOfWorkFactory) -> None:
        org = samples.org_id()
        gone = [
            samples.user(org, username="carol@example.co", is_active=False, archived_at=T0)
            for _ in range(2)
        ]
        present = samples.user(org, username="Carol@example.co")
        store(factory, *gone, present)
        assert [user_of(factory, u.id) for u in gone] == gone
        assert read(factory, lambda uow: uow.users.get(present.id)) == present

    def test_a_rolled_back_add_frees_the_name(self, factory: UnitOfWorkFactory) -> None:
        org = samples.org_id()
        with factory() as uow:
            uow.users.add(samples.user(org, username="dave@example.co"))
            uow.rollback()
            kept = samples.user(org, username="dave@example.co")
            uow.users.add(kept)
            uow.commit()
        assert read(factory, lambda uow: uow.users.get(kept.id)) == kept

    def test_an_org_exists_through_its_users_archived_or_not(
        self, factory: UnitOfWorkFactory
    ) -> None:
        org = samples.org_id()
        assert not read(factory, lambda uow: uow.users.org_exists(org))
        with factory() as uow:
            uow.users.add(samples.user(org))
            assert uow.users.org_exists(org)  # its own write
        assert not read(factory, lambda uow: uow.users.org_exists(org))  # rolled back
        member = samples.user(org)
        committed(factory, lambda uow: uow.users.add(member))
        committed(factory, lambda uow: uow.users.update(member.archived(T0), expected_version=1))
        assert read(factory, lambda uow: uow.users.org_exists(org))
        assert not read(factory, lambda uow: uow.users.org_exists(samples.org_id()))

    # ------------------------------------------------------------------ create and list

    def test_an_external_id_finds_its_user_not_archived_and_is_unique_among_them(
        self, factory: UnitOfWorkFactory
    ) -> None:
        org = samples.org_id()
        first = samples.user(org, external_id="crm-1")
        store(factory, first)
        found = read(factory, lambda uow: uow.users.find_by_external_id(org, "crm-1"))
        assert found == first
        assert read(factory, lambda uow: uow.users.find_by_external_id(org, "crm-2")) is None
        elsewhere = samples.org_id()
        assert read(factory, lambda uow: uow.users.find_by_external_id(elsewhere, "crm-1")) is None
        with factory() as uow, pytest.raises(AlreadyExists):
            uow.users.add(samples.user(org, external_id="crm-1"))
        store(factory, samples.user(elsewhere, external_id="crm-1"))  # another org's
        committed(factory, lambda uow: uow.users.update(first.archived(T0), expected_version=1))
        assert read(factory, lambda uow: uow.users.find_by_external_id(org, "crm-1")) is None
        successor = samples.user(org, external_id="crm-1")
        store(factory, successor)
        assert read(factory, lambda uow: uow.users.find_by_external_id(org, "crm-1")) == successor

    def test_a_page_of_users_is_the_orgs_not_archived_in_id_order_after_a_key(
        self, factory: UnitOfWorkFactory
    ) -> None:
        org = samples.org_id()
        users = [
            samples.user(
                org,
                id=UserId(f"us-list-{n:03d}"),
                kind=UserKind.END_USER if n % 3 == 0 else UserKind.CUSTOMER_EMPLOYEE,
            )
            for n in (7, 3, 11, 5, 1, 9, 2)
        ]
        gone = samples.user(org, id=UserId("us-list-004"), is_active=False, archived_at=T0)
        resting = samples.user(org, id=UserId("us-list-006"), is_active=False)
        store(factory, *users, gone, resting, samples.user(samples.org_id()))
        listed = sorted([*users, resting], key=lambda u: u.id)
        everyone = frozenset[UserKind]()

        def page(after: str | None, kinds: frozenset[UserKind], limit: int) -> list[User]:
            return read(
                factory,
                lambda uow: uow.users.list_users(
                    org, after=None if after is None else UserId(after), kinds=kinds, limit=limit
                ),
            )

        assert page(None, everyone, 100) == listed
        assert page(None, frozenset(UserKind), 100) == listed
        assert page(None, everyone, 3) == listed[:3]
        assert page(listed[2].id, everyone, 3) == listed[3:6]
        assert page("us-list-004", everyone, 2) == listed[3:5]  # an archived key
        assert page(listed[-1].id, everyone, 3) == []
        end_users = [u for u in listed if u.kind is UserKind.END_USER]
        assert page(None, frozenset({UserKind.END_USER}), 100) == end_users
        assert page(end_users[0].id, frozenset({UserKind.END_USER}), 1) == end_users[1:2]
        employees = [u for u in listed if u.kind is UserKind.CUSTOMER_EMPLOYEE]
        assert page(None, frozenset({UserKind.CUSTOMER_EMPLOYEE}), 100) == employees
        assert page(None, everyone, 1) == listed[:1]
        assert (
            read(
                factory,
                lambda uow: uow.users.list_users(
                    samples.org_id(), after=None, kinds=everyone, limit=10
                ),
            )
            == []
        )

    # ------------------------------------------------------------------ lock-out guard query

    def _holder(
        self, factory: UnitOfWorkFactory, *, exclude: UserId, org: OrgId, **kwargs: object
    ) -> bool:
        operations = kwargs.pop("operations", frozenset(ARCHIVE_OPS))
        kinds = kwargs.pop("kinds", frozenset(UserKind))
        service_accounts = kwargs.pop("include_service_accounts", False)
        assert not kwargs
        return read(
            factory,
            lambda uow: uow.users.has_other_active_holder(
                org,
                operations=operations,  # type: ignore[arg-type]  # popped from kwargs
                kinds=kinds,  # type: ignore[arg-type]  # popped from kwargs
                exclude=exclude,
                include_service_accounts=bool(service_accounts),
            ),
        )

    def _org_with_target(self, factory: UnitOfWorkFactory) -> tuple[OrgId, User]:
        """An org whose only archiver is `target` (holding all archive operations)."""
        org = samples.org_id()
        target = samples.user(org)
        granted = samples.permission(org)

        def seed(uow: UnitOfWork) -> None:
            uow.users.add(target)
            uow.permissions.add_permission(granted)
            uow.permissions.assign(samples.assignment(granted, target))

        committed(factory, seed)
        return org, target

    def _add_holder(
        self,
        factory: UnitOfWorkFactory,
        org: OrgId,
        *granted: Permission,
        **user_changes: object,
    ) -> User:
        holder = samples.user(org, **user_changes)

        def seed(uow: UnitOfWork) -> None:
            uow.users.add(holder)
            for permission in granted:
                if uow.permissions.get_permission(permission.id) is None:
                    uow.permissions.add_permission(permission)
                uow.permissions.assign(samples.assignment(permission, holder))

        committed(factory, seed)
        return holder

    def test_the_only_holder_has_no_other(self, factory: UnitOfWorkFactory) -> None:
        org, target = self._org_with_target(factory)
        self._add_holder(factory, org)  # an active user without permissions
        assert not self._holder(factory, exclude=target.id, org=org)

    def test_another_user_holding_every_operation_counts(self, factory: UnitOfWorkFactory) -> None:
        org, target = self._org_with_target(factory)
        self._add_holder(factory, org, samples.permission(org))
        assert self._holder(factory, exclude=target.id, org=org)

    def test_operations_may_come_from_several_permissions(self, factory: UnitOfWorkFactory) -> None:
        org, target = self._org_with_target(factory)
        self._add_holder(
            factory,
            org,
            samples.permission(org, ("Auth:Users:Update", "Wallets:Read")),
            samples.permission(org, ("Auth:Types:Employee",)),
            samples.permission(org, ("Auth:Types:EndUser",)),
        )
        assert self._holder(factory, exclude=target.id, org=org)

    def test_a_holder_missing_one_operation_does_not_count(
        self, factory: UnitOfWorkFactory
    ) -> None:
        org, target = self._org_with_target(factory)
        self._add_holder(factory, org, samples.permission(org, ARCHIVE_OPS[:2]))
        self._add_holder(factory, org, samples.permission(org, ARCHIVE_OPS[1:]))
        assert not self._holder(factory, exclude=target.id, org=org)

    def test_a_full_admin_counts(self, factory: UnitOfWorkFactory) -> None:
        org, target = self._org_with_target(factory)
        self._add_holder(factory, org, samples.full_admin(org))
        assert self._holder(factory, exclude=target.id, org=org)

    def test_archived_permissions_do_not_count(self, factory: UnitOfWorkFactory) -> None:
        org, target = self._org_with_target(factory)
        self._add_holder(factory, org, samples.permission(org, is_archived=True))
        admin = samples.full_admin(org)
        self._add_holder(factory, org, attrs.evolve(admin, is_archived=True))
        assert not self._holder(factory, exclude=target.id, org=org)

    def test_permissions_of_another_org_do_not_count(self, factory: UnitOfWorkFactory) -> None:
        org, target = self._org_with_target(factory)
        elsewhere = samples.org_id()
        self._add_holder(factory, org, samples.permission(elsewhere), samples.full_admin(elsewhere))
        assert not self._holder(factory, exclude=target.id, org=org)

    def test_users_of_another_org_do_not_count(self, factory: UnitOfWorkFactory) -> None:
        org, target = self._org_with_target(factory)
        elsewhere = samples.org_id()
        self._add_holder(factory, elsewhere, samples.permission(elsewhere))
        self._add_holder(factory, elsewhere, samples.full_admin(elsewhere))
        assert not self._holder(factory, exclude=target.id, org=org)

    def test_inactive_and_archived_holders_do_not_count(self, factory: UnitOfWorkFactory) -> None:
        org, target = self._org_with_target(factory)
        self._add_holder(factory, org, samples.permission(org), is_active=False)
        self._add_holder(
            factory, org, samples.full_admin(org), is_active=False, archived_at=T0, version=2
        )
        assert not self._holder(factory, exclude=target.id, org=org)

    def test_service_accounts_count_only_when_asked(self, factory: UnitOfWorkFactory) -> None:
        org, target = self._org_with_target(factory)
        self._add_holder(factory, org, samples.permission(org), is_service_account=True)
        assert not self._holder(factory, exclude=target.id, org=org)
        assert self._holder(factory, exclude=target.id, org=org, include_service_accounts=True)

    def test_the_excluded_user_is_excluded(self, factory: UnitOfWorkFactory) -> None:
        org, target = self._org_with_target(factory)
        other = self._add_holder(factory, org, samples.permission(org))
        assert self._holder(factory, exclude=target.id, org=org)
        assert self._holder(factory, exclude=other.id, org=org)

    def test_no_operations_asked_means_any_other_active_user(
        self, factory: UnitOfWorkFactory
    ) -> None:
        org, target = self._org_with_target(factory)
        assert not self._holder(factory, exclude=target.id, org=org, operations=frozenset())
        self._add_holder(factory, org, is_active=False)
        assert not self._holder(factory, exclude=target.id, org=org, operations=frozenset())
        self._add_holder(factory, org)
        assert self._holder(factory, exclude=target.id, org=org, operations=frozenset())

    def test_only_holders_of_the_given_kinds_count(self, factory: UnitOfWorkFactory) -> None:
        org, target = self._org_with_target(factory)
        self._add_holder(factory, org, samples.permission(org), kind=UserKind.END_USER)
        self._add_holder(factory, org, samples.full_admin(org), kind=UserKind.END_USER)
        employees = frozenset({UserKind.CUSTOMER_EMPLOYEE})
        end_users = frozenset({UserKind.END_USER})
        assert not self._holder(factory, exclude=target.id, org=org, kinds=employees)
        assert self._holder(factory, exclude=target.id, org=org, kinds=end_users)
        assert self._holder(factory, exclude=target.id, org=org)
        assert not self._holder(factory, exclude=target.id, org=org, kinds=frozenset())

    def test_the_kinds_apply_when_no_operations_are_asked(self, factory: UnitOfWorkFactory) -> None:
        org, target = self._org_with_target(factory)
        self._add_holder(factory, org, kind=UserKind.END_USER)
        nothing = frozenset[str]()
        employees = frozenset({UserKind.CUSTOMER_EMPLOYEE})
        assert not self._holder(
            factory, exclude=target.id, org=org, operations=nothing, kinds=employees
        )
        assert self._holder(factory, exclude=target.id, org=org, operations=nothing)

    def test_an_unknown_org_has_no_holder(self, factory: UnitOfWorkFactory) -> None:
        assert not self._holder(factory, exclude=UserId("us-x"), org=samples.org_id())

    # ------------------------------------------------------------------ credentials

    def test_credentials_round_trip_in_registration_order(self, factory: UnitOfWorkFactory) -> None:
        owner = samples.user(samples.org_id())
        first = samples.credential(owner, cred_id="zzz-registered-first")
        second = samples.credential(
            owner,
            cred_id="aaa-registered-second",
            kind=CredentialKind.PASSWORD_PROTECTED_KEY,
            encrypted_private_key="ZW5jcnlwdGVk",
            is_active=False,
            sign_count=41,
        )
        third = samples.credential(owner, kind=CredentialKind.FIDO2, sign_count=7)
        stranger = samples.credential(samples.user(owner.org_id))
        store(factory, first, second, stranger, third)
        assert read(factory, lambda uow: uow.credentials.list_for_user(owner.id)) == [
            first,
            second,
            third,
        ]
        assert read(factory, lambda uow: uow.credentials.get_by_cred_id(second.cred_id)) == second
        assert read(factory, lambda uow: uow.credentials.get_by_cred_id("unknown")) is None
        assert read(factory, lambda uow: uow.credentials.list_for_user(UserId("us-x"))) == []

    def test_a_taken_credential_uuid_or_cred_id_is_refused(
        self, factory: UnitOfWorkFactory
    ) -> None:
        owner = samples.user(samples.org_id())
        original = samples.credential(owner)
        committed(factory, lambda uow: uow.credentials.add(original))
        with factory() as uow:
            with pytest.raises(AlreadyExists):
                uow.credentials.add(attrs.evolve(original, cred_id="another-cred-id"))
            with pytest.raises(AlreadyExists):
                uow.credentials.add(
                    attrs.evolve(samples.credential(owner), cred_id=original.cred_id)
                )
            uow.commit()
        assert read(factory, lambda uow: uow.credentials.list_for_user(owner.id)) == [original]

    def test_the_sign_count_moves_only_from_the_expected_value(
        self, factory: UnitOfWorkFactory
    ) -> None:
        owner = samples.user(samples.org_id())
        cred = samples.credential(owner, sign_count=5)
        committed(factory, lambda uow: uow.credentials.add(cred))
        committed(
            factory,
            lambda uow: uow.credentials.update_sign_count(cred.uuid, new_count=9, expected_count=5),
        )
        with factory() as uow, pytest.raises(ConcurrencyConflict):
            uow.credentials.update_sign_count(cred.uuid, new_count=12, expected_count=5)
        with factory() as uow, pytest.raises(ConcurrencyConflict):
            uow.credentials.update_sign_count(
                CredentialUuid("cr-unknown"), new_count=1, expected_count=0
            )
        stored = read(factory, lambda uow: uow.credentials.get_by_cred_id(cred.cred_id))
        assert stored == attrs.evolve(cred, sign_count=9)

    # ------------------------------------------------------------------ applications

    def test_applications_round_trip(self, factory: UnitOfWorkFactory) -> None:
        org = samples.org_id()
        active = samples.application(org)
        inactive = samples.application(org, is_active=False, name="retired app")
        store(factory, active, inactive)
        assert read(factory, lambda uow: uow.applications.get(active.id)) == active
        assert read(factory, lambda uow: uow.applications.get(inactive.id)) == inactive
        assert read(factory, lambda uow: uow.applications.get(AppId("ap-x"))) is None
        with factory() as uow, pytest.raises(AlreadyExists):
            uow.applications.add(attrs.evolve(active, name="again"))

    # ------------------------------------------------------------------ permissions

    def test_permissions_round_trip(self, factory: UnitOfWorkFactory) -> None:
        org = samples.org_id()
        ordered = samples.permission(org, ("Z:Last", "A:First", "Z:Last"))
        archived = samples.permission(org, (), is_archived=True)
        admin = samples.full_admin(org)
        store(factory, ordered, archived, admin)
        for permission in (ordered, archived, admin):
            assert permission_of(factory, permission.id) == permission
        assert (
            read(factory, lambda uow: uow.permissions.get_permission(PermissionId("pm-x"))) is None
        )
        with factory() as uow, pytest.raises(AlreadyExists):
            uow.permissions.add_permission(attrs.evolve(ordered, name="again"))

    def test_assignments_come_back_in_assignment_order_with_their_permission(
        self, factory: UnitOfWorkFactory
    ) -> None:
        org = samples.org_id()
        holder = samples.user(org)
        granted = [
            samples.permission(org, ("B:Op",)),
            samples.permission(org, ("A:Op",), is_archived=True),
            samples.full_admin(org),
        ]
        links = [samples.assignment(p, holder) for p in granted]
        links[0] = attrs.evolve(links[0], id=AssignmentId("as-zzzz-first"))
        links[2] = attrs.evolve(links[2], id=AssignmentId("as-aaaa-last"))

        def seed(uow: UnitOfWork) -> None:
            for permission in granted:
                uow.permissions.add_permission(permission)
            for link in links:
                uow.permissions.assign(link)
            uow.permissions.assign(samples.assignment(granted[0], other))

        other = samples.user(org)
        committed(factory, seed)
        assigned = read(factory, lambda uow: uow.permissions.assignments_of(holder.id))
        assert [(a.assignment_id, a.permission) for a in assigned] == [
            (link.id, permission) for link, permission in zip(links, granted, strict=True)
        ]
        assert read(factory, lambda uow: uow.permissions.assignments_of(UserId("us-x"))) == []
        # several users at once: each its own, in the same order; none for a stranger
        nobody = UserId("us-x")
        many = read(
            factory, lambda uow: uow.permissions.assignments_of_users([nobody, other.id, holder.id])
        )
        assert list(many) == [nobody, other.id, holder.id]
        assert many[holder.id] == assigned and many[nobody] == []
        assert [a.permission for a in many[other.id]] == [granted[0]]
        assert read(factory, lambda uow: uow.permissions.assignments_of_users([])) == {}

    def test_assigning_an_unknown_permission_or_a_taken_id_is_refused(
        self, factory: UnitOfWorkFactory
    ) -> None:
        org = samples.org_id()
        holder = samples.user(org)
        granted = samples.permission(org)
        link = samples.assignment(granted, holder)
        store(factory, granted, link)
        with factory() as uow:
            with pytest.raises(LookupError):
                uow.permissions.assign(samples.assignment(samples.permission(org), holder))
            with pytest.raises(AlreadyExists):
                uow.permissions.assign(attrs.evolve(link, identity_id=UserId("us-other")))
            uow.commit()
        assert [
            a.assignment_id
            for a in read(factory, lambda uow: uow.permissions.assignments_of(holder.id))
        ] == [link.id]

    # ------------------------------------------------------------------ user action grants

    def test_a_grant_is_consumed_exactly_once(self, factory: UnitOfWorkFactory) -> None:
        record = samples.grant_record(samples.user(samples.org_id()))
        committed(factory, lambda uow: uow.user_actions.add(record))
        at = T0 + timedelta(seconds=30)
        first = committed(
            factory, lambda uow: uow.user_actions.consume(record.grant.token_id, at=at)
        )
        assert first.status is ConsumeStatus.CONSUMED
        assert first.record == attrs.evolve(record, used_at=at)
        again = committed(
            factory, lambda uow: uow.user_actions.consume(record.grant.token_id, at=at)
        )
        assert again.status is ConsumeStatus.ALREADY_USED
        assert again.record is None

    def test_an_unknown_grant_is_unknown(self, factory: UnitOfWorkFactory) -> None:
        outcome = read(factory, lambda uow: uow.user_actions.consume("ua-unknown", at=T0))
        assert outcome.status is ConsumeStatus.UNKNOWN
        assert outcome.record is None

    def test_a_grant_stored_as_used_is_already_used(self, factory: UnitOfWorkFactory) -> None:
        record = samples.grant_record(samples.user(samples.org_id()), used_at=T0)
        committed(factory, lambda uow: uow.user_actions.add(record))
        outcome = read(factory, lambda uow: uow.user_actions.consume(record.grant.token_id, at=T0))
        assert outcome.status is ConsumeStatus.ALREADY_USED

    def test_a_taken_token_id_is_refused(self, factory: UnitOfWorkFactory) -> None:
        record = samples.grant_record(samples.user(samples.org_id()))
        committed(factory, lambda uow: uow.user_actions.add(record))
        with factory() as uow, pytest.raises(AlreadyExists):
            uow.user_actions.add(attrs.evolve(record, evidence=()))

    def test_a_consumption_rolled_back_leaves_the_grant_unused(
        self, factory: UnitOfWorkFactory
    ) -> None:
        record = samples.grant_record(samples.user(samples.org_id()))
        committed(factory, lambda uow: uow.user_actions.add(record))
        status = read(
            factory, lambda uow: uow.user_actions.consume(record.grant.token_id, at=T0).status
        )
        assert status is ConsumeStatus.CONSUMED
        status = read(
            factory, lambda uow: uow.user_actions.consume(record.grant.token_id, at=T0).status
        )
        assert status is ConsumeStatus.CONSUMED

    def test_purge_forgets_grants_expired_before_now_used_or_not(
        self, factory: UnitOfWorkFactory
    ) -> None:
        holder = samples.user(samples.org_id())
        ttl = timedelta(minutes=5)
        expired = samples.grant_record(holder, issued_at=T0 - ttl - timedelta(seconds=1))
        expired_used = samples.grant_record(
            holder, issued_at=T0 - ttl - timedelta(seconds=2), used_at=T0
        )
        at_edge = samples.grant_record(holder, issued_at=T0 - ttl)  # expires exactly at T0
        live = samples.grant_record(holder, issued_at=T0)
        store(factory, expired, expired_used, at_edge, live)
        assert read(factory, lambda uow: uow.user_actions.purge(now=T0)) == 2  # not committed
        assert committed(factory, lambda uow: uow.user_actions.purge(now=T0)) == 2
        assert committed(factory, lambda uow: uow.user_actions.purge(now=T0)) == 0

        def status(token_id: str) -> ConsumeStatus:
            return read(factory, lambda uow: uow.user_actions.consume(token_id, at=T0).status)

        assert status(expired.grant.token_id) is ConsumeStatus.UNKNOWN
        assert status(expired_used.grant.token_id) is ConsumeStatus.UNKNOWN
        assert status(at_edge.grant.token_id) is ConsumeStatus.CONSUMED
        assert status(live.grant.token_id) is ConsumeStatus.CONSUMED

    def test_storage_stays_bounded_under_steady_load(self, factory: UnitOfWorkFactory) -> None:
        """Grants issued one per second, each living 60 s, never purged explicitly: the
        store purges by itself, so it never holds more than the live ones plus one
        purge interval."""
        purge_every = self.purge_every
        if purge_every is None or self.stored_user_actions(factory) is None:
            pytest.skip("set purge_every and stored_user_actions to check the bound")
        holder = samples.user(samples.org_id())
        ttl = timedelta(seconds=60)
        live = 61
        counts = []
        total = 10 * (live + purge_every)
        for step in range(total):
            record = samples.grant_record(holder, issued_at=T0 + timedelta(seconds=step), ttl=ttl)
            store(factory, record)
            counts.append(self.stored_user_actions(factory) or 0)
        assert max(counts) <= live + purge_every
        assert counts[-1] < total

    # ------------------------------------------------------------------ audit log

    def test_an_empty_log_has_no_head_and_no_records(self, factory: UnitOfWorkFactory) -> None:
        org = samples.org_id()
        assert read(factory, lambda uow: uow.audit.head(org)) is None
        assert read(factory, lambda uow: uow.audit.records(org)) == []
        assert read(factory, lambda uow: uow.audit.records()) == []

    def test_records_append_in_sequence_and_round_trip(self, factory: UnitOfWorkFactory) -> None:
        org = samples.org_id()
        chain: list[AuditRecord] = []
        for _ in range(3):
            record = samples.audit_record(org, chain[-1] if chain else None)
            store(factory, record)
            chain.append(record)
            assert read(factory, lambda uow: uow.audit.head(org)) == record
        assert read(factory, lambda uow: uow.audit.records(org)) == chain
        assert verify_audit_chain(read(factory, lambda uow: uow.audit.records())).ok

    def test_a_sequence_that_does_not_follow_the_head_conflicts(
        self, factory: UnitOfWorkFactory
    ) -> None:
        org = samples.org_id()
        first = samples.audit_record(org, None)
        second = samples.audit_record(org, first)
        third = samples.audit_record(org, second)
        with factory() as uow, pytest.raises(ConcurrencyConflict):
            uow.audit.append(second)  # the org has no first record yet
        committed(factory, lambda uow: uow.audit.append(first))
        with factory() as uow:
            with pytest.raises(ConcurrencyConflict):
                uow.audit.append(samples.audit_record(org, None))  # sequence 1 again
            with pytest.raises(ConcurrencyConflict):
                uow.audit.append(third)  # a gap
        assert read(factory, lambda uow: uow.audit.records(org)) == [first]

    def test_all_records_are_ordered_by_org_then_sequence(self, factory: UnitOfWorkFactory) -> None:
        # Byte order, not a locale's: "-" (0x2d) sorts before "a" and "Z" before "a".
        orgs = [samples.org_id(name) for name in ("aa-x", "a-zz", "Zed", "b")]
        heads: dict[OrgId, AuditRecord | None] = dict.fromkeys(orgs)
        for _ in range(2):
            for org in orgs:
                record = samples.audit_record(org, heads[org])
                store(factory, record)
                heads[org] = record
        records = read(factory, lambda uow: uow.audit.records())
        assert [(r.org_id, r.sequence) for r in records] == sorted(
            (org, sequence) for org in orgs for sequence in (1, 2)
        )
        assert verify_audit_chain(records).ok

    def test_a_record_is_found_by_its_id_in_its_own_org_only(
        self, factory: UnitOfWorkFactory
    ) -> None:
        org, other = samples.org_id(), samples.org_id()
        first = samples.audit_record(org, None)
        second = samples.audit_record(org, first)
        store(factory, first, second)
        assert read(factory, lambda uow: uow.audit.find(org, second.id)) == second
        assert read(factory, lambda uow: uow.audit.find(other, second.id)) is None
        assert read(factory, lambda uow: uow.audit.find(org, "au-none-test")) is None

    def _timeline(self, factory: UnitOfWorkFactory) -> tuple[OrgId, UserId, list[AuditRecord]]:
        """Six records of one org a minute apart from T0 (times written in Paris and in
        UTC alike), every other one by the same actor; one record of another org."""
        org = samples.org_id()
        actor = UserId(f"us-{samples.org_id()[3:]}-actor")
        chain: list[AuditRecord] = []
        for minute in range(6):
            at = T0 + timedelta(minutes=minute)
            if minute % 2:
                at = at.astimezone(T0_PARIS.tzinfo)
            record = samples.audit_record(
                org, chain[-1] if chain else None, at=at, actor=actor if minute % 2 else None
            )
            chain.append(record)
        store(factory, *chain, samples.audit_record(samples.org_id(), None, at=T0))
        return org, actor, chain

    def test_a_window_holds_the_records_performed_from_its_start_to_before_its_end(
        self, factory: UnitOfWorkFactory
    ) -> None:
        org, actor, chain = self._timeline(factory)
        minute = timedelta(minutes=1)
        window = AuditWindow(start=T0 + minute, end=T0 + 4 * minute)
        assert read(factory, lambda uow: uow.audit.survey(org, window, at_most=10)) == (3, 4)
        assert read(factory, lambda uow: uow.audit.survey(org, window, at_most=2)) == (2, 3)
        page = read(
            factory, lambda uow: uow.audit.window(org, window, after=0, through=6, limit=10)
        )
        assert page == chain[1:4]
        by_actor = AuditWindow(start=T0, end=T0 + 10 * minute, actor=actor)
        assert read(factory, lambda uow: uow.audit.survey(org, by_actor, at_most=10)) == (3, 6)
        assert read(
            factory, lambda uow: uow.audit.window(org, by_actor, after=0, through=6, limit=10)
        ) == [chain[1], chain[3], chain[5]]
        empty = AuditWindow(start=T0 - minute, end=T0)
        assert read(factory, lambda uow: uow.audit.survey(org, empty, at_most=10)) == (0, 0)
        nobody = AuditWindow(start=T0, end=T0 + minute, actor=UserId("us-nobody-test"))
        assert read(factory, lambda uow: uow.audit.survey(org, nobody, at_most=10)) == (0, 0)

    def test_a_window_is_read_in_keyset_pages(self, factory: UnitOfWorkFactory) -> None:
        org, _actor, chain = self._timeline(factory)
        window = AuditWindow(start=T0, end=T0 + timedelta(hours=1))

        def page(after: int, through: int, limit: int) -> list[AuditRecord]:
            return read(
                factory,
                lambda uow: uow.audit.window(
                    org, window, after=after, through=through, limit=limit
                ),
            )

        assert page(0, 6, 2) == chain[0:2]
        assert page(2, 6, 2) == chain[2:4]
        assert page(4, 6, 2) == chain[4:6]
        assert page(6, 6, 2) == []
        assert page(1, 3, 10) == chain[1:3]  # nothing past `through`

    # ------------------------------------------------------------------ transaction semantics

    def _write_everywhere(self, uow: UnitOfWork) -> dict[str, object]:
        org = samples.org_id()
        who = samples.user(org)
        granted = samples.permission(org)
        link = samples.assignment(granted, who)
        cred = samples.credential(who)
        app = samples.application(org)
        grant = samples.grant_record(who)
        record = samples.audit_record(org, None)
        uow.users.add(who)
        uow.credentials.add(cred)
        uow.applications.add(app)
        uow.permissions.add_permission(granted)
        uow.permissions.assign(link)
        uow.user_actions.add(grant)
        uow.audit.append(record)
        return {
            "user": who,
            "credential": cred,
            "application": app,
            "permission": granted,
            "grant": grant,
            "record": record,
        }

    def _visible(self, factory: UnitOfWorkFactory, written: dict[str, object]) -> list[bool]:
        who = written["user"]
        cred = written["credential"]
        app = written["application"]
        granted = written["permission"]
        grant = written["grant"]
        record = written["record"]
        assert isinstance(who, User)
        assert isinstance(cred, Credential)
        assert isinstance(app, Application)
        assert isinstance(granted, Permission)
        assert isinstance(grant, UserActionRecord)
        assert isinstance(record, AuditRecord)
        with factory() as uow:
            return [
                uow.users.get(who.id) is not None,
                uow.credentials.get_by_cred_id(cred.cred_id) is not None,
                uow.applications.get(app.id) is not None,
                uow.permissions.get_permission(granted.id) is not None,
                bool(uow.permissions.assignments_of(who.id)),
                uow.user_actions.consume(grant.grant.token_id, at=T0).status
                is not ConsumeStatus.UNKNOWN,
                uow.audit.head(record.org_id) is not None,
            ]

    def test_leaving_without_commit_rolls_everything_back(self, factory: UnitOfWorkFactory) -> None:
        with factory() as uow:
            written = self._write_everywhere(uow)
        assert self._visible(factory, written) == [False] * 7

    def test_an_exception_rolls_everything_back_and_propagates(
        self, factory: UnitOfWorkFactory
    ) -> None:
        written: dict[str, object] = {}

        def fail() -> None:
            with factory() as uow:
                written.update(self._write_everywhere(uow))
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            fail()
        assert self._visible(factory, written) == [False] * 7

    def test_commit_makes_every_change_visible(self, factory: UnitOfWorkFactory) -> None:
        written = committed(factory, self._write_everywhere)
        assert self._visible(factory, written) == [True] * 7

    def test_a_unit_reads_its_own_writes(self, factory: UnitOfWorkFactory) -> None:
        with factory() as uow:
            written = self._write_everywhere(uow)
            who = written["user"]
            assert isinstance(who, User)
            assert uow.users.get(who.id) == who
            assert len(uow.permissions.assignments_of(who.id)) == 1

    def test_rollback_discards_and_the_unit_goes_on(self, factory: UnitOfWorkFactory) -> None:
        org = samples.org_id()
        discarded = samples.user(org)
        kept = samples.user(org)
        with factory() as uow:
            uow.users.add(discarded)
            uow.rollback()
            assert uow.users.get(discarded.id) is None
            uow.users.add(kept)
            uow.commit()
        assert read(factory, lambda uow: uow.users.get(discarded.id)) is None
        assert read(factory, lambda uow: uow.users.get(kept.id)) == kept

    def test_writes_after_a_commit_need_another_commit(self, factory: UnitOfWorkFactory) -> None:
        org = samples.org_id()
        first = samples.user(org)
        late = samples.user(org)
        with factory() as uow:
            uow.users.add(first)
            uow.commit()
            uow.users.add(late)
        assert read(factory, lambda uow: uow.users.get(first.id)) == first
        assert read(factory, lambda uow: uow.users.get(late.id)) is None

    # ------------------------------------------------------------------ concurrency

    def test_a_grant_is_consumed_once_by_racing_threads(self, factory: UnitOfWorkFactory) -> None:
        record = samples.grant_record(samples.user(samples.org_id()))
        committed(factory, lambda uow: uow.user_actions.add(record))

        def consume(_: int) -> ConsumeStatus:
            return committed(
                factory, lambda uow: uow.user_actions.consume(record.grant.token_id, at=T0).status
            )

        outcomes = race(THREADS, consume)
        assert outcomes.count(ConsumeStatus.CONSUMED) == 1
        assert outcomes.count(ConsumeStatus.ALREADY_USED) == THREADS - 1

    def test_racing_adds_of_one_username_store_exactly_one(
        self, factory: UnitOfWorkFactory
    ) -> None:
        org = samples.org_id()
        rivals = [
            samples.user(org, username="ERIN@example.co" if i % 2 else "erin@example.co")
            for i in range(THREADS)
        ]

        def add(i: int) -> bool:
            try:
                committed(factory, lambda uow: uow.users.add(rivals[i]))
            except AlreadyExists:
                return False
            return True

        outcomes = race(THREADS, add)
        assert outcomes.count(True) == 1
        assert [user_of(factory, u.id) is not None for u in rivals] == outcomes

    def test_no_update_is_lost_between_racing_threads(self, factory: UnitOfWorkFactory) -> None:
        counter = samples.user(samples.org_id())
        committed(factory, lambda uow: uow.users.add(counter))
        rounds = 5

        def bump(uow: UnitOfWork) -> None:
            current = uow.users.get(counter.id)
            assert current is not None
            uow.users.update(
                attrs.evolve(current, version=current.version + 1), expected_version=current.version
            )

        conflicts = race(THREADS, lambda _: sum(with_retries(factory, bump) for _ in range(rounds)))
        final = read(factory, lambda uow: uow.users.get(counter.id))
        assert final is not None
        assert final.version == 1 + THREADS * rounds
        if self.serialised:
            assert sum(conflicts) == 0

    def test_racing_appends_keep_one_contiguous_chain(self, factory: UnitOfWorkFactory) -> None:
        org = samples.org_id()

        def append(uow: UnitOfWork) -> None:
            uow.audit.append(samples.audit_record(org, uow.audit.head(org)))

        race(THREADS, lambda _: with_retries(factory, append))
        records = read(factory, lambda uow: uow.audit.records(org))
        assert [r.sequence for r in records] == list(range(1, THREADS + 1))
        assert verify_audit_chain(records).ok

    def test_the_orgs_turn_is_one_unit_of_work_at_a_time(self, factory: UnitOfWorkFactory) -> None:
        """`audit.head(org)` takes the org's turn to the end of the unit of work: another
        unit asking for it waits (on a serialised store, it cannot even begin)."""
        org = samples.org_id()
        other_has_it = threading.Event()

        def other() -> None:
            with factory() as uow:
                uow.audit.head(org)
                other_has_it.set()

        with factory() as uow:
            uow.audit.head(org)
            worker = threading.Thread(target=other)
            worker.start()
            try:
                assert not other_has_it.wait(timeout=0.3)
            finally:
                uow.rollback()
        assert other_has_it.wait(timeout=30)
        worker.join(timeout=30)

    def test_what_a_unit_reads_in_the_orgs_turn_is_what_committed_before_it(
        self, factory: UnitOfWorkFactory
    ) -> None:
        """Current at commit (SPEC §5): a user read early in a unit, then read again once
        the unit has the org's turn, is as the unit before it in that turn committed it
        (the signed pipeline reads its caller again there)."""
        org = samples.org_id()
        user = samples.user(org)
        committed(factory, lambda uow: uow.users.add(user))
        changed = threading.Event()

        def change() -> None:
            with factory() as uow:
                uow.audit.head(org)
                current = uow.users.get(user.id)
                assert current is not None
                uow.users.update(current.deactivated(T0), expected_version=current.version)
                uow.commit()
            changed.set()

        worker = threading.Thread(target=change)
        with factory() as uow:
            assert uow.users.get(user.id) == user  # as admission reads the caller
            worker.start()
            # a store that serialises units runs the other one after this one ends
            assert changed.wait(timeout=0.3 if self.serialised else 30) is not self.serialised
            uow.audit.head(org)
            seen = uow.users.get(user.id)
            assert seen is not None
            assert seen.is_active is self.serialised
        worker.join(timeout=30)
        assert changed.is_set()

    def test_racing_archives_never_remove_the_last_two_holders(
        self, factory: UnitOfWorkFactory
    ) -> None:
        """Each of two holders archives the other at the same moment, the way ArchiveUser
        does: read the target, ask for another holder, update. One must be refused."""
        for _ in range(5):
            org = samples.org_id()
            granted = samples.permission(org)
            holders = [self._add_holder(factory, org, granted) for _ in range(2)]

            def archive(i: int, holders: list[User] = holders, org: OrgId = org) -> bool:
                target_id = holders[1 - i].id

                def work(uow: UnitOfWork) -> bool:
                    target = uow.users.get(target_id)
                    assert target is not None
                    if not target.is_active or not uow.users.has_other_active_holder(
                        org,
                        operations=frozenset(ARCHIVE_OPS),
                        kinds=frozenset(UserKind),
                        exclude=target.id,
                        include_service_accounts=False,
                    ):
                        return False
                    uow.users.update(target.archived(T0), expected_version=target.version)
                    return True

                while True:
                    try:
                        return committed(factory, work)
                    except ConcurrencyConflict:
                        continue

            assert race(2, archive).count(True) <= 1
            active = [user_of(factory, h.id) for h in holders]
            assert any(u is not None and u.is_active for u in active)
