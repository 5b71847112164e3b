"""The permission matrix (SPEC §1.1): data, a pure decision, exact denials, presets, docs."""

from __future__ import annotations

from itertools import chain, combinations
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.entrypoints.docs import render_errors_markdown, render_permissions_markdown
from archive_core.entities import FULL_ADMIN, UserKind
from archive_core.operations import (
    DFNS_CURRENT_PRESET,
    DFNS_DELETE_PRESET,
    DFNS_PRESET,
    KNOWN_PERMISSIONS,
    PRESETS,
)
from archive_core.permissions import PermissionMatrix, Requirement, authorize, denial_message
from archive_core.use_cases import ACTIVATE_USER, ARCHIVE_USER, DEACTIVATE_USER, GET_USER

UPDATE, EMPLOYEE, END_USER = "Auth:Users:Update", "Auth:Types:Employee", "Auth:Types:EndUser"
RELEVANT = (UPDATE, EMPLOYEE, END_USER)
NEEDED = {UserKind.CUSTOMER_EMPLOYEE: (UPDATE, EMPLOYEE), UserKind.END_USER: (UPDATE, END_USER)}
ROOT = Path(__file__).resolve().parents[2]


def _subsets() -> list[frozenset[str]]:
    return [
        frozenset(s)
        for s in chain.from_iterable(combinations(RELEVANT, n) for n in range(len(RELEVANT) + 1))
    ]


@pytest.mark.parametrize("operation", [ARCHIVE_USER.name, DEACTIVATE_USER.name, ACTIVATE_USER.name])
@pytest.mark.parametrize("kind", list(UserKind))
@pytest.mark.parametrize("granted", _subsets(), ids=lambda s: "+".join(sorted(s)) or "none")
def test_every_kind_and_subset(operation: str, kind: UserKind, granted: frozenset[str]) -> None:
    decision = authorize(
        DFNS_PRESET, operation, granted=granted, full_admin=False, target_kind=kind
    )
    expected_missing = tuple(p for p in NEEDED[kind] if p not in granted)
    assert decision.required == NEEDED[kind]
    assert decision.missing == expected_missing
    assert decision.allowed is (not expected_missing)
    assert decision.granted == tuple(p for p in NEEDED[kind] if p in granted)


@given(
    kind=st.sampled_from(list(UserKind)),
    granted=st.frozensets(st.sampled_from([*RELEVANT, "Auth:Users:Read", "Wallets:Create"])),
    full_admin=st.booleans(),
)
def test_decision_properties(kind: UserKind, granted: frozenset[str], full_admin: bool) -> None:
    decision = authorize(
        DFNS_PRESET,
        ARCHIVE_USER.name,
        granted=granted,
        full_admin=full_admin,
        target_kind=kind,
    )
    # missing and granted partition what was required, in matrix order
    assert set(decision.missing) | set(decision.granted) == set(decision.required)
    assert not set(decision.missing) & set(decision.granted)
    assert list(decision.missing) == [p for p in decision.required if p in decision.missing]
    assert decision.allowed == (full_admin or set(NEEDED[kind]) <= granted)
    # the other kind's type permission is never required
    other = END_USER if kind is UserKind.CUSTOMER_EMPLOYEE else EMPLOYEE
    assert other not in decision.required
    if full_admin:
        assert decision.matched == (FULL_ADMIN,)


def test_unconditional_stage_decides_only_update() -> None:
    decision = authorize(
        DFNS_PRESET,
        ARCHIVE_USER.name,
        granted=frozenset({EMPLOYEE}),
        full_admin=False,
        target_kind=None,
    )
    assert decision.required == (UPDATE,)
    assert decision.missing == (UPDATE,)


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        (
            (UPDATE,),
            "CustomerEmployee us-24vwa-92s33-8tvqi1dg0a95megt is not authorized to perform "
            "operation (Auth:Users:Update)",
        ),
        (
            (UPDATE, END_USER),
            "CustomerEmployee us-24vwa-92s33-8tvqi1dg0a95megt is not authorized to perform "
            "operation (Auth:Users:Update, Auth:Types:EndUser)",
        ),
    ],
)
def test_exact_denial_message(missing: tuple[str, ...], message: str) -> None:
    assert (
        denial_message(UserKind.CUSTOMER_EMPLOYEE, "us-24vwa-92s33-8tvqi1dg0a95megt", missing)
        == message
    )


def test_end_user_callers_are_named_by_their_kind() -> None:
    assert denial_message(UserKind.END_USER, "us-a-b", (UPDATE,)).startswith("EndUser us-a-b ")


def test_archive_deactivate_activate_share_one_table() -> None:
    rows = {
        op: DFNS_PRESET.operations[op]
        for op in (ARCHIVE_USER.name, DEACTIVATE_USER.name, ACTIVATE_USER.name)
    }
    assert len(set(rows.values())) == 1


def test_delete_preset_plugs_in_without_code_changes() -> None:
    granted = frozenset({"Auth:Users:Delete", END_USER})
    assert authorize(
        DFNS_DELETE_PRESET,
        ARCHIVE_USER.name,
        granted=granted,
        full_admin=False,
        target_kind=UserKind.END_USER,
    ).allowed
    assert not authorize(
        DFNS_PRESET,
        ARCHIVE_USER.name,
        granted=granted,
        full_admin=False,
        target_kind=UserKind.END_USER,
    ).allowed
    # deactivate keeps the Update requirement in the later preset
    assert DFNS_DELETE_PRESET.required(DEACTIVATE_USER.name, None) == (UPDATE,)


def test_matrix_from_plain_data() -> None:
    matrix = PermissionMatrix.from_mapping(
        "custom",
        {
            ARCHIVE_USER.name: [
                {"permission": "Org:Admin"},
                {"permission": "Auth:Types:EndUser", "whenTargetKind": "EndUser"},
            ]
        },
    )
    decision = authorize(
        matrix,
        ARCHIVE_USER.name,
        granted=frozenset({"Org:Admin"}),
        full_admin=False,
        target_kind=UserKind.END_USER,
    )
    assert decision.missing == ("Auth:Types:EndUser",)
    assert matrix.required(ARCHIVE_USER.name, UserKind.CUSTOMER_EMPLOYEE) == ("Org:Admin",)


def test_unknown_operation_is_a_programming_error() -> None:
    with pytest.raises(KeyError, match="not in matrix"):
        DFNS_PRESET.required("Nope", None)


def test_permissions_doc_is_generated_from_the_matrix() -> None:
    assert (ROOT / "docs" / "permissions.md").read_text(
        encoding="utf-8"
    ) == render_permissions_markdown(), (
        "docs/permissions.md is stale: run `python -m adapters.entrypoints.docs`"
    )


def test_errors_doc_is_generated_from_the_catalogue() -> None:
    assert (ROOT / "docs" / "errors.md").read_text(encoding="utf-8") == render_errors_markdown(), (
        "docs/errors.md is stale: run `python -m adapters.entrypoints.docs`"
    )


def test_a_preset_extended_with_an_operation_keeps_the_rest() -> None:
    from archive_core.operations import DFNS_CURRENT_PRESET
    from archive_core.permissions import Requirement

    extended = DFNS_CURRENT_PRESET.extended({"LockUser": [Requirement("Auth:Users:Lock")]})
    assert extended.name == "dfns-current"
    assert extended.required("LockUser", None) == ("Auth:Users:Lock",)
    assert extended.required("ArchiveUser", None) == ("Auth:Users:Delete",)
    assert extended.refuses("ArchiveUser", UserKind.END_USER)
    assert not extended.refuses("LockUser", UserKind.END_USER)
    assert not extended.refuses("ArchiveUser", UserKind.CUSTOMER_EMPLOYEE)
    assert DFNS_CURRENT_PRESET.extended({}, name="mine").name == "mine"


def test_allowed_callers_are_the_kinds_a_matrix_does_not_refuse() -> None:
    every = frozenset(UserKind)
    assert DFNS_PRESET.allowed_callers(ACTIVATE_USER.name) == every
    assert DFNS_CURRENT_PRESET.allowed_callers(ACTIVATE_USER.name) == {UserKind.CUSTOMER_EMPLOYEE}
    assert DFNS_CURRENT_PRESET.allowed_callers(GET_USER.name) == every


def test_known_permissions_are_the_presets_full_admin_and_the_sdks_upcoming_ones() -> None:
    assert sorted(KNOWN_PERMISSIONS) == sorted(
        {
            "DfnsFullAdminAccess",
            "Auth:Users:Update",
            "Auth:Users:Delete",
            "Auth:Users:Deactivate",
            "Auth:Users:Activate",
            "Auth:Users:Read",
            "Auth:Types:Employee",
            "Auth:Types:EndUser",
            "Auth:Users:Create",
            "Auth:Logs:Read",
        }
    )
    for preset in PRESETS.values():
        assert preset.permissions <= KNOWN_PERMISSIONS
    extended = DFNS_PRESET.extended({"CreateUser": [Requirement("Auth:Users:Create")]})
    assert "Auth:Users:Create" in extended.permissions
