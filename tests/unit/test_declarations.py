"""One declaration per operation: what it checks of itself, how its path matches, how
a deployment's handlers and matrix are gathered from the declarations it serves."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from adapters.testing import World
from archive_core.declarations import Declaration, Endpoints, Handler, Wiring, resolve_matrix
from archive_core.entities import UserKind
from archive_core.fields import Body, Field, Query
from archive_core.operations import DFNS_PRESET, OPERATIONS, PRESETS
from archive_core.permissions import Entry, PermissionMatrix, Permissions, Requirement
from archive_core.requests import Answer, Request
from archive_core.use_cases import ARCHIVE_USER, GET_USER
from archive_core.use_cases.signed_mutation import parse_values


@attrs.frozen
class Echo:
    """A handler answering its request's parameters."""

    def __call__(self, request: Request) -> Answer:
        return Answer.json({"params": dict(request.params), "query": request.query})


def echo(wiring: Wiring, declaration: Declaration[Echo]) -> Echo:
    return Echo()


def declared(path: str = "/things/{thingId}", **changes: Any) -> Declaration[Echo]:
    fields: dict[str, Any] = {
        "name": "ReadThing",
        "method": "GET",
        "path": path,
        "operation_id": "readThing",
        "outcome": "read",
        "summary": "Read a thing.",
        "build": echo,
    }
    fields.update(changes)
    return Declaration(**fields)


def test_a_declaration_knows_its_route() -> None:
    declaration = declared("/things/{thingId}/parts/{partId}", operation_id="readThingPart")
    assert declaration.segments == ("things", "{thingId}", "parts", "{partId}")
    assert declaration.parameters == ("thingId", "partId")
    assert declaration.route_name == "read_thing_part"
    assert repr(declaration) == "Declaration(ReadThing: GET /things/{thingId}/parts/{partId})"
    assert declaration.match("/things/t-1/parts/p%2F2") == {"thingId": "t-1", "partId": "p%2F2"}
    for other in ("/things/t-1/parts/", "/things//parts/p", "/things/t/bits/p", "things/t/parts/p"):
        assert declaration.match(other) is None


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"method": "TRACE"}, "method"),
        ({"path": "things"}, "must start"),
        ({"path": "/things/"}, "must start and not end"),
        ({"path": "/"}, "must start and not end"),
        ({"path": "/things//parts"}, "not supported"),
        ({"path": "/things/{thing id}"}, "not supported"),
        ({"path": "/things/x{thingId}"}, "not supported"),
        ({"path": "/things/{id}/{id}"}, "named twice"),
    ],
)
def test_a_malformed_declaration_is_refused(changes: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        declared(**changes)


def test_endpoints_serve_each_declaration_once() -> None:
    world = World()
    endpoints = world.deployment.endpoints
    assert endpoints.declarations == OPERATIONS
    assert len(endpoints) == len(OPERATIONS)
    assert [declaration for declaration, _handler in endpoints] == list(OPERATIONS)
    archive = endpoints.handler(ARCHIVE_USER)
    assert archive.declaration is ARCHIVE_USER
    with pytest.raises(KeyError, match="not served"):
        endpoints.handler(declared())
    pairs: list[tuple[Declaration[Handler], Handler]] = list(endpoints)
    with pytest.raises(ValueError, match="served twice"):
        Endpoints([*pairs, pairs[0]])
    with pytest.raises(ValueError, match="served twice"):
        Endpoints([*pairs, (attrs.evolve(ARCHIVE_USER, name="Other"), archive)])
    with pytest.raises(ValueError, match="two operations are named"):
        Endpoints([*pairs, (attrs.evolve(ARCHIVE_USER, path="/elsewhere/{userId}"), archive)])


def test_a_handler_is_replaced_through_its_declaration() -> None:
    world = World()
    endpoints = world.deployment.endpoints
    replaced = endpoints.with_handler(GET_USER, Echo())
    assert isinstance(replaced.handler(GET_USER), Echo)
    assert replaced.handler(ARCHIVE_USER) is endpoints.handler(ARCHIVE_USER)
    assert endpoints.handler(GET_USER) is not replaced.handler(GET_USER)
    with pytest.raises(KeyError):
        endpoints.with_handler(declared(), Echo())


def test_endpoints_know_which_handlers_their_own_build_made() -> None:
    endpoints = World().deployment.endpoints
    assert all(endpoints.built(declaration) for declaration in OPERATIONS)
    replaced = endpoints.with_handler(GET_USER, Echo())
    assert not replaced.built(GET_USER)
    assert replaced.built(ARCHIVE_USER)


def test_an_embedders_declaration_is_served_and_gets_its_matrix_row() -> None:
    thing = declared(permissions=Permissions(Entry((Requirement("Things:Read"),))))
    world = World(operations=(*OPERATIONS, thing))
    answer = world.answer(thing, Request("GET", "/things/t-1", query="x=1"))
    assert answer.document == {"params": {"thingId": "t-1"}, "query": "x=1"}
    assert world.deployment.matrix.required("ReadThing", None) == ("Things:Read",)
    assert world.deployment.matrix.required("ArchiveUser", None) == ("Auth:Users:Update",)


def test_the_matrix_in_force_is_a_preset_of_the_served_operations_or_a_whole_matrix() -> None:
    assert resolve_matrix("dfns", OPERATIONS) == DFNS_PRESET
    assert set(PRESETS) == {"dfns", "dfns-delete", "dfns-current"}
    with pytest.raises(ValueError, match="no matrix preset 'nope'"):
        resolve_matrix("nope", OPERATIONS)
    own = declared(
        permissions=Permissions(
            Entry((Requirement("Things:Read"),)),
            {"acme": Entry((Requirement("Acme:Read"),), frozenset({UserKind.END_USER}))},
        )
    )
    acme = resolve_matrix("acme", (*OPERATIONS, own))
    assert acme.required("ReadThing", None) == ("Acme:Read",)
    assert acme.refuses("ReadThing", UserKind.END_USER)
    assert acme.required("ArchiveUser", None) == ("Auth:Users:Update",)  # the default row
    assert resolve_matrix(DFNS_PRESET, OPERATIONS) is DFNS_PRESET
    with pytest.raises(ValueError, match="has no row for ReadThing"):
        resolve_matrix(DFNS_PRESET, (*OPERATIONS, own))
    by_hand = PermissionMatrix.from_mapping("by-hand", {"ReadThing": [{"permission": "X"}]})
    assert resolve_matrix(by_hand, (own,)) is by_hand


def test_the_declared_body_and_query_are_parsed_together() -> None:
    both = declared(
        body=Body((Field(name="force", type="boolean", default=False),)),
        query=Query((Field(name="limit", type="integer", default=10),)),
    )
    request = Request("GET", "/things/t", body=b'{"force": true}', query="limit=3")
    assert dict(parse_values(both, request)) == {"force": True, "limit": 3}
    assert not parse_values(declared(), request)


def test_answers_of_each_kind() -> None:
    assert Answer.json({"a": 1}, outcome="unchanged") == Answer(
        {"a": 1}, None, None, "application/json", (), "unchanged"
    )
    note = Answer.plain("a note\n")
    assert (note.text, note.media_type) == ("a note\n", "text/plain; charset=utf-8")
    chunks = iter([b"a,b\n"])
    stream = Answer.stream(chunks, media_type="text/csv", headers=(("x-a", "1"),))
    assert (stream.chunks, stream.media_type, stream.headers) == (
        chunks,
        "text/csv",
        (("x-a", "1"),),
    )
