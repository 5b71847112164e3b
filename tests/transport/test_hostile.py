"""Named hostile requests through HTTP (ASGI and WSGI): each one's exact status and
message, nothing changed afterwards, one log record per request, and no secret in any
log record.

Each case's `build` prepares what it needs (tokens, a first use for replays) and returns
the request; the store is snapshotted after `build`, so "untouched" means the hostile
request itself changed nothing.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import attrs
import pytest

from archive_core.requests import Request
from archive_core.use_cases import ARCHIVE_USER, COMPLETE_USER_ACTION, GET_USER, INIT_USER_ACTION
from tests.transport.client import Client, HeaderPairs
from tests.transport.conftest import Scene

MALFORMED_ID = (400, "The user id is malformed.")
NO_ROUTE = (404, "Not Found")
NOT_AUTHORIZED = (401, "Not Authorized.")
UA_INVALID = (403, "user action signature is missing or invalid")
UA_REPLAYED = (400, "user action has already been used")
NONCE_INVALID = (400, "request nonce is missing or invalid")
NONCE_REPLAYED = (400, "request nonce has already been used")
JSON_MALFORMED = (400, "The request body is not valid JSON.")
BODY_INVALID = (400, "The request body is invalid.")
TOO_LARGE = (413, "The request body is too large.")
HEAD_TOO_LARGE = (431, "The request header is too large.")
CHALLENGE_INVALID = (400, "Challenge token is not valid.")
NOT_FOUND = (404, "User not found or already archived.")


@attrs.frozen
class Hostile:
    """What one hostile request is: method, raw target, headers, body (chunks = streamed)."""

    method: str
    target: str | bytes
    headers: HeaderPairs = ()
    body: bytes | Sequence[bytes] = b""


Build = Callable[[Scene], Hostile]


@attrs.frozen
class Case:
    name: str
    build: Build
    expected: tuple[int, str]
    #: what WSGI answers when PEP 3333 makes it differ (folded headers, bounded reads)
    wsgi: tuple[int, str] | None = None


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(signature)]
    )


def user_path(target: str) -> str:
    return f"/auth/users/{target}"


def delete_employee(scene: Scene, *extra: tuple[str | bytes, str | bytes]) -> Hostile:
    """DELETE of the employee with the admin's bearer, no user action, extra headers."""
    return Hostile("DELETE", user_path(scene.employee.id), [*scene.bearer(), *extra])


def signed_delete(scene: Scene, path: str, body: bytes = b"") -> Hostile:
    """DELETE of `path` with a user action token signed for exactly that path and body."""
    token = scene.world.user_action(scene.admin, "DELETE", path, body.decode("latin-1"))
    return Hostile("DELETE", path, [*scene.bearer(), ("X-DFNS-USERACTION", token)], body)


def get_employee(scene: Scene, *headers: tuple[str | bytes, str | bytes]) -> Hostile:
    return Hostile("GET", user_path(scene.employee.id), list(headers))


def init_post(scene: Scene, body: bytes | Sequence[bytes], *extra: tuple[str, str]) -> Hostile:
    return Hostile("POST", "/auth/action/init", [*scene.bearer(), *extra], body)


def _challenge(scene: Scene) -> dict[str, Any]:
    world = scene.world
    body = world.init_body("DELETE", user_path(scene.employee.id))
    return world.call(
        INIT_USER_ACTION, Request("POST", "/auth/action/init", world.headers(scene.admin), body)
    )


def _complete_body(scene: Scene, challenge: dict[str, Any], **changes: Any) -> bytes:
    factor = scene.world.sign_challenge(scene.admin, challenge)
    factor["credentialAssertion"].update(changes)
    body = {"challengeIdentifier": challenge["challengeIdentifier"], "firstFactor": factor}
    return json.dumps(body).encode()


def forged_signature(scene: Scene) -> Hostile:
    body = _complete_body(scene, _challenge(scene), signature=b64(b"\x01" * 32))
    return Hostile("POST", "/auth/action", scene.bearer(), body)


def replayed_challenge(scene: Scene) -> Hostile:
    challenge = _challenge(scene)
    body = _complete_body(scene, challenge)
    world = scene.world
    world.call(
        COMPLETE_USER_ACTION, Request("POST", "/auth/action", world.headers(scene.admin), body)
    )
    return Hostile("POST", "/auth/action", scene.bearer(), body)


def forged_challenge_identifier(scene: Scene) -> Hostile:
    challenge = {**_challenge(scene), "challengeIdentifier": b64(b"\x00" * 32)}
    return Hostile("POST", "/auth/action", scene.bearer(), _complete_body(scene, challenge))


def challenge_of_another_user(scene: Scene) -> Hostile:
    body = _complete_body(scene, _challenge(scene))
    return Hostile("POST", "/auth/action", scene.bearer(scene.reader), body)


def replayed_user_action(scene: Scene) -> Hostile:
    first = signed_delete(scene, user_path(scene.end_user.id))
    world = scene.world
    headers = world.headers(scene.admin, **{"X-DFNS-USERACTION": str(first.headers[1][1])})
    world.call(
        ARCHIVE_USER, Request("DELETE", user_path(scene.end_user.id), headers), scene.end_user.id
    )
    return first


def user_action_for(scene: Scene, method: str, path: str, payload: str = "") -> str:
    return scene.world.user_action(scene.admin, method, path, payload)


def replayed_nonce(scene: Scene) -> Hostile:
    nonce = scene.world.nonce("replayed-nonce-0001")
    world = scene.world
    headers = world.headers(scene.admin, **{"X-DFNS-NONCE": nonce})
    world.call(GET_USER, Request("GET", user_path(scene.employee.id), headers), scene.employee.id)
    return get_employee(scene, *scene.bearer(), ("X-DFNS-NONCE", nonce))


def _encode_all(text: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode())


NESTED = b'{"userActionPayload": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"

CASES: list[Case] = [
    # ------------------------------------------------------------------ sizes and framing
    Case(
        "declared_body_over_64k",
        lambda s: init_post(s, b"", ("Content-Length", str(10 * 1024 * 1024))),
        TOO_LARGE,
    ),
    Case(
        "streamed_body_over_64k",
        lambda s: init_post(s, [b"{" + b" " * 32_000, b" " * 32_000, b" " * 32_000]),
        TOO_LARGE,
    ),
    Case(
        "delete_with_streamed_body_over_64k",
        lambda s: attrs.evolve(signed_delete(s, user_path(s.employee.id)), body=[b"{}" * 40_000]),
        TOO_LARGE,
    ),
    Case(
        "content_length_shorter_than_body",
        lambda s: init_post(
            s, s.world.init_body("DELETE", user_path(s.employee.id)), ("Content-Length", "5")
        ),
        BODY_INVALID,
        wsgi=JSON_MALFORMED,  # a WSGI app reads exactly the declared bytes: `{"use`
    ),
    Case(
        "content_length_longer_than_body",
        lambda s: init_post(s, b"{}", ("Content-Length", "1000")),
        BODY_INVALID,
    ),
    Case(
        "content_length_negative",
        lambda s: init_post(s, b"", ("Content-Length", "-1")),
        BODY_INVALID,
    ),
    Case(
        "content_length_not_a_number",
        lambda s: init_post(s, b"", ("Content-Length", "0x10")),
        BODY_INVALID,
    ),
    Case(
        "content_length_unicode_digits",
        lambda s: Hostile(
            "POST",
            "/auth/action/init",
            [*s.bearer(), (b"content-length", "\u0661\u0660".encode())],  # Arabic-Indic 10
            b"0123456789",
        ),
        BODY_INVALID,
    ),
    Case(
        "content_length_repeated",
        lambda s: init_post(s, b"{}", ("Content-Length", "2"), ("Content-Length", "2")),
        BODY_INVALID,
    ),
    Case(
        "content_length_with_transfer_encoding",
        lambda s: init_post(s, b"{}", ("Content-Length", "2"), ("Transfer-Encoding", "chunked")),
        BODY_INVALID,
    ),
    Case(
        "content_length_huge_number",
        lambda s: init_post(s, b"", ("Content-Length", "9" * 40)),
        BODY_INVALID,
    ),
    # ------------------------------------------------------------------ bodies
    Case("deeply_nested_json", lambda s: init_post(s, NESTED), JSON_MALFORMED),
    Case(
        "deeply_nested_complete_body",
        lambda s: Hostile(
            "POST", "/auth/action", s.bearer(), b'{"a":' * 10_000 + b"1" + b"}" * 10_000
        ),
        JSON_MALFORMED,
    ),
    Case(
        "duplicate_json_keys",
        lambda s: init_post(
            s,
            b'{"userActionPayload": "", "userActionHttpMethod": "GET", '
            b'"userActionHttpMethod": "DELETE", "userActionHttpPath": "/auth/users/us-x-y"}',
        ),
        JSON_MALFORMED,
    ),
    Case("json_nan", lambda s: init_post(s, b'{"userActionPayload": NaN}'), JSON_MALFORMED),
    Case("body_not_utf8", lambda s: init_post(s, b'\xff\xfe{"a": 1}'), JSON_MALFORMED),
    Case("body_is_an_array", lambda s: init_post(s, b"[]"), JSON_MALFORMED),
    Case(
        "boolean_as_string_in_assertion",
        lambda s: Hostile(
            "POST",
            "/auth/action",
            s.bearer(),
            json.dumps({"challengeIdentifier": "x", "firstFactor": "true"}).encode(),
        ),
        (400, "The request body is invalid: firstFactor is missing or malformed."),
    ),
    # ------------------------------------------------------------------ bearer tokens
    Case("no_authorization", get_employee, NOT_AUTHORIZED),
    Case(
        "alg_none_bearer",
        lambda s: get_employee(
            s,
            ("Authorization", "Bearer " + jwt({"alg": "none", "typ": "JWT"}, {"sub": s.admin.id})),
        ),
        NOT_AUTHORIZED,
    ),
    Case(
        "forged_claims_bearer",
        lambda s: get_employee(
            s,
            (
                "Authorization",
                "Bearer "
                + jwt(
                    {"alg": "HS256", "typ": "JWT"},
                    {
                        "sub": s.admin.id,
                        "https://custom/app_metadata": {
                            "orgId": s.org,
                            "userId": s.admin.id,
                            "tokenKind": "Pat",
                        },
                    },
                    b"\x00" * 32,
                ),
            ),
        ),
        NOT_AUTHORIZED,
    ),
    Case(
        "basic_auth_instead_of_bearer",
        lambda s: get_employee(s, ("Authorization", "Basic YWRtaW46YWRtaW4=")),
        NOT_AUTHORIZED,
    ),
    Case("empty_bearer", lambda s: get_employee(s, ("Authorization", "Bearer ")), NOT_AUTHORIZED),
    Case(
        "bearer_with_trailing_junk",
        lambda s: get_employee(s, ("Authorization", f"Bearer {s.admin.token} x")),
        NOT_AUTHORIZED,
    ),
    Case(
        "huge_bearer",
        lambda s: get_employee(s, ("Authorization", "Bearer " + "a" * 100_000)),
        HEAD_TOO_LARGE,
    ),
    Case(
        "large_bearer_within_the_head_bound",
        lambda s: get_employee(s, ("Authorization", "Bearer " + "a" * 15_000)),
        NOT_AUTHORIZED,
    ),
    Case(
        "non_utf8_bearer_bytes",
        lambda s: get_employee(
            s, (b"authorization", b"Bearer \xff\xfe\x80" + s.admin.token.encode())
        ),
        NOT_AUTHORIZED,
    ),
    Case(
        "non_ascii_bearer",
        lambda s: get_employee(s, (b"authorization", "Bearer tök".encode())),
        NOT_AUTHORIZED,
    ),
    Case(
        "repeated_authorization",
        lambda s: get_employee(s, *s.bearer(), *s.bearer(s.reader)),
        NOT_AUTHORIZED,
    ),
    Case(
        "user_action_token_as_bearer",
        lambda s: get_employee(
            s, ("Authorization", "Bearer " + user_action_for(s, "GET", user_path(s.employee.id)))
        ),
        NOT_AUTHORIZED,
    ),
    # ------------------------------------------------------------------ user action tokens
    Case(
        "alg_none_user_action",
        lambda s: delete_employee(
            s, ("X-DFNS-USERACTION", jwt({"alg": "none"}, {"sub": s.admin.id}))
        ),
        UA_INVALID,
    ),
    Case(
        "bearer_as_user_action",
        lambda s: delete_employee(s, ("X-DFNS-USERACTION", s.admin.token)),
        UA_INVALID,
    ),
    Case(
        "user_action_for_another_path",
        lambda s: delete_employee(
            s, ("X-DFNS-USERACTION", user_action_for(s, "DELETE", user_path(s.end_user.id)))
        ),
        UA_INVALID,
    ),
    Case(
        "user_action_for_another_method",
        lambda s: delete_employee(
            s, ("X-DFNS-USERACTION", user_action_for(s, "GET", user_path(s.employee.id)))
        ),
        UA_INVALID,
    ),
    Case(
        "user_action_for_another_body",
        lambda s: delete_employee(
            s, ("X-DFNS-USERACTION", user_action_for(s, "DELETE", user_path(s.employee.id), "{}"))
        ),
        UA_INVALID,
    ),
    Case(
        "user_action_for_another_path_casing",
        lambda s: delete_employee(
            s,
            ("X-DFNS-USERACTION", user_action_for(s, "DELETE", user_path(s.employee.id).upper())),
        ),
        UA_INVALID,
    ),
    Case(
        "user_action_of_another_caller",
        lambda s: Hostile(
            "DELETE",
            user_path(s.employee.id),
            [
                *s.bearer(s.reader),
                ("X-DFNS-USERACTION", user_action_for(s, "DELETE", user_path(s.employee.id))),
            ],
        ),
        UA_INVALID,
    ),
    Case(
        "user_action_repeated",
        lambda s: delete_employee(
            s, *[("X-DFNS-USERACTION", user_action_for(s, "DELETE", user_path(s.employee.id)))] * 2
        ),
        UA_INVALID,
    ),
    Case(
        "user_action_huge",
        lambda s: delete_employee(s, ("X-DFNS-USERACTION", "u" * 200_000)),
        HEAD_TOO_LARGE,
    ),
    Case(
        "user_action_large_within_the_head_bound",
        lambda s: delete_employee(s, ("X-DFNS-USERACTION", "u" * 12_000)),
        UA_INVALID,
    ),
    Case(
        "user_action_header_injection",
        lambda s: delete_employee(s, ("X-DFNS-USERACTION", "ua\r\nX-Admin: 1")),
        UA_INVALID,
    ),
    Case("user_action_replayed", replayed_user_action, UA_REPLAYED),
    Case(
        "method_override_header",
        lambda s: Hostile(
            "POST",
            user_path(s.employee.id),
            [*s.bearer(), ("X-HTTP-Method-Override", "DELETE")],
        ),
        (405, "Method Not Allowed"),
    ),
    # ------------------------------------------------------------------ signing sessions
    Case(
        "forged_assertion_signature",
        forged_signature,
        (401, "The credential assertion could not be verified."),
    ),
    Case("forged_challenge_identifier", forged_challenge_identifier, CHALLENGE_INVALID),
    Case("replayed_challenge", replayed_challenge, CHALLENGE_INVALID),
    Case("challenge_of_another_user", challenge_of_another_user, CHALLENGE_INVALID),
    # ------------------------------------------------------------------ request headers
    Case("nonce_replayed", replayed_nonce, NONCE_REPLAYED),
    Case(
        "nonce_malformed",
        lambda s: get_employee(s, *s.bearer(), ("X-DFNS-NONCE", "!!not-base64!!")),
        NONCE_INVALID,
    ),
    Case(
        "nonce_outside_window",
        lambda s: get_employee(
            s,
            *s.bearer(),
            ("X-DFNS-NONCE", s.world.nonce("old-nonce-000001", offset=timedelta(hours=-1))),
        ),
        NONCE_INVALID,
    ),
    Case(
        "nonce_repeated",
        lambda s: get_employee(
            s,
            *s.bearer(),
            ("X-DFNS-NONCE", s.world.nonce("twice-nonce-00001")),
            ("X-DFNS-NONCE", s.world.nonce("twice-nonce-00002")),
        ),
        NONCE_INVALID,
    ),
    Case(
        "app_id_path_traversal",
        lambda s: get_employee(s, *s.bearer(), ("X-DFNS-APPID", "ap-../../x")),
        (400, "request app id is missing or invalid"),
    ),
    Case(
        "non_utf8_header_name",
        lambda s: delete_employee(s, (b"x-\xff\xfe", b"\xff")),
        UA_INVALID,
    ),
    Case(
        "huge_unknown_header",
        lambda s: delete_employee(s, ("X-Padding", "p" * 500_000)),
        HEAD_TOO_LARGE,
    ),
    Case(
        "many_unknown_headers",
        lambda s: delete_employee(s, *((f"X-Padding-{i}", "p") for i in range(200))),
        HEAD_TOO_LARGE,
    ),
    # ------------------------------------------------------------------ paths
    Case(
        "percent_encoded_slash_in_id",
        lambda s: signed_delete(s, user_path("us-a%2Fb")),
        MALFORMED_ID,
    ),
    Case(
        "percent_encoded_valid_id",
        lambda s: signed_delete(s, user_path(_encode_all(s.employee.id))),
        MALFORMED_ID,
    ),
    Case(
        "percent_encoded_dash_in_id",
        lambda s: signed_delete(s, user_path(s.employee.id.replace("-", "%2D"))),
        MALFORMED_ID,
    ),
    Case("dot_dot_id", lambda s: signed_delete(s, user_path("..")), MALFORMED_ID),
    Case(
        "encoded_dot_dot_id",
        lambda s: Hostile("GET", user_path("%2e%2e"), s.bearer()),
        MALFORMED_ID,
    ),
    Case(
        "dot_dot_traversal_to_another_route",
        lambda s: Hostile("POST", "/auth/users/../action/init", s.bearer(), b"{}"),
        NO_ROUTE,
    ),
    Case(
        "uppercase_id", lambda s: signed_delete(s, user_path(s.employee.id.upper())), MALFORMED_ID
    ),
    Case(
        "raw_unicode_bytes_in_id",
        lambda s: Hostile("GET", user_path(s.employee.id).encode() + "é".encode(), s.bearer()),
        MALFORMED_ID,
    ),
    Case(
        "fullwidth_digits_in_id",
        lambda s: Hostile(
            "GET",
            user_path(_encode_all("us-\uff11\uff12\uff13\uff14\uff15-abcde-fghij")),
            s.bearer(),
        ),
        MALFORMED_ID,
    ),
    Case(
        "id_with_trailing_newline",
        lambda s: Hostile("GET", user_path(s.employee.id).encode() + b"\n", s.bearer()),
        MALFORMED_ID,
    ),
    Case(
        "id_with_encoded_newline",
        lambda s: Hostile("GET", user_path(s.employee.id + "%0A"), s.bearer()),
        MALFORMED_ID,
    ),
    Case(
        "id_with_null_byte",
        lambda s: Hostile("GET", user_path(s.employee.id + "%00"), s.bearer()),
        MALFORMED_ID,
    ),
    Case(
        "id_with_path_parameter",
        lambda s: Hostile("GET", user_path(s.employee.id + ";x=1"), s.bearer()),
        MALFORMED_ID,
    ),
    Case(
        "overlong_id",
        lambda s: Hostile("GET", user_path("us-" + "a" * 5000), s.bearer()),
        MALFORMED_ID,
    ),
    Case("extra_segment", lambda s: signed_delete(s, user_path(s.employee.id) + "/x"), NO_ROUTE),
    Case(
        "trailing_slash",
        lambda s: Hostile("GET", user_path(s.employee.id) + "/", s.bearer()),
        NO_ROUTE,
    ),
    Case(
        "double_slash",
        lambda s: Hostile("GET", "/auth//users/" + s.employee.id, s.bearer()),
        NO_ROUTE,
    ),
    # ------------------------------------------------------------------ archive rules
    Case(
        "archive_self",
        lambda s: signed_delete(s, user_path(s.admin.id)),
        (400, "A user cannot archive itself."),
    ),
    Case(
        "archive_user_of_another_org",
        lambda s: signed_delete(s, user_path(s.other_user.id)),
        NOT_FOUND,
    ),
    Case(
        "archive_unknown_user",
        lambda s: signed_delete(s, user_path("us-aaaaa-bbbbb-cccccccccccccccc")),
        NOT_FOUND,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_request(
    client: Client, scene: Scene, case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    hostile = case.build(scene)
    before = scene.snapshot()
    caplog.clear()
    caplog.set_level(logging.DEBUG)

    answer = client.request(hostile.method, hostile.target, hostile.headers, hostile.body)

    expected = case.wsgi if client.transport == "wsgi" and case.wsgi else case.expected
    assert (answer.status, answer.message) == expected
    assert answer.header("content-type") == "application/json"
    assert scene.snapshot() == before
    for actor in (scene.employee, scene.admin, scene.other_user):
        assert scene.is_active(actor)

    http_records = [r for r in caplog.records if r.name == "archive_core.http"]
    assert len(http_records) == 1
    assert getattr(http_records[0], "status", None) == answer.status
    assert getattr(http_records[0], "code", None) == answer.code
    assert_no_secret_logged(caplog.records, scene, hostile)


def _secrets(scene: Scene, hostile: Hostile) -> set[str]:
    found = set()
    for actor in (scene.admin, scene.reader, scene.nobody, scene.employee, scene.other_admin):
        found.add(actor.token)
        if actor.credential is not None:
            found.add(actor.credential.public_key)
    for _, value in hostile.headers:
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        found.update(part for part in text.split(" ") if len(part) >= 12)
    body = hostile.body if isinstance(hostile.body, bytes) else b"".join(hostile.body)
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # the hostile bodies themselves
        document = None
    if isinstance(document, dict):
        factor = document.get("firstFactor")
        if isinstance(factor, dict):
            assertion = factor.get("credentialAssertion", {})
            found.update(v for v in assertion.values() if isinstance(v, str) and len(v) >= 12)
        identifier = document.get("challengeIdentifier")
        if isinstance(identifier, str) and len(identifier) >= 12:
            found.add(identifier)
    return {s for s in found if len(s) >= 12 and not s.startswith(("us-", "or-"))}


def assert_no_secret_logged(
    records: list[logging.LogRecord], scene: Scene, hostile: Hostile
) -> None:
    text = "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in records)
    for secret in _secrets(scene, hostile):
        assert secret not in text, f"a secret reached the logs: {secret[:6]}…"


def test_there_are_at_least_forty_named_cases() -> None:
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)


def test_the_log_scan_would_catch_a_leak(scene: Scene) -> None:
    hostile = get_employee(scene, *scene.bearer())
    leaked = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", (scene.admin.token,), None)
    with pytest.raises(AssertionError, match="a secret reached the logs"):
        assert_no_secret_logged([leaked], scene, hostile)
