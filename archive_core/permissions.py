"""The permission matrix as data, and a pure `authorize` (SPEC §1.1).

One table maps an operation to its required permissions, each with the condition
on the target under which it applies. Each operation declares its row for every
preset (`Permissions`: one `Entry` for all, or one of its own for a preset), and a
preset's table is gathered from the operations a deployment serves
(`PermissionMatrix.of`). A table may also refuse some caller kinds an operation
outright (today's API refuses delegated EndUser callers user management). A table
can also be built from plain data (`PermissionMatrix.from_mapping`) or `extended`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import attrs

from archive_core.entities import FULL_ADMIN, UserKind

__all__ = [
    "PRESET_NAMES",
    "Decision",
    "Entry",
    "PermissionMatrix",
    "Permissions",
    "Requirement",
    "authorize",
    "denial_message",
    "render_matrix_markdown",
    "with_type_permission",
]

#: The presets of SPEC §1.1, in the order the documentation lists them: the seed's
#: table, the later version that archives with `Auth:Users:Delete`, and today's API.
PRESET_NAMES: Final = ("dfns", "dfns-delete", "dfns-current")


@attrs.frozen
class Requirement:
    """A permission an operation needs: always, or when the target is of one kind."""

    permission: str
    when_target_kind: UserKind | None = None

    def applies_to(self, target_kind: UserKind | None) -> bool:
        """Whether this requirement holds for a target of that kind (None: target unknown yet)."""
        return self.when_target_kind is None or self.when_target_kind is target_kind

    @property
    def condition(self) -> str:
        """The condition in words, as the API documentation prints it."""
        if self.when_target_kind is None:
            return "Always Required"
        return f"When target user's kind is `{self.when_target_kind.value}`"


@attrs.frozen
class Decision:
    """What an operation required, what of it the caller was granted, and what is missing."""

    operation: str
    required: tuple[str, ...]
    granted: tuple[str, ...]
    missing: tuple[str, ...]
    via_full_admin: bool

    @property
    def allowed(self) -> bool:
        """True when nothing is missing."""
        return not self.missing

    @property
    def matched(self) -> tuple[str, ...]:
        """What satisfied the requirements (the full admin permission, or the permissions)."""
        return (FULL_ADMIN,) if self.via_full_admin else self.granted


@attrs.frozen
class Entry:
    """An operation's row in one matrix: its requirements, in the order a denial lists
    them, and the caller kinds refused it whatever they hold."""

    requirements: tuple[Requirement, ...]
    refused_callers: frozenset[UserKind] = frozenset()


@attrs.frozen
class Permissions:
    """An operation's row in every preset: `default`, unless `presets` gives a preset a
    row of its own."""

    default: Entry
    presets: Mapping[str, Entry] = attrs.field(factory=dict)

    def entry(self, preset: str) -> Entry:
        """The row in the preset named `preset`."""
        return self.presets.get(preset, self.default)


def _table(
    operations: Mapping[str, Sequence[Requirement]],
) -> dict[tuple[str, UserKind | None], tuple[str, ...]]:
    table: dict[tuple[str, UserKind | None], tuple[str, ...]] = {}
    for operation, requirements in operations.items():
        for kind in (None, *UserKind):
            table[operation, kind] = tuple(r.permission for r in requirements if r.applies_to(kind))
    return table


@attrs.frozen
class PermissionMatrix:
    """Operation → ordered requirements. The order is the order of denial messages.

    `refused_callers` maps an operation to the caller kinds refused it whatever they
    hold; their denial names the operation's permissions."""

    name: str
    operations: Mapping[str, tuple[Requirement, ...]]
    refused_callers: Mapping[str, frozenset[UserKind]] = attrs.field(factory=dict)
    _required: dict[tuple[str, UserKind | None], tuple[str, ...]] = attrs.field(
        init=False, repr=False, eq=False
    )

    _refused: frozenset[tuple[str, UserKind]] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_required", _table(self.operations))
        refused = {(op, kind) for op, kinds in self.refused_callers.items() for kind in kinds}
        object.__setattr__(self, "_refused", frozenset(refused))

    def required(self, operation: str, target_kind: UserKind | None) -> tuple[str, ...]:
        """What the operation needs on a target of that kind (None: the unconditional part)."""
        try:
            return self._required[operation, target_kind]
        except KeyError:
            raise KeyError(f"operation {operation!r} is not in matrix {self.name!r}") from None

    @property
    def permissions(self) -> frozenset[str]:
        """Every permission a requirement of this matrix names."""
        return frozenset(r.permission for rs in self.operations.values() for r in rs)

    def refuses(self, operation: str, caller_kind: UserKind) -> bool:
        """Whether callers of that kind are refused the operation whatever they hold."""
        return (operation, caller_kind) in self._refused

    def allowed_callers(self, operation: str) -> frozenset[UserKind]:
        """The caller kinds the operation is open to: every kind it does not refuse."""
        return frozenset(kind for kind in UserKind if (operation, kind) not in self._refused)

    def extended(
        self, operations: Mapping[str, Sequence[Requirement]], *, name: str | None = None
    ) -> PermissionMatrix:
        """This matrix with more (or replaced) operations: how an embedder adds its own."""
        return PermissionMatrix(
            name=self.name if name is None else name,
            operations={**self.operations, **{k: tuple(v) for k, v in operations.items()}},
            refused_callers=self.refused_callers,
        )

    @classmethod
    def of(cls, preset: str, rows: Iterable[tuple[str, Permissions]]) -> PermissionMatrix:
        """The preset named `preset` of these operations (name and declared row each)."""
        entries = {operation: permissions.entry(preset) for operation, permissions in rows}
        return cls(
            name=preset,
            operations={operation: entry.requirements for operation, entry in entries.items()},
            refused_callers={
                operation: entry.refused_callers
                for operation, entry in entries.items()
                if entry.refused_callers
            },
        )

    @classmethod
    def from_mapping(
        cls, name: str, data: Mapping[str, Iterable[Mapping[str, Any]]]
    ) -> PermissionMatrix:
        """Build a matrix from plain data:
        `{"ArchiveUser": [{"permission": "Auth:Users:Delete"},
                          {"permission": "Auth:Types:EndUser", "whenTargetKind": "EndUser"}]}`."""
        operations: dict[str, tuple[Requirement, ...]] = {}
        for operation, requirements in data.items():
            operations[operation] = tuple(
                Requirement(
                    permission=str(item["permission"]),
                    when_target_kind=(
                        None
                        if item.get("whenTargetKind") is None
                        else UserKind(item["whenTargetKind"])
                    ),
                )
                for item in requirements
            )
        return cls(name=name, operations=operations)


def with_type_permission(permission: str) -> tuple[Requirement, ...]:
    """`permission` always, plus the type permission of the target's kind (the Dfns
    rows of user management: `Auth:Types:Employee` or `Auth:Types:EndUser`)."""
    return (
        Requirement(permission),
        Requirement("Auth:Types:Employee", UserKind.CUSTOMER_EMPLOYEE),
        Requirement("Auth:Types:EndUser", UserKind.END_USER),
    )


def authorize(
    matrix: PermissionMatrix,
    operation: str,
    *,
    granted: frozenset[str],
    full_admin: bool,
    target_kind: UserKind | None,
    caller_kind: UserKind | None = None,
) -> Decision:
    """Decide an operation for a caller holding `granted` (pure; no exception on denial).

    With `target_kind=None` only the unconditional requirements are decided: the
    archive flow checks those before it looks the target up (SPEC §4 order). A
    `caller_kind` the matrix refuses the operation misses every requirement.
    """
    required = matrix.required(operation, target_kind)
    if caller_kind is not None and (operation, caller_kind) in matrix._refused:
        return Decision(operation, required, (), required, False)
    if full_admin:
        return Decision(operation, required, required, (), True)
    missing = tuple(p for p in required if p not in granted)
    if missing:
        held = tuple(p for p in required if p in granted)
        return Decision(operation, required, held, missing, False)
    return Decision(operation, required, required, (), False)


def denial_message(caller_kind: UserKind, caller_id: str, missing: Sequence[str]) -> str:
    """The exact denial of SPEC §1.1."""
    return (
        f"{caller_kind.value} {caller_id} is not authorized to perform operation "
        f"({', '.join(missing)})"
    )


def render_matrix_markdown(matrices: Sequence[PermissionMatrix]) -> str:
    """docs/permissions.md, generated from the matrices (a test keeps the file fresh)."""
    lines = [
        "# Permissions",
        "",
        "Generated from the operations' declarations (`archive_core/operations.py`)",
        "by `python -m adapters.entrypoints.docs`; a test fails when this file is stale.",
        "A caller's granted operations are the",
        "union of the operations of its non-archived assigned permissions;",
        f"`{FULL_ADMIN}` grants every operation. A denial lists the missing",
        "permissions in the order of the table.",
    ]
    for matrix in matrices:
        lines += ["", f"## Preset `{matrix.name}`"]
        for operation, requirements in matrix.operations.items():
            lines += [
                "",
                f"### {operation}",
                "",
                "| Permission | Required when |",
                "| --- | --- |",
            ]
            lines += [f"| `{r.permission}` | {r.condition} |" for r in requirements]
            refused = sorted(k.value for k in matrix.refused_callers.get(operation, ()))
            if refused:
                lines += ["", f"Refused to callers of kind {', '.join(refused)} (403)."]
    return "\n".join(lines) + "\n"
