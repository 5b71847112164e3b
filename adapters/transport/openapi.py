"""The OpenAPI 3.1 description of the HTTP service, served at `GET /openapi.json`.

Each operation is described by its declaration (summary, body and query fields, the
schema of its answer, its error statuses); this module adds what every operation
shares (authentication, the headers, the error bodies). A deployment serves the
document of the routes it serves, an embedder's own operations included;
`docs/openapi.yaml` is the library's own (`python -m adapters.transport.openapi
docs/openapi.yaml`), and a test proves that the file and the served document agree.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from adapters.transport.routes import SERVER_ROUTES, RouteTable
from archive_core.declarations import Declaration, Handler
from archive_core.errors import Catalogue
from archive_core.operations import OPERATIONS
from archive_core.wire import Schema

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


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["id", "message", "status", "code"],
                "additionalProperties": False,
                "properties": {
                    "id": {
                        "type": "string",
                        "description": (
                            "This answer's own id, made by the server (never the request's "
                            "X-Request-Id); the server's log line for the answer names it."
                        ),
                    },
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
                    "details": {
                        "type": "object",
                        "description": "More about the refusal, where there is more to say.",
                    },
                },
            }
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
                c.QUERY_INVALID,
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


def _schema_of(schema: Schema, schemas: dict[str, Any]) -> dict[str, Any]:
    """A schema in place (an unnamed one) or as a reference to its component, which is
    gathered into `schemas` with the named schemas it refers to."""
    for name, referred in schema.refers_to.items():
        schemas.setdefault(name, dict(referred))
    if not schema.name:
        return dict(schema.schema)
    known = schemas.setdefault(schema.name, dict(schema.schema))
    if known != schema.schema:
        raise ValueError(f"two schemas are named {schema.name}")
    return _ref("schemas", schema.name)


def _operation(declaration: Declaration[Handler], schemas: dict[str, Any]) -> dict[str, Any]:
    """One operation object, from its declaration."""
    operation: dict[str, Any] = {
        "operationId": declaration.operation_id,
        "summary": declaration.summary,
    }
    if declaration.description:
        operation["description"] = declaration.description
    server_route = not declaration.embedded
    operation["security"] = [] if server_route else [{"bearerAuth": []}]
    parameters: list[dict[str, Any]] = []
    if not server_route:
        parameters += [_ref("parameters", "AppId"), _ref("parameters", "Nonce")]
    if declaration.signed:
        parameters.append(_ref("parameters", "UserAction"))
    if declaration.query is not None:
        parameters += declaration.query.parameters()
    if parameters:
        operation["parameters"] = parameters
    if declaration.body is not None:
        operation["requestBody"] = {
            "required": declaration.body.required,
            "content": {_JSON: {"schema": declaration.body.schema()}},
        }
    elif declaration.request_schema is not None:
        schema = declaration.request_schema
        operation["requestBody"] = {
            "required": bool(schema.name),
            "content": {_JSON: {"schema": _schema_of(schema, schemas)}},
        }
    answer: dict[str, Any] = {"description": declaration.answer_description or declaration.summary}
    if declaration.answer is not None:
        answer["content"] = {
            declaration.media_type: {"schema": _schema_of(declaration.answer, schemas)}
        }
    else:
        answer["content"] = {declaration.media_type: {"schema": {"type": "string"}}}
    if declaration.answer_headers:
        answer["headers"] = {
            name: {"description": what, "schema": {"type": "string"}}
            for name, what in declaration.answer_headers
        }
    responses = {"200": answer, **_errors(*declaration.errors, 431)}
    if declaration is _READYZ:
        # The probe answers 503 with its report, not the error body.
        responses["503"] = {
            "description": "A store did not answer; `failing` names it.",
            "content": answer["content"],
        }
    operation["responses"] = dict(sorted(responses.items()))
    return operation


_READYZ: Final = SERVER_ROUTES[2]


def _path_parameter(name: str) -> dict[str, Any]:
    if name == "userId":
        return _ref("parameters", "UserId")
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _paths(routes: RouteTable, schemas: dict[str, Any]) -> dict[str, Any]:
    """The `paths` of the document: one operation per method of each route, in the order
    they were declared. Every route can answer 431 (the head bound is checked before
    routing)."""
    paths: dict[str, Any] = {}
    for route in routes.routes:
        item: dict[str, Any] = {}
        first = next(iter(route.methods.values()))
        if first.parameters:
            item["parameters"] = [_path_parameter(name) for name in first.parameters]
        for method, declaration in route.methods.items():
            item[method.lower()] = _operation(declaration, schemas)
        paths[route.template] = item
    return paths


def library_routes() -> RouteTable:
    """The routes of the library's own operations and the server's (`docs/openapi.yaml`)."""
    return RouteTable((*OPERATIONS, *SERVER_ROUTES))


def document(routes: RouteTable | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of these routes (the library's own by default; a fresh
    copy on every call)."""
    schemas: dict[str, Any] = {"Error": _error_schema()}
    paths = _paths(library_routes() if routes is None else routes, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "archive-core",
            "version": "0.1.0",
            "description": (
                "Archive users the way the Dfns API does (DELETE /auth/users/{userId}): "
                "bearer authentication, one-time signed user actions, a permission matrix. "
                "Every answer is JSON; every error is "
                '{"error": {"id", "message", "status", "code"[, "reason"][, "details"]}} '
                "with an exact message."
            ),
        },
        "paths": paths,
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
            "schemas": dict(sorted(schemas.items())),
            "responses": _responses(),
        },
    }


def openapi_json(routes: RouteTable | None = None) -> bytes:
    """The document as served at `GET /openapi.json` (compact, ASCII)."""
    return json.dumps(document(routes), separators=(",", ":"), ensure_ascii=True).encode("ascii")


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
