"""The routes of a deployment, derived from the declarations it serves.

A route is one path template (`/auth/users/{userId}`) with the declaration of each of
its methods. The table is built from the deployment's declarations and the server's
own routes (`SERVER_ROUTES`: the OpenAPI document and the probes); the handler routes
by it (`http.py`), the OpenAPI document describes exactly its routes (`openapi.py`),
the CORS layer answers a preflight with a path's methods from it, the metrics label a
request with its route's template and operation (`observed.py`), and the framework
embeddings mount its routes and claim no other path (`embeddings/`). Nothing here
names an operation of the core: adding one is its declaration.

Routing reads the raw path: a parameter is any non-empty segment, never
percent-decoded (its syntax is the operation's to judge, 400), and a literal segment
wins over a parameter (`/auth/action/logs/checkpoint` before `/auth/action/logs/{id}`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, NoReturn

import attrs

from archive_core.declarations import Declaration, Endpoints, Handler, Wiring
from archive_core.wire import Schema

__all__ = ["SERVER_ROUTES", "Route", "RouteTable"]


def _answered_by_the_transport(wiring: Wiring, declaration: Declaration[Any]) -> NoReturn:
    raise TypeError(f"{declaration!r} is answered by the HTTP handler itself")


_HEALTH: Final = Schema(
    "Health",
    {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
)
_READINESS: Final = Schema(
    "Readiness",
    {
        "type": "object",
        "required": ["status", "stores"],
        "properties": {
            "status": {"enum": ["ready", "unavailable"]},
            "stores": {"type": "object", "additionalProperties": {"enum": ["ok", "unavailable"]}},
            "failing": {"type": "array", "items": {"type": "string"}},
        },
    },
)

#: The server's own routes: no authentication, no data (docs/operations.md). The
#: embeddings do not mount them: the document and the probes are the server's.
SERVER_ROUTES: Final[tuple[Declaration[Handler], ...]] = (
    Declaration(
        name="OpenApi",
        method="GET",
        path="/openapi.json",
        operation_id="openapi",
        outcome="",
        summary="This document.",
        answer=Schema("", {"type": "object"}),
        errors=(),
        embedded=False,
        answer_description="The OpenAPI 3.1 document.",
        build=_answered_by_the_transport,
    ),
    Declaration(
        name="Healthz",
        method="GET",
        path="/healthz",
        operation_id="healthz",
        outcome="",
        summary="Liveness probe: the process answers (no authentication, no data).",
        answer=_HEALTH,
        errors=(),
        embedded=False,
        answer_description="The process is serving.",
        build=_answered_by_the_transport,
    ),
    Declaration(
        name="Readyz",
        method="GET",
        path="/readyz",
        operation_id="readyz",
        outcome="",
        summary=(
            "Readiness probe: every store answers a trivial query within 1 s "
            "(no authentication, no data)."
        ),
        answer=_READINESS,
        errors=(400, 413, 503),
        embedded=False,
        answer_description="Every store answered.",
        build=_answered_by_the_transport,
    ),
)


@attrs.frozen
class Route:
    """One path template and the declaration of each of its methods."""

    template: str
    methods: Mapping[str, Declaration[Handler]]
    #: the `Allow` header of a 405 (the methods, sorted)
    allow: str
    #: the route in logs: its operation's name, or the path's last literal segment when
    #: several operations share it
    name: str

    @property
    def embedded(self) -> bool:
        """Whether the framework embeddings mount it."""
        return any(declaration.embedded for declaration in self.methods.values())


@attrs.define
class _Node:
    route: Route | None = None
    literals: dict[str, _Node] = attrs.field(factory=dict)
    parameter: tuple[str, _Node] | None = None


def _last_literal(template: str) -> str:
    return [part for part in template.split("/") if part and "{" not in part][-1]


class RouteTable:
    """The routes of some declarations, and the matching of raw paths against them."""

    def __init__(self, declarations: Iterable[Declaration[Handler]]) -> None:
        by_template: dict[str, dict[str, Declaration[Handler]]] = {}
        shapes: dict[tuple[str, ...], str] = {}
        for declaration in declarations:
            # Two templates that differ only in their parameters' names are one route.
            shape = tuple("{}" if s.startswith("{") else s for s in declaration.segments)
            template = shapes.setdefault(shape, declaration.path)
            if template != declaration.path:
                raise ValueError(f"{declaration!r} and {template} are the same route")
            methods = by_template.setdefault(template, {})
            if declaration.method in methods:
                raise ValueError(f"{declaration!r} is declared twice")
            methods[declaration.method] = declaration
        self.routes: tuple[Route, ...] = tuple(
            Route(
                template,
                methods,
                ", ".join(sorted(methods)),
                next(iter(methods.values())).route_name
                if len(methods) == 1
                else _last_literal(template),
            )
            for template, methods in by_template.items()
        )
        self._static: dict[str, Route] = {}
        self._root = _Node()
        for route in self.routes:
            if "{" not in route.template:
                self._static[route.template] = route
                continue
            node = self._root
            for segment in route.template[1:].split("/"):
                if segment.startswith("{"):
                    if node.parameter is None:
                        node.parameter = (segment[1:-1], _Node())
                    node = node.parameter[1]
                else:
                    node = node.literals.setdefault(segment, _Node())
            node.route = route

    @classmethod
    def served(cls, endpoints: Endpoints) -> RouteTable:
        """The routes of a deployment: its operations' and the server's own."""
        return cls((*endpoints.declarations, *SERVER_ROUTES))

    def match(self, path: str) -> tuple[Route | None, dict[str, str]]:
        """The route a raw path (no query string) falls on, whatever its method, with its
        parameters; (None, {}) when it falls on none."""
        route = self._static.get(path)
        if route is not None or not path.startswith("/"):
            return route, {}
        params: dict[str, str] = {}
        found = _walk(self._root, path[1:].split("/"), 0, params)
        return (found, params) if found is not None else (None, {})

    def template_of(self, path: str) -> str | None:
        """The template of the route a raw path falls on; None when it falls on none."""
        route, _params = self.match(path)
        return None if route is None else route.template

    def allowed_methods(self, path: str) -> str | None:
        """The methods of the route a raw path falls on (`"DELETE, GET"`), None for none."""
        route, _params = self.match(path)
        return None if route is None else route.allow

    def operation(self, template: str, method: str) -> Declaration[Handler] | None:
        """The declaration of `method` on the route of `template`, if there is one."""
        for route in self.routes:
            if route.template == template:
                return route.methods.get(method)
        return None

    def mounted(self) -> Sequence[Route]:
        """The routes the framework embeddings mount (not the server's own)."""
        return tuple(route for route in self.routes if route.embedded)


def _walk(node: _Node, segments: list[str], index: int, params: dict[str, str]) -> Route | None:
    """Match `segments[index:]` below `node`: a literal first, then the parameter."""
    if index == len(segments):
        return node.route
    segment = segments[index]
    literal = node.literals.get(segment)
    if literal is not None:
        found = _walk(literal, segments, index + 1, params)
        if found is not None:
            return found
    if node.parameter is not None and segment:
        name, child = node.parameter
        found = _walk(child, segments, index + 1, params)
        if found is not None:
            params[name] = segment
            return found
    return None
