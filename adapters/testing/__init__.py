"""The testing kit: what a team needs to test its own rules around an archive, and what
an adapter author needs to hold a storage adapter to the ports' contracts.

    from adapters.testing import World, refused

    world = World()                        # wired by adapters.wiring.bootstrap.build
    scene = world.scene()                  # an org, an admin, an employee, an end user
    world.archive_user(scene.admin, scene.employee.id)

- `World` (`adapters.testing.world`): a deployment wired by the same `build` production
  uses, with a manual clock, seeded randomness and the crypto fakes; scenario builders
  and the client side of the signed flow for any signed operation.
- assertions (`adapters.testing.assertions`): an exact refusal, an unchanged store,
  audit records.
- `adapters.testing.fakes`: the crypto fakes.
- `adapters.testing.plugin`: the pytest plugin (fixtures `archive_world`,
  `archive_scene`, `archive_policy`), registered as a `pytest11` entry point.
- `adapters.testing.contracts`: the storage ports' contract suites (needs pytest:
  install `archive-core[testing]`).

Names are loaded on first use: the pytest plugin imports this package before coverage
measurement starts, and must not import the core with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.testing.assertions import (
        assert_archived_by,
        assert_audit_intact,
        assert_not_audited,
        refused,
        snapshot,
    )
    from adapters.testing.world import ARCHIVE_OPS, Actor, Scene, World, admin_grants

__all__ = [
    "ARCHIVE_OPS",
    "Actor",
    "Scene",
    "World",
    "admin_grants",
    "assert_archived_by",
    "assert_audit_intact",
    "assert_not_audited",
    "refused",
    "snapshot",
]

_HOMES = {
    **dict.fromkeys(
        ("assert_archived_by", "assert_audit_intact", "assert_not_audited", "refused", "snapshot"),
        "adapters.testing.assertions",
    ),
    **dict.fromkeys(
        ("ARCHIVE_OPS", "Actor", "Scene", "World", "admin_grants"),
        "adapters.testing.world",
    ),
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
