"""The committed vectors (tests/vectors/*.json), positive and negative, through the real adapters.

Assertion vectors go through the core's `verify_assertion`, so the clientData checks
(type, challenge, origin, crossOrigin) run exactly as in production; registration
vectors through `validate_public_key` of the kind's verifier.
"""

from __future__ import annotations

from typing import Any

import pytest

from adapters.crypto import credential_verifiers
from archive_core.entities import CredentialKind
from tests.crypto.support import load_vectors, outcome, verify_case

KEY_ASSERTIONS = load_vectors("key_assertions.json")
KEY_REGISTRATION = load_vectors("key_registration.json")
WEBAUTHN_ASSERTIONS = load_vectors("webauthn_assertions.json")


def _ids(case: dict[str, Any]) -> str:
    return str(case["name"])


@pytest.mark.parametrize("case", KEY_ASSERTIONS["cases"], ids=_ids)
def test_key_assertion_vector(case: dict[str, Any]) -> None:
    assert outcome(lambda: verify_case(KEY_ASSERTIONS, case)) == case["expect"]


@pytest.mark.parametrize("case", WEBAUTHN_ASSERTIONS["cases"], ids=_ids)
def test_webauthn_assertion_vector(case: dict[str, Any]) -> None:
    assert outcome(lambda: verify_case(WEBAUTHN_ASSERTIONS, case)) == case["expect"]


@pytest.mark.parametrize("case", KEY_REGISTRATION["cases"], ids=_ids)
def test_key_registration_vector(case: dict[str, Any]) -> None:
    kind = CredentialKind(case["kind"])
    verifier = credential_verifiers()[kind]
    result = outcome(
        lambda: verifier.validate_public_key(kind, case["algorithm"], case["publicKey"])
    )
    assert result == case["expect"]


def test_both_sdk_conventions_are_covered_for_every_algorithm() -> None:
    names = {case["name"] for case in KEY_ASSERTIONS["cases"]}
    for credential in KEY_ASSERTIONS["credentials"]:
        assert f"{credential}/python-sdk" in names
        assert f"{credential}/typescript-sdk" in names


def test_the_vectors_hold_more_negatives_than_positives() -> None:
    cases = KEY_ASSERTIONS["cases"] + WEBAUTHN_ASSERTIONS["cases"] + KEY_REGISTRATION["cases"]
    negatives = [case for case in cases if "code" in case["expect"]]
    assert len(negatives) > 100
    assert len({case["name"] for case in cases}) == len(cases)
