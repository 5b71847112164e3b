"""The one route table: every HTTP route of the service, written once.

The handler routes by it (`http.py`), the OpenAPI document describes exactly its routes
(`openapi.py`), the CORS layer answers a preflight with a path's methods from it, the
metrics label a request with its route's template (`observed.py`), and the framework
embeddings mount its paths (`embeddings/`). Adding a route is one entry here, its
`Service` callable, and its OpenAPI description.
"""

from __future__ import annotations

from typing import Final

import attrs

__all__ = [
    "ROUTES",
    "ROUTE_NAMES",
    "USERS_PREFIX",
    "USER_ID",
    "Route",
    "mounted_paths",
    "template_of",
]

#: Routes under this prefix take the target user's id as their next path segment.
USERS_PREFIX: Final = "/auth/users/"
#: The path parameter of those routes, as the OpenAPI document names it.
USER_ID: Final = "{userId}"


@attrs.frozen
class Route:
    """One method on one path."""

    #: the route's name in logs, metrics and the `Service` (snake_case)
    name: str
    method: str
    #: the OpenAPI path template (`{userId}` for the target user's id)
    template: str
    #: the OpenAPI `operationId`
    operation_id: str
    #: the outcome code a metric records for a 200 (None: not an operation of the core)
    outcome: str | None = None
    #: mounted by the framework embeddings (the probes and the document are the server's)
    embedded: bool = True

    @property
    def takes_user_id(self) -> bool:
        """Whether the path carries the target user's id."""
        return self.template.startswith(USERS_PREFIX + USER_ID)

    @property
    def action(self) -> str:
        """The segment after the user id (`deactivate`), or "" for the user itself."""
        return self.template[len(USERS_PREFIX + USER_ID) :].lstrip("/")


ROUTES: Final = (
    Route("init_user_action", "POST", "/auth/action/init", "initUserAction", "challenge_issued"),
    Route(
        "complete_user_action", "POST", "/auth/action", "completeUserAction", "user_action_issued"
    ),
    Route("archive_user", "DELETE", USERS_PREFIX + USER_ID, "archiveUser", "archived"),
    Route("get_user", "GET", USERS_PREFIX + USER_ID, "getUser", "read"),
    Route(
        "deactivate_user",
        "PUT",
        USERS_PREFIX + USER_ID + "/deactivate",
        "deactivateUser",
        "deactivated",
    ),
    Route(
        "activate_user", "PUT", USERS_PREFIX + USER_ID + "/activate", "activateUser", "activated"
    ),
    Route("openapi", "GET", "/openapi.json", "openapi", embedded=False),
    # Probes: no authentication, no data (docs/operations.md).
    Route("healthz", "GET", "/healthz", "healthz", embedded=False),
    Route("readyz", "GET", "/readyz", "readyz", embedded=False),
)
ROUTE_NAMES: Final = tuple(route.name for route in ROUTES)

_STATIC: Final = frozenset(route.template for route in ROUTES if not route.takes_user_id)
_ACTIONS: Final = frozenset(route.action for route in ROUTES if route.takes_user_id)


def template_of(path: str) -> str | None:
    """The template of the route `path` (no query string) falls on, whatever its method;
    None when it falls on none. A user id is any non-empty segment: its syntax is the
    core's to judge (400), never the router's."""
    if path in _STATIC:
        return path
    if not path.startswith(USERS_PREFIX):
        return None
    user_id, slash, action = path[len(USERS_PREFIX) :].partition("/")
    if not user_id or (slash and (not action or action not in _ACTIONS)):
        return None
    return USERS_PREFIX + USER_ID + (f"/{action}" if slash else "")


def mounted_paths() -> tuple[tuple[str, ...], str]:
    """What an embedding mounts: the exact paths of its routes without a user id, and the
    prefix under which every route with one lives (the handler routes inside it)."""
    exact = tuple(dict.fromkeys(r.template for r in ROUTES if r.embedded and not r.takes_user_id))
    return exact, USERS_PREFIX
