"""Log output of `archive-core serve`: plain text or JSON lines, both carrying the request id.

    logging.config.dictConfig(log_config("json", "info"))

A JSON line holds `time`, `level`, `logger`, `message` and, when the record has them,
`request_id`, `duration_ms`, `method`, `route`, `status`, `code`, `error_id` (an error
answer's `error.id`), `reason`, `decision`
(the reason when there is one, else the code) and `exception` (a type name). Only these
fields are written: a record's other attributes (ids a decision record carries for
structured handlers, tracebacks) never reach a JSON line, so the no-secrets guarantee of
`archive_core.http` records (see docs/http.md) holds for this form too.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Final

from adapters.observability.context import CURRENT

__all__ = ["FORMATS", "LEVELS", "JsonFormatter", "RequestContextFilter", "log_config"]

FORMATS: Final = ("text", "json")
LEVELS: Final = ("debug", "info", "warning", "error")
_FIELDS: Final = ("method", "route", "status", "code", "error_id", "reason", "exception")
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestContextFilter(logging.Filter):
    """Adds `request_id` and `duration_ms` of the request being handled to every record
    (`-` and None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = CURRENT.get()
        if context is None:
            record.request_id = "-"
            record.duration_ms = None
        else:
            record.request_id = context.request_id
            record.duration_ms = round(context.elapsed() * 1000, 3)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with a fixed set of fields (see the module's doc)."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", "-")
        if request_id != "-":
            document["request_id"] = request_id
            document["duration_ms"] = getattr(record, "duration_ms", None)
        for field in _FIELDS:
            value = getattr(record, field, None)
            if value not in (None, ""):
                document[field] = value
        code = getattr(record, "code", None)
        if code:
            document["decision"] = getattr(record, "reason", None) or code
        if record.exc_info and record.exc_info[0] is not None:
            document.setdefault("exception", record.exc_info[0].__name__)
        return json.dumps(document, ensure_ascii=True, default=str)


def log_config(log_format: str, level: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` document: one stderr handler, the chosen format, the
    chosen level for the server's and uvicorn's loggers (uvicorn applies it in each worker)."""
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}")
    formatter: dict[str, Any] = (
        {"()": JsonFormatter} if log_format == "json" else {"format": TEXT_FORMAT}
    )
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": RequestContextFilter}},
        "formatters": {"main": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "main",
                "filters": ["request"],
            }
        },
        "loggers": {
            name: {"handlers": ["stderr"], "level": upper, "propagate": False}
            for name in ("archive_core", "adapters", "uvicorn", "uvicorn.error")
        },
    }
