"""The Dfns audit-log endpoints (SPEC §1.6): the org's log as a CSV export, and one
record as JSON. Both need a bearer token and `Auth:Logs:Read` (every preset); another
org's record is 404.

`GET /auth/action/logs?startTime=…&endTime=…[&userId=…]` answers the org's records
performed at `startTime` or later and before `endTime` (by `userId` when given), in log
order, as CSV with the header `EXPORT_HEADER`, at most `MAX_EXPORT_ROWS` rows. Whether
the export is cut is decided before its first byte: the window is surveyed up to one row
past the cap, then read in keyset pages (`AuditLog.window`), each in its own short
reading unit of work, and sent as it is read: memory stays flat whatever the window.
A cut export carries `X-Dfns-Result-Truncated: true` and ends with a `# TRUNCATED` line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import attrs

from archive_core.audit import AuditRecord, AuditWindow
from archive_core.declarations import Declaration, Handler, Wiring
from archive_core.entities import Principal
from archive_core.errors import ArchiveCoreError, Catalogue
from archive_core.fields import Field, Query
from archive_core.ids import OrgId, is_canonical_id
from archive_core.permissions import Entry, Permissions, Requirement
from archive_core.ports import UnitOfWork
from archive_core.requests import Answer, Request
from archive_core.use_cases.reading import Read
from archive_core.wire import Schema

__all__ = [
    "AUDIT_LOG",
    "EXPORT_HEADER",
    "GET_AUDIT_LOG",
    "LIST_AUDIT_LOGS",
    "LOGS_READ",
    "MAX_EXPORT_ROWS",
    "TRUNCATED_HEADER",
    "GetAuditLog",
    "ListAuditLogs",
    "audit_log_to_wire",
    "export_row",
    "log_read",
    "record_of",
]

#: The permission every audit-log endpoint needs, in every preset.
LOGS_READ: Final = Permissions(Entry((Requirement("Auth:Logs:Read"),)))
#: The first line of an export, exactly.
EXPORT_HEADER: Final = (
    "id,datePerformed,action,userId,username,userActionId,credentialUuid,credentialKind"
)
#: The most rows an export holds; a wider window is cut, and says so.
MAX_EXPORT_ROWS: Final = 100_000
#: Records read per keyset page (one short reading unit of work each).
EXPORT_PAGE: Final = 250
#: The header of a cut export (exposed to browsers by CORS).
TRUNCATED_HEADER: Final = "X-Dfns-Result-Truncated"
_CSV: Final = "text/csv; charset=utf-8"
_QUOTED: Final = frozenset(',"\r\n')
_LOGS_ERRORS: Final = (400, 401, 403, 413, 500, 503)


def _instant(moment: datetime) -> str:
    """A time as the log shows it: UTC, microseconds, `Z` (`2026-01-31T23:59:59.000000Z`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _cell(text: str) -> str:
    """One CSV field (RFC 4180): quoted, its quotes doubled, when it holds a comma, a
    quote or a line break."""
    if _QUOTED.isdisjoint(text):
        return text
    return '"' + text.replace('"', '""') + '"'


def export_row(record: AuditRecord) -> str:
    """A record's line of the export (`EXPORT_HEADER`'s columns, ending with `\\n`); the
    credential is the first factor's."""
    first = record.evidence[0] if record.evidence else None
    cells = (
        record.id,
        _instant(record.performed_at),
        record.action,
        record.actor_id,
        record.actor_username,
        record.user_action_id,
        "" if first is None else first.credential_uuid,
        "" if first is None else first.credential_kind.value,
    )
    return ",".join(map(_cell, cells)) + "\n"


def _query_invalid(what: str) -> ArchiveCoreError:
    return ArchiveCoreError(
        Catalogue.QUERY_INVALID, message=f"The query is invalid: {what}.", reason="query_parameter"
    )


@attrs.frozen(kw_only=True)
class ListAuditLogs(Read):
    """Headers → authentication → permission → query (window, user id) → survey → stream."""

    max_rows: int = MAX_EXPORT_ROWS
    page: int = EXPORT_PAGE

    def __call__(self, request: Request) -> Answer:
        """Answer `GET /auth/action/logs`: the export, streamed."""
        with self.access.admitted(request) as (uow, principal, values):
            start, end, user_id = values["startTime"], values["endTime"], values["userId"]
            if end <= start:
                raise _query_invalid("endTime must be later than startTime")
            if user_id is not None and not is_canonical_id(user_id, "us"):
                raise _query_invalid("userId must be a user id (us-…)")
            window = AuditWindow(start=start, end=end, actor=user_id)
            org_id = principal.user.org_id
            count, last = uow.audit.survey(org_id, window, at_most=self.max_rows + 1)
        rows = min(count, self.max_rows)
        cut = count > self.max_rows
        return Answer.stream(
            self._lines(org_id, window, through=last, rows=rows, cut=cut),
            media_type=_CSV,
            headers=((TRUNCATED_HEADER, "true"),) if cut else (),
        )

    def _lines(
        self, org_id: OrgId, window: AuditWindow, *, through: int, rows: int, cut: bool
    ) -> Iterator[bytes]:
        """The export's bytes, a page at a time: the header, `rows` rows of the records
        surveyed (none past `through`), then the `# TRUNCATED` line when it was cut."""
        yield (EXPORT_HEADER + "\n").encode("ascii")
        after = sent = 0
        while sent < rows:
            with self.access.begin() as uow:
                page = uow.audit.window(
                    org_id, window, after=after, through=through, limit=min(self.page, rows - sent)
                )
            if not page:  # records surveyed are gone: the store was cut behind our back
                break
            yield "".join(map(export_row, page)).encode("utf-8")
            sent += len(page)
            after = page[-1].sequence
        if cut:
            yield (
                f"# TRUNCATED after {sent} rows: narrow the time range to retrieve all data\n"
            ).encode("ascii")


def audit_log_to_wire(record: AuditRecord) -> dict[str, Any]:
    """A record as `GET /auth/action/logs/{id}` answers it (the SDK's `get_audit_log`
    shape): `firstFactorCredential` is the signed evidence of the first factor, what
    re-verifying the user's signature offline needs."""
    first = record.evidence[0] if record.evidence else None
    performed = _instant(record.performed_at)
    return {
        "id": record.id,
        "action": record.action,
        "actionToken": record.user_action_id,
        "userId": record.actor_id,
        "username": record.actor_username,
        "datePerformed": performed,
        "dateSigned": None if record.signed_at is None else _instant(record.signed_at),
        "dateResolved": performed,
        "responseStatus": 200,
        "responseError": None,
        "firstFactorCredential": None if first is None else first.to_dict(),
    }


@attrs.frozen(kw_only=True)
class GetAuditLog(Read):
    """Headers → authentication → permission → id syntax → look-up in the caller's org."""

    def __call__(self, request: Request) -> Answer:
        """Answer `GET /auth/action/logs/{id}`."""
        with self.access.admitted(request) as (uow, principal, _values):
            record = record_of(uow, principal, request)
        return Answer.json(audit_log_to_wire(record))


def record_of(uow: UnitOfWork, principal: Principal, request: Request) -> AuditRecord:
    """The record the path's `{id}` names in the caller's org: 400 when the id is
    malformed, 404 when the org has none of that id (another org's record included)."""
    record_id = request.params.get("id", "")
    if not is_canonical_id(record_id, "au"):
        raise ArchiveCoreError(Catalogue.AUDIT_ID_MALFORMED, reason="audit_id_malformed")
    record = uow.audit.find(principal.user.org_id, record_id)
    if record is None:
        raise ArchiveCoreError(Catalogue.AUDIT_NOT_FOUND, reason="audit_log_not_found")
    return record


_STRING: Final = {"type": "string"}
_TIME: Final = {"type": "string", "format": "date-time"}

#: One record as `GET /auth/action/logs/{id}` answers it (`audit_log_to_wire`).
AUDIT_LOG: Final = Schema(
    "AuditLog",
    {
        "type": "object",
        "required": [
            "id",
            "action",
            "actionToken",
            "userId",
            "username",
            "datePerformed",
            "dateSigned",
            "dateResolved",
            "responseStatus",
            "responseError",
            "firstFactorCredential",
        ],
        "additionalProperties": False,
        "properties": {
            "id": _STRING,
            "action": {"type": "string", "description": "`METHOD /path` of the request."},
            "actionToken": {"type": "string", "description": "The user action's id."},
            "userId": {"type": "string", "description": "The acting user."},
            "username": _STRING,
            "datePerformed": _TIME,
            "dateSigned": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "When the user action was signed (null on older records).",
            },
            "dateResolved": {"type": "string", "format": "date-time", "description": "Commit."},
            "responseStatus": {"const": 200},
            "responseError": {"type": "null"},
            "firstFactorCredential": {
                "type": ["object", "null"],
                "description": (
                    "The first factor's signed evidence: credential, algorithm, public "
                    "key, clientData, signature (and authenticatorData for Fido2)."
                ),
            },
        },
    },
)

H = TypeVar("H", bound=Handler)


def log_read(
    build: Callable[[Wiring, Declaration[H]], H], *, name: str, path: str, **fields: Any
) -> Declaration[H]:
    """The declaration of an audit-log read: `GET path`, `Auth:Logs:Read` in every preset,
    reads only, its `operationId` the name's (`ListAuditLogs`: `listAuditLogs`); a path
    naming a record (`{id}`) may answer 404."""
    errors = (400, 401, 403, 404, 413, 500, 503) if "{id}" in path else _LOGS_ERRORS
    return Declaration[H](
        name=name,
        method="GET",
        path=path,
        operation_id=name[0].lower() + name[1:],
        outcome="read",
        permissions=LOGS_READ,
        errors=errors,
        reads_only=True,
        build=build,
        **fields,
    )


LIST_AUDIT_LOGS: Final = log_read(
    ListAuditLogs.wired,
    name="ListAuditLogs",
    path="/auth/action/logs",
    summary="Export the org's audit log over a time window as CSV (needs Auth:Logs:Read).",
    description=(
        "Rows in log order for `startTime ≤ datePerformed < endTime` (UTC ISO-8601, "
        "URL-encoded), at most 100,000; a cut export carries `X-Dfns-Result-Truncated: "
        "true` and ends with a `# TRUNCATED` line. Streamed."
    ),
    query=Query(
        (
            Field(name="startTime", type="instant", required=True, description="Inclusive."),
            Field(name="endTime", type="instant", required=True, description="Exclusive."),
            Field(name="userId", max_length=64, description="Only this user's actions."),
        )
    ),
    media_type="text/csv",
    answer_description=f"The CSV export: `{EXPORT_HEADER}`, then one row per record.",
    answer_headers=((TRUNCATED_HEADER, "`true` when the export was cut at 100,000 rows."),),
)

GET_AUDIT_LOG: Final = log_read(
    GetAuditLog.wired,
    name="GetAuditLog",
    path="/auth/action/logs/{id}",
    summary="Read one audit record of the caller's org (needs Auth:Logs:Read).",
    answer=AUDIT_LOG,
    answer_description="The record.",
)
