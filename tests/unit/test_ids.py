"""Identifiers: canonical form only (SPEC §1.3), generation through the randomness port."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.system.randomness import SeededRandomness
from archive_core.ids import MAX_ID_LENGTH, is_canonical_id, new_id


@pytest.mark.parametrize(
    "value",
    [
        "us-2mhcm-9r90a-92ran47bjpl60hmv",
        "us-em7bu-m6c48-hdqoobj7dj24pko",
        "us-a-b",
    ],
)
def test_canonical_user_ids_are_accepted(value: str) -> None:
    assert is_canonical_id(value, "us")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "us",
        "us-",
        "us-abc",  # one group only
        "US-2mhcm-9r90a-92ran47bjpl60hmv",  # case is not folded
        "us-2MHCM-9r90a-92ran47bjpl60hmv",
        "or-yanke-mars-6ulofamogg84s87v",  # another prefix
        "us-2mhcm-9r90a-92ran47bjpl60hmv\n",  # trailing newline
        " us-2mhcm-9r90a-92ran47bjpl60hmv",
        "us-2mhcm--92ran47bjpl60hmv",  # empty group
        "us-2mhcm-9r90a-92ran47bjpl60hmv-",
        "us-2mhcm-9r90a%2F92ran47bjpl60hmv",  # percent-encoded slash
        "us-2mhcm-9r90a-92ran47bjpl60hm\u0661",  # unicode digit
        "us-2mhcm-9r90a-92ran47bjpl60hm\uff56",  # fullwidth letter
        "us-2mhcm_9r90a-92ran47bjpl60hmv",
        "us-" + "a" * 33 + "-b",  # group too long
        "us-" + "-".join(["abcde"] * 7),  # too many groups
        "us-" + "-".join(["a" * 30] * 3),  # over the total length
    ],
)
def test_non_canonical_ids_are_refused(value: str) -> None:
    assert not is_canonical_id(value, "us")


def test_new_ids_have_the_canonical_shape_and_differ() -> None:
    randomness = SeededRandomness(1)
    ids = {new_id("us", randomness) for _ in range(1000)}
    assert len(ids) == 1000
    for value in ids:
        assert is_canonical_id(value, "us")
        assert [len(g) for g in value.split("-")] == [2, 5, 5, 16]


def test_generation_goes_through_the_randomness_port() -> None:
    assert new_id("us", SeededRandomness(5)) == new_id("us", SeededRandomness(5))
    assert new_id("us", SeededRandomness(5)) != new_id("us", SeededRandomness(6))


@given(st.text(max_size=80))
def test_anything_accepted_is_short_ascii_and_lowercase(value: str) -> None:
    if is_canonical_id(value, "us"):
        assert len(value) <= MAX_ID_LENGTH
        assert value.isascii()
        assert value == value.lower()
        assert value.strip() == value
