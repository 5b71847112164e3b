"""The Dfns audit-log endpoints (SPEC §1.6): `Auth:Logs:Read` in every preset, the CSV
export of a time window (streamed, cut at the cap and saying so), and one record as
JSON; another org's record is 404."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from adapters.testing.assertions import refused
from adapters.testing.world import Actor, Scene, World, admin_grants
from archive_core.audit import AuditRecord
from archive_core.errors import Catalogue
from archive_core.operations import PRESETS
from archive_core.requests import Answer, Request
from archive_core.use_cases import GET_AUDIT_LOG, LIST_AUDIT_LOGS
from archive_core.use_cases.audit_logs import (
    EXPORT_HEADER,
    ListAuditLogs,
    audit_log_to_wire,
    export_row,
)

READ = "Auth:Logs:Read"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def export(world: World, actor: Actor | None, query: str) -> Answer:
    return world.answer(
        LIST_AUDIT_LOGS, Request("GET", "/auth/action/logs", world.headers(actor), query=query)
    )


def lines(answer: Answer) -> list[str]:
    assert answer.chunks is not None
    return b"".join(answer.chunks).decode("utf-8").splitlines()


def window(start: datetime, end: datetime, extra: str = "") -> str:
    return f"startTime={_z(start)}&endTime={_z(end)}{extra}".replace(":", "%3A")


def archived(scene: Scene, count: int) -> list[AuditRecord]:
    """`count` users archived by the admin, a minute apart from T0 + 1 min."""
    world = scene.world
    for _ in range(count):
        world.clock.advance(timedelta(minutes=1))
        target = world.actor(scene.org)
        world.archive_user(scene.admin, target.id)
    return world.audit_records(scene.org)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_audit_log_endpoint_needs_logs_read_in_every_preset(preset: str) -> None:
    matrix = PRESETS[preset]
    for declaration in (LIST_AUDIT_LOGS, GET_AUDIT_LOG):
        assert matrix.required(declaration.name, None) == (READ,)


def test_the_export_needs_logs_read(scene: Scene) -> None:
    world = scene.world
    refused(
        Catalogue.PERMISSION_DENIED,
        lambda: export(world, scene.admin, window(T0, T0 + timedelta(days=1))),
        message=f"CustomerEmployee {scene.admin.id} is not authorized to perform operation ({READ})",
    )
    refused(Catalogue.NOT_AUTHORIZED, lambda: export(world, None, ""))


def test_the_export_is_the_orgs_window_in_log_order(scene: Scene) -> None:
    world = scene.world
    records = archived(scene, 4)
    other = world.scene()
    world.archive_user(other.admin, other.employee.id)  # another org's record
    reader = world.actor(scene.org, operations=[READ])
    answer = export(world, reader, window(T0, T0 + timedelta(days=1)))
    assert answer.media_type == "text/csv; charset=utf-8"
    assert answer.headers == ()
    assert lines(answer) == [EXPORT_HEADER] + [export_row(r).rstrip("\n") for r in records]
    first = records[0]
    evidence = first.evidence[0]
    assert export_row(first) == (
        f"{first.id},{_z(first.performed_at)},DELETE /auth/users/{first.target_id},"
        f"{scene.admin.id},admin@example.co,{first.user_action_id},"
        f"{evidence.credential_uuid},Key\n"
    )
    # startTime ≤ datePerformed < endTime
    second, third = records[1].performed_at, records[2].performed_at
    assert lines(export(world, reader, window(second, third)))[1:] == [
        export_row(records[1]).rstrip("\n")
    ]
    assert lines(export(world, reader, window(T0, T0 + timedelta(seconds=1)))) == [EXPORT_HEADER]


def test_the_export_filters_by_the_acting_user(scene: Scene) -> None:
    world = scene.world
    archived(scene, 2)
    other_admin = world.actor(scene.org, operations=admin_grants(world.matrix))
    world.archive_user(other_admin, scene.employee.id)
    reader = world.actor(scene.org, operations=[READ])
    day = window(T0, T0 + timedelta(days=1), f"&userId={other_admin.id}")
    rows = lines(export(world, reader, day))[1:]
    assert [row.split(",")[3] for row in rows] == [other_admin.id]


def test_the_export_refuses_a_bad_window_naming_it(scene: Scene) -> None:
    world = scene.world
    reader = world.actor(scene.org, operations=[READ])
    day = T0 + timedelta(days=1)

    def invalid(query: str, what: str) -> None:
        refused(
            Catalogue.QUERY_INVALID,
            lambda: export(world, reader, query),
            message=f"The query is invalid: {what}.",
        )

    instant = "must be a UTC ISO-8601 instant (2026-01-31T23:59:59Z)"
    invalid("", "startTime is required")
    invalid(f"startTime={_z(T0)}", "endTime is required")
    invalid(f"startTime=yesterday&endTime={_z(day)}", f"startTime {instant}")
    invalid(window(day, T0), "endTime must be later than startTime")
    invalid(window(T0, T0), "endTime must be later than startTime")
    invalid(window(T0, day, "&userId=us-NOPE"), "userId must be a user id (us-…)")
    invalid(window(T0, day, "&limit=3"), "unknown parameter limit")


def test_a_wide_window_is_cut_at_the_cap_and_says_so(scene: Scene) -> None:
    world = scene.world
    records = archived(scene, 5)
    capped = attrs.evolve(world.handler(LIST_AUDIT_LOGS), max_rows=3, page=2)
    world.replace_handler(LIST_AUDIT_LOGS, capped)
    reader = world.actor(scene.org, operations=[READ])
    answer = export(world, reader, window(T0, T0 + timedelta(days=1)))
    assert answer.headers == (("X-Dfns-Result-Truncated", "true"),)
    assert lines(answer) == [
        EXPORT_HEADER,
        *(export_row(r).rstrip("\n") for r in records[:3]),
        "# TRUNCATED after 3 rows: narrow the time range to retrieve all data",
    ]
    exactly = export(world, reader, window(T0, records[2].performed_at + timedelta(seconds=1)))
    assert exactly.headers == ()  # three rows: the cap, not past it
    assert len(lines(exactly)) == 4


def test_the_export_is_decided_before_its_first_byte_and_read_page_by_page(
    scene: Scene,
) -> None:
    world = scene.world
    records = archived(scene, 3)
    paged = attrs.evolve(world.handler(LIST_AUDIT_LOGS), page=1)
    world.replace_handler(LIST_AUDIT_LOGS, paged)
    reader = world.actor(scene.org, operations=[READ])
    answer = export(world, reader, window(T0, T0 + timedelta(days=1)))
    world.archive_user(scene.admin, scene.employee.id)  # after the survey: not exported
    assert answer.chunks is not None
    chunks = iter(answer.chunks)
    assert next(chunks) == (EXPORT_HEADER + "\n").encode()
    assert next(chunks) == export_row(records[0]).encode()
    # The store cut behind the server's back: the export ends where the records do.
    world.store.audit[scene.org][1:] = []
    assert list(chunks) == []


def _get(world: World, actor: Actor | None, record_id: str) -> dict[str, Any]:
    request = Request("GET", f"/auth/action/logs/{record_id}", world.headers(actor))
    return world.call(GET_AUDIT_LOG, request, record_id)


def test_one_record_in_the_sdks_shape(scene: Scene) -> None:
    world = scene.world
    (record,) = archived(scene, 1)
    reader = world.actor(scene.org, operations=[READ])
    answer = _get(world, reader, record.id)
    assert answer == {
        "id": record.id,
        "action": record.action,
        "actionToken": record.user_action_id,
        "userId": scene.admin.id,
        "username": "admin@example.co",
        "datePerformed": _z(record.performed_at),
        "dateSigned": _z(record.signed_at) if record.signed_at else None,
        "dateResolved": _z(record.performed_at),
        "responseStatus": 200,
        "responseError": None,
        "firstFactorCredential": record.evidence[0].to_dict(),
    }
    assert answer["dateSigned"] is not None


def test_one_record_is_the_callers_orgs_only(scene: Scene) -> None:
    world = scene.world
    (record,) = archived(scene, 1)
    stranger = world.actor(world.new_org(), operations=[READ])
    refused(Catalogue.AUDIT_NOT_FOUND, lambda: _get(world, stranger, record.id))
    refused(Catalogue.AUDIT_NOT_FOUND, lambda: _get(world, stranger, "au-none0-none0"))
    refused(Catalogue.AUDIT_ID_MALFORMED, lambda: _get(world, stranger, "au-NOPE"))
    refused(Catalogue.AUDIT_ID_MALFORMED, lambda: _get(world, stranger, "us-2mhcm-9r90a"))
    refused(
        Catalogue.PERMISSION_DENIED,
        lambda: _get(world, scene.admin, record.id),
        message=f"CustomerEmployee {scene.admin.id} is not authorized to perform operation ({READ})",
    )


def test_a_record_without_evidence_or_signing_time_shows_none(scene: Scene) -> None:
    (record,) = archived(scene, 1)
    bare = attrs.evolve(record, evidence=(), signed_at=None, actor_username='a,"b"')
    assert audit_log_to_wire(bare)["dateSigned"] is None
    assert audit_log_to_wire(bare)["firstFactorCredential"] is None
    assert export_row(bare).endswith(f',"a,""b""",{record.user_action_id},,\n')


def test_the_handler_is_built_from_the_deployment() -> None:
    world = World()
    handler = world.handler(LIST_AUDIT_LOGS)
    assert isinstance(handler, ListAuditLogs)
    assert (handler.max_rows, handler.page) == (100_000, 250)
