"""`GET /auth/users`: List Users, the users of the caller's org (SPEC §1.5).

Unsigned, `Auth:Users:Read`. The query: `limit` (1 to 200, 100 by default),
`paginationToken`, `kind` (repeated or comma-separated); any other parameter is a 400
naming it (`pagination_token` included: a client must not get page 1 forever). The
answer is `{"items": [users as §1.2], "nextPageToken"?}` in `userId` order, one keyset
page (`UserRepository.list_users`): a user present for the whole walk appears exactly
once, whatever is created or archived meanwhile. Archived users are not listed;
deactivated ones are.

The token is opaque: the org, the kind filter and the last id of the page, sealed by
the `PageTokens` port with a key the deployment's instances share. It is bound to the
org and the kind filter, not to `limit` (a client may change its page size); a token
that does not open, or opens to another org or filter, is a 400 — never another org's
page.
"""

from __future__ import annotations

import json
from typing import Any, Final, Self

import attrs

from archive_core.declarations import Declaration, Wiring
from archive_core.entities import Grants, UserKind
from archive_core.errors import ArchiveCoreError, Catalogue
from archive_core.fields import Field, Query
from archive_core.ids import OrgId, UserId, is_canonical_id
from archive_core.permissions import Entry, Permissions, Requirement
from archive_core.ports import PageTokens
from archive_core.requests import Answer, Request
from archive_core.use_cases.reading import Read, ReadAccess
from archive_core.wire import USER, Schema, user_to_wire

__all__ = ["LIST_USERS", "ListUsers"]

_KINDS: Final = {kind._value_: kind for kind in UserKind}
MAX_TOKEN_LENGTH: Final = 1024


@attrs.frozen
class _Cursor:
    """What a pagination token carries."""

    org_id: str
    kinds: tuple[str, ...]
    after: str

    def data(self) -> bytes:
        return json.dumps(
            {"org": self.org_id, "kinds": list(self.kinds), "after": self.after},
            separators=(",", ":"),
        ).encode()

    @classmethod
    def of(cls, data: bytes) -> _Cursor | None:
        try:
            found = json.loads(data)
            cursor = cls(found["org"], tuple(found["kinds"]), found["after"])
        except (ValueError, KeyError, TypeError):
            return None
        return cursor if is_canonical_id(cursor.after, "us") else None


@attrs.frozen(kw_only=True)
class ListUsers(Read):
    """Headers → authentication → permission → query → token → one page."""

    page_tokens: PageTokens

    @classmethod
    def wired(cls, wiring: Wiring, declaration: Declaration[Any]) -> Self:
        """The use case of `declaration`, built from a deployment's wiring."""
        return cls(access=ReadAccess.wired(wiring, declaration), page_tokens=wiring.page_tokens)

    def __call__(self, request: Request) -> Answer:
        """Answer `GET /auth/users`."""
        with self.access.admitted(request) as (uow, principal, values):
            org_id = principal.user.org_id
            kinds = frozenset(_KINDS[name] for name in values["kind"])
            if kinds == frozenset(UserKind):
                kinds = frozenset()  # every kind: no filter
            names = tuple(sorted(kind._value_ for kind in kinds))
            after = self._after(values["paginationToken"], org_id, names)
            limit: int = values["limit"]
            users = uow.users.list_users(org_id, after=after, kinds=kinds, limit=limit + 1)
            page = users[:limit]
            held = uow.permissions.assignments_of_users([user.id for user in page])
            items = [
                user_to_wire(user, Grants.of(held[user.id], org_id).assignments) for user in page
            ]
        document: dict[str, Any] = {"items": items}
        if len(users) > limit:
            cursor = _Cursor(org_id, names, page[-1].id)
            document["nextPageToken"] = self.page_tokens.seal(cursor.data())
        return Answer.json(document)

    def _after(self, token: str | None, org_id: OrgId, names: tuple[str, ...]) -> UserId | None:
        """The last id of the page before, from a token bound to this org and filter."""
        if token is None:
            return None
        data = self.page_tokens.open(token)
        cursor = None if data is None else _Cursor.of(data)
        if cursor is None:
            raise ArchiveCoreError(Catalogue.PAGINATION_TOKEN_INVALID, reason="token_invalid")
        if cursor.org_id != org_id or cursor.kinds != names:
            raise ArchiveCoreError(Catalogue.PAGINATION_TOKEN_INVALID, reason="token_not_bound")
        return UserId(cursor.after)


_PAGE: Final = Schema(
    "UserPage",
    {
        "type": "object",
        "required": ["items"],
        "additionalProperties": False,
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/User"}},
            "nextPageToken": {
                "type": "string",
                "description": "Present when more users follow: the next page's paginationToken.",
            },
        },
    },
    refers_to={"User": USER.schema},
)

LIST_USERS: Final = Declaration[ListUsers](
    name="ListUsers",
    method="GET",
    path="/auth/users",
    operation_id="listUsers",
    outcome="listed",
    summary="List the users of the caller's org (needs Auth:Users:Read).",
    description=(
        "Keyset pages in userId order: a user present for the whole walk appears exactly "
        "once. Archived users are not listed; deactivated ones are. nextPageToken is "
        "opaque, bound to the org and the kind filter (not to limit)."
    ),
    permissions=Permissions(Entry((Requirement("Auth:Users:Read"),))),
    query=Query(
        (
            Field(name="limit", type="integer", default=100, minimum=1, maximum=200),
            Field(name="paginationToken", max_length=MAX_TOKEN_LENGTH),
            Field(name="kind", choices=tuple(_KINDS), repeated=True),
        )
    ),
    answer=_PAGE,
    answer_description="One page of the org's users.",
    errors=(400, 401, 403, 413, 500, 503),
    reads_only=True,
    build=ListUsers.wired,
)
