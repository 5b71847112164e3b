"""The OpenAPI 3.1 description of the HTTP service, served at `GET /openapi.json`.

The document is data in this module; `docs/openapi.yaml` is rendered from it
(`python -m adapters.transport.openapi docs/openapi.yaml`) and a test proves that the
file and the served document agree.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from adapters.transport.routes import ROUTES
from archive_core.errors import Catalogue

__all__ = ["document", "openapi_json", "render_yaml"]

_JSON: Final = "application/json"
_ID_PATTERN: Final = r"^[a-z]{2,4}(-[a-z0-9]{1,32}){2,6}$"


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _error_response(description: str, kinds: Sequence[Any]) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            _JSON: {
                "schema": _ref("schemas", "Error"),
                "examples": {
                    kind.code: {
                        "value": {"error": {"message": kind.message, "code": kind.code}},
                    }
                    for kind in kinds
                },
            }
        },
    }


def _ok(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": _ref("schemas", schema)}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _ref("responses", _RESPONSE_NAMES[status]) for status in statuses}


_RESPONSE_NAMES: Final = {
    400: "BadRequest",
    401: "NotAuthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    413: "TooLarge",
    431: "HeaderTooLarge",
    500: "InternalError",
    503: "Unavailable",
}

_STRING: Final = {"type": "string"}


def _schemas() -> dict[str, Any]:
    string_list = {"type": "array", "items": _STRING}
    credential_entry: dict[str, Any] = {
        "type": "object",
        "required": ["type", "id"],
        "properties": {"type": {"const": "public-key"}, "id": _STRING},
    }
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "additionalProperties": False,
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["message", "status", "code"],
                    "additionalProperties": False,
                    "properties": {
                        "message": {"type": "string", "description": "Exact, stable message."},
                        "status": {"type": "integer", "description": "The HTTP status."},
                        "code": {
                            "type": "string",
                            "enum": sorted({kind.code for kind in Catalogue.all()}),
                            "description": "Stable machine-readable code (docs/errors.md).",
                        },
                        "reason": {
                            "type": "string",
                            "description": "Which check refused; never an echo of input.",
                        },
                    },
                }
            },
        },
        "InitUserActionRequest": {
            "type": "object",
            "required": ["userActionPayload", "userActionHttpMethod", "userActionHttpPath"],
            "properties": {
                "userActionPayload": {
                    "type": "string",
                    "description": 'The exact body of the request to sign ("" for none).',
                },
                "userActionHttpMethod": {"enum": ["POST", "PUT", "DELETE", "GET"]},
                "userActionHttpPath": {"type": "string", "pattern": "^/"},
                "userActionServerKind": {"enum": ["Api", "Staff"]},
            },
        },
        "InitUserActionResponse": {
            "type": "object",
            "required": [
                "challenge",
                "challengeIdentifier",
                "supportedCredentialKinds",
                "allowCredentials",
                "userVerification",
                "rp",
                "externalAuthenticationUrl",
                "attestation",
            ],
            "additionalProperties": False,
            "properties": {
                "challenge": _STRING,
                "challengeIdentifier": _STRING,
                "supportedCredentialKinds": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["kind", "factor", "requiresSecondFactor"],
                        "properties": {
                            "kind": _ref("schemas", "CredentialKind"),
                            "factor": {"enum": ["first", "second", "either"]},
                            "requiresSecondFactor": {"type": "boolean"},
                        },
                    },
                },
                "allowCredentials": {
                    "type": "object",
                    "required": ["key", "passwordProtectedKey", "webauthn"],
                    "additionalProperties": False,
                    "properties": {
                        "key": {"type": "array", "items": credential_entry},
                        "passwordProtectedKey": {
                            "type": "array",
                            "items": {
                                **credential_entry,
                                "required": ["type", "id", "encryptedPrivateKey"],
                                "properties": {
                                    **credential_entry["properties"],
                                    "encryptedPrivateKey": _STRING,
                                },
                            },
                        },
                        "webauthn": {
                            "type": "array",
                            "items": {
                                **credential_entry,
                                "required": ["type", "id", "transports"],
                                "properties": {
                                    **credential_entry["properties"],
                                    "transports": string_list,
                                },
                            },
                        },
                    },
                },
                "userVerification": {"enum": ["required", "preferred", "discouraged"]},
                "rp": {
                    "type": "object",
                    "required": ["id", "name"],
                    "properties": {"id": _STRING, "name": _STRING},
                },
                "externalAuthenticationUrl": _STRING,
                "attestation": {"const": "none"},
            },
        },
        "CredentialKind": {"enum": ["Fido2", "Key", "PasswordProtectedKey", "RecoveryKey"]},
        "CredentialAssertion": {
            "type": "object",
            "required": ["credId", "clientData", "signature"],
            "properties": {
                "credId": _STRING,
                "clientData": {"type": "string", "description": "base64url, no padding"},
                "signature": {"type": "string", "description": "base64url, no padding"},
                "authenticatorData": {"type": "string", "description": "Fido2 only"},
                "userHandle": {"type": "string", "description": "Fido2 only"},
                "algorithm": _STRING,
            },
        },
        "Factor": {
            "type": "object",
            "required": ["kind", "credentialAssertion"],
            "properties": {
                "kind": {
                    "enum": ["Fido2", "Key", "PasswordProtectedKey", "Password", "Totp"],
                    "description": (
                        "Key and PasswordProtectedKey are one family (the stored credential "
                        "decides); Password and Totp are refused (401); RecoveryKey never signs."
                    ),
                },
                "credentialAssertion": _ref("schemas", "CredentialAssertion"),
            },
        },
        "CompleteUserActionRequest": {
            "type": "object",
            "required": ["challengeIdentifier", "firstFactor"],
            "properties": {
                "challengeIdentifier": _STRING,
                "firstFactor": _ref("schemas", "Factor"),
                "secondFactor": _ref("schemas", "Factor"),
            },
        },
        "CompleteUserActionResponse": {
            "type": "object",
            "required": ["userAction"],
            "additionalProperties": False,
            "properties": {
                "userAction": {
                    "type": "string",
                    "description": "One-time token for the exact signed request.",
                }
            },
        },
        "DeactivateUserRequest": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"force": {"type": "boolean"}},
        },
        "Health": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"const": "ok"}},
        },
        "Readiness": {
            "type": "object",
            "required": ["status", "stores"],
            "properties": {
                "status": {"enum": ["ready", "unavailable"]},
                "stores": {
                    "type": "object",
                    "additionalProperties": {"enum": ["ok", "unavailable"]},
                },
                "failing": {"type": "array", "items": _STRING},
            },
        },
        "User": {
            "type": "object",
            "required": [
                "username",
                "userId",
                "kind",
                "credentialUuid",
                "orgId",
                "permissions",
                "scopes",
                "isActive",
                "isServiceAccount",
                "isRegistered",
                "permissionAssignments",
                "name",
                "isSSORequired",
            ],
            "additionalProperties": False,
            "properties": {
                "username": _STRING,
                "userId": _STRING,
                "kind": {"enum": ["CustomerEmployee", "EndUser"]},
                "credentialUuid": _STRING,
                "orgId": _STRING,
                "permissions": string_list,
                "scopes": string_list,
                "isActive": {"type": "boolean"},
                "isServiceAccount": {"type": "boolean"},
                "isRegistered": {"type": "boolean"},
                "name": {"type": "string", "description": "Display name; the username when none."},
                "isSSORequired": {"type": "boolean"},
                "permissionAssignments": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": [
                            "permissionName",
                            "permissionId",
                            "assignmentId",
                            "operations",
                        ],
                        "additionalProperties": False,
                        "properties": {
                            "permissionName": _STRING,
                            "permissionId": _STRING,
                            "assignmentId": _STRING,
                            "operations": string_list,
                        },
                    },
                },
            },
        },
    }


def _responses() -> dict[str, Any]:
    c = Catalogue
    return {
        "BadRequest": _error_response(
            "Malformed or refused request (headers, body, ids, archive rules, replays).",
            [
                c.NONCE_INVALID,
                c.NONCE_REPLAYED,
                c.APP_ID_INVALID,
                c.USER_ACTION_REPLAYED,
                c.USER_DEACTIVATED,
                c.CHALLENGE_INVALID,
                c.USER_ID_MALFORMED,
                c.SELF_ARCHIVE,
                c.SERVICE_ACCOUNT_TARGET,
                c.LAST_ARCHIVER,
                c.SELF_DEACTIVATE,
                c.SELF_ACTIVATE,
                c.SERVICE_ACCOUNT_DEACTIVATE,
                c.SERVICE_ACCOUNT_ACTIVATE,
                c.LAST_ACTIVATOR,
                c.BODY_INVALID,
                c.JSON_MALFORMED,
            ],
        ),
        "NotAuthorized": _error_response(
            "Authentication failed.",
            [
                c.NOT_AUTHORIZED,
                c.SIGNING_USER_NOT_FOUND,
                c.NO_USABLE_CREDENTIAL,
                c.ASSERTION_INVALID,
            ],
        ),
        "Forbidden": _error_response(
            "The permission matrix denies, or the user action signature is missing or invalid.",
            [c.PERMISSION_DENIED, c.USER_ACTION_INVALID],
        ),
        "NotFound": _error_response(
            "The user does not exist, lives in another org, or is already archived.",
            [c.TARGET_NOT_FOUND],
        ),
        "Conflict": _error_response("A concurrent request changed the user.", [c.CONFLICT]),
        "TooLarge": _error_response("The request body is over 64 KiB.", [c.BODY_TOO_LARGE]),
        "HeaderTooLarge": _error_response(
            "The request head is over 16 KiB or over 100 header lines.", [c.HEAD_TOO_LARGE]
        ),
        "InternalError": _error_response("Anything unexpected.", [c.INTERNAL]),
        "Unavailable": _error_response("The storage backend is unreachable.", [c.UNAVAILABLE]),
    }


def _operations() -> dict[str, dict[str, Any]]:
    """Each route's description, by route name; its path, method and `operationId` come
    from the route table (`routes.py`)."""
    headers = [_ref("parameters", "AppId"), _ref("parameters", "Nonce")]
    bearer: list[dict[str, list[str]]] = [{"bearerAuth": []}]
    return {
        "init_user_action": {
            "summary": "Open a signing session for one exact request.",
            "security": bearer,
            "parameters": headers,
            "requestBody": {
                "required": True,
                "content": {_JSON: {"schema": _ref("schemas", "InitUserActionRequest")}},
            },
            "responses": {
                "200": _ok("The challenge to sign.", "InitUserActionResponse"),
                **_errors(400, 401, 409, 413, 500, 503),
            },
        },
        "complete_user_action": {
            "summary": "Verify the signed challenge; issue a one-time user action token.",
            "security": bearer,
            "parameters": headers,
            "requestBody": {
                "required": True,
                "content": {_JSON: {"schema": _ref("schemas", "CompleteUserActionRequest")}},
            },
            "responses": {
                "200": _ok("The user action token.", "CompleteUserActionResponse"),
                **_errors(400, 401, 409, 413, 500, 503),
            },
        },
        "archive_user": {
            "summary": "Archive a user of the caller's org (soft delete, irreversible).",
            "description": (
                "Needs Auth:Users:Update, plus Auth:Types:Employee or "
                "Auth:Types:EndUser for the target's kind. The user action token "
                'binds the exact body bytes: no body is the payload "", the body '
                '{} is the payload "{}".'
            ),
            "security": bearer,
            "parameters": [*headers, _ref("parameters", "UserAction")],
            "requestBody": {
                "required": False,
                "content": {_JSON: {"schema": {}}},
            },
            "responses": {
                "200": _ok("The user as it now stands (isActive false).", "User"),
                **_errors(400, 401, 403, 404, 409, 413, 500, 503),
            },
        },
        "get_user": {
            "summary": "Read a user of the caller's org (needs Auth:Users:Read).",
            "security": bearer,
            "parameters": headers,
            "responses": {
                "200": _ok("The user.", "User"),
                **_errors(400, 401, 403, 404, 409, 413, 500, 503),
            },
        },
        "deactivate_user": {
            "summary": "Deactivate a user of the caller's org (reversible by activate).",
            "description": (
                "Needs Auth:Users:Update plus the target's type permission (preset "
                "dfns), or Auth:Users:Deactivate (dfns-current). Not yourself, not a "
                "service account, not the org's last active user who can activate "
                "users. An inactive user is answered unchanged. The user's bearer "
                "tokens, open challenges and unused user action tokens stop working, "
                "and stay dead once it is activated again. `force` changes no rule."
            ),
            "security": bearer,
            "parameters": [*headers, _ref("parameters", "UserAction")],
            "requestBody": {
                "required": False,
                "content": {_JSON: {"schema": _ref("schemas", "DeactivateUserRequest")}},
            },
            "responses": {
                "200": _ok("The user as it now stands (isActive false).", "User"),
                **_errors(400, 401, 403, 404, 409, 413, 500, 503),
            },
        },
        "activate_user": {
            "summary": "Activate a deactivated user of the caller's org.",
            "description": (
                "Needs Auth:Users:Update plus the target's type permission (preset "
                "dfns), or Auth:Users:Activate (dfns-current). Not yourself, not a "
                "service account; an archived user is 404; an active user is "
                "answered unchanged. No body."
            ),
            "security": bearer,
            "parameters": [*headers, _ref("parameters", "UserAction")],
            "responses": {
                "200": _ok("The user as it now stands (isActive true).", "User"),
                **_errors(400, 401, 403, 404, 409, 413, 500, 503),
            },
        },
        "openapi": {
            "summary": "This document.",
            "security": [],
            "responses": {
                "200": {
                    "description": "The OpenAPI 3.1 document.",
                    "content": {_JSON: {"schema": {"type": "object"}}},
                },
            },
        },
        "healthz": {
            "summary": "Liveness probe: the process answers (no authentication, no data).",
            "security": [],
            "responses": {"200": _ok("The process is serving.", "Health")},
        },
        "readyz": {
            "summary": (
                "Readiness probe: every store answers a trivial query within 1 s "
                "(no authentication, no data)."
            ),
            "security": [],
            "responses": {
                "200": _ok("Every store answered.", "Readiness"),
                "503": _ok("A store did not answer; `failing` names it.", "Readiness"),
                **_errors(400, 413),
            },
        },
    }


def _paths() -> dict[str, Any]:
    """The `paths` of the document: one operation per route of the route table, in its
    order. Every route can answer 431 (the head bound is checked before routing)."""
    operations = _operations()
    paths: dict[str, Any] = {}
    for route in ROUTES:
        item = paths.setdefault(route.template, {})
        if route.takes_user_id:
            item.setdefault("parameters", [_ref("parameters", "UserId")])
        operation = {"operationId": route.operation_id, **operations.pop(route.name)}
        responses = {**operation["responses"], **_errors(431)}
        operation["responses"] = dict(sorted(responses.items()))
        item[route.method.lower()] = operation
    if operations:
        raise AssertionError(f"described routes that the table lacks: {sorted(operations)}")
    return paths


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the service (a fresh copy on every call)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "archive-core",
            "version": "0.1.0",
            "description": (
                "Archive users the way the Dfns API does (DELETE /auth/users/{userId}): "
                "bearer authentication, one-time signed user actions, a permission matrix. "
                "Every answer is JSON; every error is "
                '{"error": {"message", "status", "code"[, "reason"]}} with an exact message.'
            ),
        },
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
            "parameters": {
                "UserId": {
                    "name": "userId",
                    "in": "path",
                    "required": True,
                    "description": (
                        "A user id in canonical form (us-…); anything else is a 400, "
                        "never percent-decoded."
                    ),
                    "schema": {"type": "string", "pattern": _ID_PATTERN, "maxLength": 64},
                },
                "AppId": {
                    "name": "X-DFNS-APPID",
                    "in": "header",
                    "required": False,
                    "description": "The application the call is made through (ap-…).",
                    "schema": _STRING,
                },
                "Nonce": {
                    "name": "X-DFNS-NONCE",
                    "in": "header",
                    "required": False,
                    "description": (
                        'base64url of JSON {"uuid": "<≥13 chars>", "date": "<ISO-8601>"}'
                    ),
                    "schema": _STRING,
                },
                "UserAction": {
                    "name": "X-DFNS-USERACTION",
                    "in": "header",
                    "required": True,
                    "description": "The one-time user action token for this exact request.",
                    "schema": _STRING,
                },
            },
            "schemas": _schemas(),
            "responses": _responses(),
        },
    }


def openapi_json() -> bytes:
    """The document as served at `GET /openapi.json` (compact, ASCII)."""
    return json.dumps(document(), separators=(",", ":"), ensure_ascii=True).encode("ascii")


# ------------------------------------------------------------------------------ YAML
_PLAIN: Final = re.compile(r"[A-Za-z_$/][A-Za-z0-9_$/.{}-]*\Z")
# Words YAML 1.1 readers (PyYAML) would not read back as strings.
_RESERVED: Final = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"})


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _RESERVED:
        return text
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _emit(value: Any, indent: int, lines: list[str]) -> None:
    pad = "  " * indent
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = _scalar(str(key))
            if isinstance(item, (Mapping, list)) and item:
                lines.append(f"{pad}{name}:")
                _emit(item, indent + 1, lines)
            else:
                lines.append(f"{pad}{name}: {_inline(item)}")
        return
    for item in value:
        if isinstance(item, Mapping) and item:
            nested: list[str] = []
            _emit(item, indent + 1, nested)
            first = nested[0].lstrip()
            lines.append(f"{pad}- {first}")
            lines.extend(nested[1:])
        else:
            lines.append(f"{pad}- {_inline(item)}")


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def render_yaml(doc: Mapping[str, Any] | None = None) -> str:
    """The document as YAML (what `docs/openapi.yaml` holds)."""
    lines = [
        "# Generated from adapters/transport/openapi.py",
        "# (python -m adapters.transport.openapi docs/openapi.yaml); do not edit by hand.",
    ]
    _emit(document() if doc is None else doc, 0, lines)
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write the YAML rendering to the given path (or print it)."""
    args = list(sys.argv[1:] if argv is None else argv)
    text = render_yaml()
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
