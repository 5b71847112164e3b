"""The username rule (SPEC §1.5) and `Provisioning.create_user`, which applies it:
printable, no control or bidi characters, 1 to 254 characters, unique per org among
users not archived, compared with `str.casefold()`."""

from __future__ import annotations

import pytest

from adapters.testing.world import Scene, World
from archive_core.entities import UserKind
from archive_core.errors import Catalogue
from archive_core.use_cases import DEACTIVATE_USER
from archive_core.usernames import check_username, username_key
from tests.unit.helpers import refused


@pytest.mark.parametrize(
    "username",
    [
        "a@x.io",
        "Élodie Dupont",  # letters beyond ASCII and an ASCII space
        "山田@例え.jp",
        "x" * 254,
        "a\\nb",  # a backslash and an n: printable
    ],
)
def test_printable_usernames_of_1_to_254_characters_are_accepted(username: str) -> None:
    check_username(username)


@pytest.mark.parametrize(
    ("username", "reason", "what"),
    [
        ("", "empty", "it is empty"),
        ("x" * 255, "too_long", "it is longer than 254 characters"),
        ("mallory\nor-x #2", "control_character", "it holds a control character (U+000A)"),
        ("\x1b[32mok", "control_character", "it holds a control character (U+001B)"),
        ("del\x7f", "control_character", "it holds a control character (U+007F)"),
        ("a\x85b", "control_character", "it holds a control character (U+0085)"),
        (
            "evil\u202egnp.exe",
            "bidi_control",
            "it holds a bidirectional control character (U+202E)",
        ),
        ("\u2067isolate", "bidi_control", "it holds a bidirectional control character (U+2067)"),
        ("mark\u200f", "bidi_control", "it holds a bidirectional control character (U+200F)"),
        ("zero\u200bwidth", "not_printable", "it holds a character that is not printable (U+200B)"),
        ("line\u2028sep", "not_printable", "it holds a character that is not printable (U+2028)"),
        ("no\xa0break", "not_printable", "it holds a character that is not printable (U+00A0)"),
        ("half\udc80", "not_printable", "it holds a character that is not printable (U+DC80)"),
    ],
)
def test_a_username_breaking_the_rule_is_refused_naming_what_is_wrong(
    username: str, reason: str, what: str
) -> None:
    error = refused(
        Catalogue.USERNAME_INVALID,
        lambda: check_username(username),
        message=f"The username is not acceptable: {what}.",
    )
    assert error.reason == reason


def test_the_first_offending_character_is_named() -> None:
    refused(
        Catalogue.USERNAME_INVALID,
        lambda: check_username("a\u202eb\nc"),
        message="The username is not acceptable: it holds a bidirectional control character (U+202E).",
    )


def test_usernames_are_compared_casefolded_and_nothing_else() -> None:
    assert username_key("Straße@Example.CO") == username_key("STRASSE@example.co")
    assert username_key("ǅ") == username_key("ǆ") == username_key("Ǆ")
    assert username_key("e\u0301") != username_key("\xe9")  # no normalisation


# --------------------------------------------------------------------------- Provisioning


def test_create_user_refuses_a_username_breaking_the_rule_and_stores_nothing(
    world: World,
) -> None:
    org = world.new_org()
    refused(
        Catalogue.USERNAME_INVALID,
        lambda: world.provisioning.create_user(org, "x\n\x1b[31m", UserKind.END_USER),
        message="The username is not acceptable: it holds a control character (U+000A).",
    )
    with world.uow_factory() as uow:
        assert not uow.users.org_exists(org)


def test_create_user_refuses_a_name_taken_in_the_org_compared_casefolded(scene: Scene) -> None:
    world = scene.world
    refused(
        Catalogue.USERNAME_TAKEN,
        lambda: world.provisioning.create_user(scene.org, "EMPLOYEE@example.CO", UserKind.END_USER),
    )
    elsewhere = world.provisioning.create_user(
        world.new_org(), "EMPLOYEE@example.CO", UserKind.END_USER
    )
    assert elsewhere.username == "EMPLOYEE@example.CO"


def test_an_archived_user_frees_its_name(scene: Scene) -> None:
    world = scene.world
    world.archive_user(scene.admin, scene.employee.id)
    successor = world.provisioning.create_user(scene.org, "Employee@example.co", UserKind.END_USER)
    assert world.fresh_user(successor) == successor


def test_a_deactivated_user_keeps_its_name(scene: Scene) -> None:
    world = scene.world
    path = f"/auth/users/{scene.employee.id}/deactivate"
    world.call(DEACTIVATE_USER, world.signed_request(scene.admin, "PUT", path, b"{}"))
    assert not world.fresh_user(scene.employee.user).is_active
    refused(
        Catalogue.USERNAME_TAKEN,
        lambda: world.provisioning.create_user(scene.org, "employee@example.co", UserKind.END_USER),
    )
