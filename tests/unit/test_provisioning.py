"""Provisioning: keys and orgs validated, the first credential takes the user's reserved uuid."""

from __future__ import annotations

import attrs
import pytest

from adapters.testing.world import World
from archive_core.entities import CredentialKind, UserKind
from archive_core.errors import Catalogue
from tests.unit.helpers import refused


def test_provisioning_validates_keys_and_orgs(world: World) -> None:
    org = world.new_org()
    user = world.provisioning.create_user(org, "u@example.co", UserKind.END_USER)
    refused(
        Catalogue.CREDENTIAL_REJECTED,
        lambda: world.provisioning.register_credential(
            user, kind=CredentialKind.KEY, cred_id="c1", public_key="bad-key", algorithm="x"
        ),
    )
    bare = attrs.evolve(world.provisioning, verifiers={})
    refused(
        Catalogue.CREDENTIAL_REJECTED,
        lambda: bare.register_credential(
            user, kind=CredentialKind.KEY, cred_id="c2", public_key="pk", algorithm="x"
        ),
    )
    other = world.provisioning.create_permission(
        world.new_org(), "Elsewhere", ["Auth:Users:Update"]
    )
    with pytest.raises(ValueError, match="within its org"):
        world.provisioning.assign(other, user)


def test_first_credential_takes_the_reserved_uuid(world: World) -> None:
    org = world.new_org()
    user = world.provisioning.create_user(org, "u@example.co", UserKind.END_USER)
    first = world.add_credential(user, CredentialKind.KEY)
    second = world.add_credential(user, CredentialKind.KEY)
    assert first.uuid == user.credential_uuid
    assert second.uuid != user.credential_uuid
