"""One declaration per operation: everything the rest of the house derives from.

A `Declaration` says, once, what an operation is: its name in the permission matrix
and its row in every preset, its method and path, its `operationId` and its summary,
what it reads from the body and the query, what it answers, the outcome its success
is counted as, and how its handler is built from the deployment's ports. From the
declarations a deployment serves, the composition root builds the handlers
(`Endpoints`), the matrix gathers its rows, the transport builds its routes, its
OpenAPI document, its metrics labels and its CORS answers, and the framework
embeddings mount the paths. The way from a route to its handler is the declaration
itself: `endpoints.handler(ARCHIVE_USER)`.

    ARCHIVE_USER = Declaration(
        name="ArchiveUser", method="DELETE", path="/auth/users/{userId}",
        operation_id="archiveUser", outcome="archived", summary="Archive a user ...",
        permissions=..., signed=True, answer=USER, build=signed_user_mutation(Archive()),
    )
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Final, Generic, Protocol, TypeVar, cast

import attrs

from archive_core.access import Gate
from archive_core.config import Policy
from archive_core.entities import CredentialKind
from archive_core.fields import Body, Query
from archive_core.log_signing import CheckpointSigner
from archive_core.permissions import PRESET_NAMES, PermissionMatrix, Permissions
from archive_core.ports import (
    AuthenticatorDataParser,
    ChallengeStore,
    PageTokens,
    Randomness,
    SignatureVerifier,
    UnitOfWorkFactory,
    UserActionTokenCodec,
)
from archive_core.requests import Answer, Request
from archive_core.wire import Schema

__all__ = [
    "TARGET_ERRORS",
    "Declaration",
    "Endpoints",
    "Handler",
    "Wiring",
    "resolve_matrix",
]

#: The error statuses of an operation on a target user (the OpenAPI document lists them).
TARGET_ERRORS: Final = (400, 401, 403, 404, 409, 413, 500, 503)

_METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_PARAMETER: Final = re.compile(r"\{([A-Za-z][A-Za-z0-9]*)\}")
_LITERAL: Final = re.compile(r"[A-Za-z0-9._~-]+")
_CAMEL: Final = re.compile(r"(?<!^)(?=[A-Z])")


class Handler(Protocol):
    """An operation's handler: the request in, its answer out (a refusal raises
    `ArchiveCoreError`)."""

    def __call__(self, request: Request) -> Answer:
        """Answer the request."""
        ...


H_co = TypeVar("H_co", bound=Handler, covariant=True)
H_in = TypeVar("H_in", bound=Handler)


@attrs.frozen(kw_only=True)
class Wiring:
    """What a handler is built from: the ports and settings of one deployment."""

    gate: Gate
    uow_factory: UnitOfWorkFactory
    challenges: ChallengeStore
    randomness: Randomness
    token_codec: UserActionTokenCodec
    verifiers: Mapping[CredentialKind, SignatureVerifier]
    authenticator_parser: AuthenticatorDataParser
    policy: Policy
    #: the permission matrix in force (the policy's, resolved: `resolve_matrix`)
    matrix: PermissionMatrix
    #: seals the pagination tokens of lists (a key shared through the store)
    page_tokens: PageTokens
    #: the log key that signs the audit log's checkpoints (None: they are not served)
    log_signer: CheckpointSigner | None = None


def _route_name(operation_id: str) -> str:
    return _CAMEL.sub("_", operation_id).lower()


@attrs.frozen(kw_only=True, eq=False)
class Declaration(Generic[H_co]):
    """One operation, declared once (see the module's doc).

    - `name`: the operation in the permission matrix, the decision log and the metrics;
    - `method`, `path`: the route; `{name}` segments are path parameters, handed to
      the handler raw in `Request.params` (their syntax is the operation's to judge);
    - `operation_id`, `summary`, `description`: the OpenAPI operation;
    - `outcome`: the decision code of a success (`archived`, `read`, ...);
    - `permissions`: its row in every matrix preset (None: not in the matrix, as the
      signing endpoints, which need no permission);
    - `signed`: it needs a user action token (`X-DFNS-USERACTION`);
    - `body`, `query`: what it reads (None: nothing); `request_schema` describes a body
      the operation parses itself;
    - `answer`: the JSON schema of its 200 (None: `media_type` only, e.g. a CSV), and
      `answer_description` what it is, in words (the summary when empty);
      `answer_headers` the headers its 200 may carry beyond the standard ones, each
      `(name, what it says)`: the OpenAPI document lists them and CORS exposes them;
    - `errors`: the error statuses it can answer (431 is added by the transport);
    - `build`: makes its handler from a deployment's `Wiring` and this declaration;
    - `embedded`: the framework embeddings mount it (the server's probes are not);
    - `reads_only`: its handler changes no stored state: it reads through a reading unit
      of work (`ReadingUnitOfWorkFactory`, where the store offers one), and the only
      write it may make is the gate's burn of a nonce the request sends.
    """

    name: str
    method: str
    path: str
    operation_id: str
    outcome: str
    summary: str
    build: Callable[[Wiring, Declaration[H_co]], H_co]
    description: str = ""
    permissions: Permissions | None = None
    signed: bool = False
    body: Body | None = None
    query: Query | None = None
    request_schema: Schema | None = None
    answer: Schema | None = None
    answer_description: str = ""
    media_type: str = "application/json"
    answer_headers: tuple[tuple[str, str], ...] = ()
    errors: tuple[int, ...] = (400, 401, 409, 413, 500, 503)
    embedded: bool = True
    reads_only: bool = False
    #: the path's segments: a literal, or a parameter's name in braces
    segments: tuple[str, ...] = attrs.field(init=False)
    #: the path parameters' names, in order
    parameters: tuple[str, ...] = attrs.field(init=False)
    #: the operation's name in logs and metric labels (`archive_user`)
    route_name: str = attrs.field(init=False)

    @segments.default
    def _segments(self) -> tuple[str, ...]:
        if self.method not in _METHODS:
            raise ValueError(f"{self.name}: method {self.method!r} is not one of {_METHODS}")
        if not self.path.startswith("/") or self.path.endswith("/"):
            raise ValueError(f"{self.name}: path {self.path!r} must start and not end with /")
        segments = tuple(self.path[1:].split("/"))
        for segment in segments:
            if not (_PARAMETER.fullmatch(segment) or _LITERAL.fullmatch(segment)):
                raise ValueError(f"{self.name}: path segment {segment!r} is not supported")
        return segments

    @parameters.default
    def _parameters(self) -> tuple[str, ...]:
        found = tuple(m.group(1) for s in self.segments if (m := _PARAMETER.fullmatch(s)))
        if len(set(found)) != len(found):
            raise ValueError(f"{self.name}: a path parameter is named twice")
        return found

    @route_name.default
    def _route_name(self) -> str:
        return _route_name(self.operation_id)

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters of a raw path on this operation's route (raw, never
        percent-decoded; a parameter is any non-empty segment); None when it is not."""
        parts = path[1:].split("/") if path.startswith("/") else []
        if len(parts) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for segment, part in zip(self.segments, parts, strict=True):
            if segment.startswith("{"):
                if not part:
                    return None
                params[segment[1:-1]] = part
            elif segment != part:
                return None
        return params

    def handler(self, wiring: Wiring) -> H_co:
        """This operation's handler, built from `wiring`."""
        return self.build(wiring, self)

    def __repr__(self) -> str:
        return f"Declaration({self.name}: {self.method} {self.path})"


class Endpoints:
    """The operations a deployment serves, each declaration with its handler, in the
    order they were declared.

    `built` names the declarations whose handler is the one their own `build` made
    (`Endpoints.build`); a handler given by hand or put in with `with_handler` is the
    embedder's code, of which nothing is known.
    """

    def __init__(
        self,
        pairs: Sequence[tuple[Declaration[Handler], Handler]],
        *,
        built: frozenset[Declaration[Handler]] = frozenset(),
    ) -> None:
        self._pairs = tuple(pairs)
        self._built = built & {declaration for declaration, _handler in self._pairs}
        self._handlers: dict[Declaration[Handler], Handler] = {}
        routes: set[tuple[str, str]] = set()
        for declaration, handler in self._pairs:
            route = (declaration.method, declaration.path)
            if declaration in self._handlers or route in routes:
                raise ValueError(f"{declaration!r} is served twice")
            names = {d.name for d in self._handlers}
            if declaration.name in names:
                raise ValueError(f"two operations are named {declaration.name!r}")
            self._handlers[declaration] = handler
            routes.add(route)

    @classmethod
    def build(cls, declarations: Sequence[Declaration[Handler]], wiring: Wiring) -> Endpoints:
        """Each declaration's handler, built from `wiring`."""
        return cls(
            [(declaration, declaration.handler(wiring)) for declaration in declarations],
            built=frozenset(declarations),
        )

    def handler(self, declaration: Declaration[H_in]) -> H_in:
        """The handler serving `declaration` (KeyError when it is not served)."""
        try:
            return cast(H_in, self._handlers[cast(Declaration[Handler], declaration)])
        except KeyError:
            raise KeyError(f"{declaration!r} is not served by this deployment") from None

    def with_handler(self, declaration: Declaration[Handler], handler: Handler) -> Endpoints:
        """The same endpoints, `declaration` served by `handler` instead (a wrapper that
        adds a rule of the embedder's around the library's handler, or a test double)."""
        self.handler(declaration)  # KeyError when it is not served
        return Endpoints(
            [(d, handler if d is declaration else h) for d, h in self._pairs],
            built=self._built - {declaration},
        )

    def built(self, declaration: Declaration[Handler]) -> bool:
        """Whether `declaration` is served by the handler its own `build` made."""
        return declaration in self._built

    @property
    def declarations(self) -> tuple[Declaration[Handler], ...]:
        """The declarations served, in order."""
        return tuple(declaration for declaration, _handler in self._pairs)

    def __iter__(self) -> Iterator[tuple[Declaration[Handler], Handler]]:
        return iter(self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)


def resolve_matrix(
    matrix: PermissionMatrix | str, declarations: Sequence[Declaration[Handler]]
) -> PermissionMatrix:
    """The matrix in force: a preset's name gathers that preset's rows from the
    declarations; a matrix built by hand must have a row for each of them."""
    rows = [(d.name, d.permissions) for d in declarations if d.permissions is not None]
    if isinstance(matrix, str):
        known = {*PRESET_NAMES, *(name for _op, row in rows for name in row.presets)}
        if matrix not in known:
            raise ValueError(f"no matrix preset {matrix!r}: one of {', '.join(sorted(known))}")
        return PermissionMatrix.of(matrix, rows)
    missing = [name for name, _row in rows if name not in matrix.operations]
    if missing:
        raise ValueError(
            f"matrix {matrix.name!r} has no row for {', '.join(missing)}: give each "
            "operation's row, or name a preset (Policy(matrix='dfns'))"
        )
    return matrix
