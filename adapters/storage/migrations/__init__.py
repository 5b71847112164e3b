"""Versioned schema migrations: one directory of numbered `.sql` files per database.

`sqlite/` is the transactional store (users … audit log, signing keys),
`sqlite_replay/` the separate SQLite file of challenges and nonces, `postgres/`
everything in one schema. A file is named `NNNN_what_it_does.sql`; the adapters
apply the missing ones in order when they open a database, each in one transaction
together with its row in `schema_migrations` (version, name, SHA-256 of the file,
time applied). A migration may have a Python step too (`steps.STEPS`, by name), for
what SQL cannot compute; the adapter runs it after the file, in the same transaction
(the checksum is the file's). An applied file whose checksum changed, or a database
that knows a version this code does not, is refused with `SchemaMismatch`.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import sqlite3
from collections.abc import Callable
from importlib import resources
from typing import Final

import attrs

from adapters.storage.migrations.steps import STEPS, StepConnection
from archive_core.errors import StorageUnavailable

__all__ = ["Migration", "SchemaMismatch", "check_applied", "load", "split_sqlite"]

BACKENDS: Final = ("sqlite", "sqlite_replay", "postgres")
_NAME: Final = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql\Z")


class SchemaMismatch(StorageUnavailable):
    """The database's schema history does not match this code's migrations."""


@attrs.frozen
class Migration:
    """One versioned schema change."""

    version: int
    name: str
    sql: str
    #: Run after `sql`, in its transaction (None: the SQL is the whole migration).
    step: Callable[[StepConnection], None] | None = attrs.field(default=None, eq=False)

    @property
    def checksum(self) -> str:
        """SHA-256 (hex) of the file's text, recorded when applied."""
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def load(backend: str) -> tuple[Migration, ...]:
    """The migrations of a backend, in version order."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown migration set {backend!r}")
    found = []
    for entry in (resources.files(__package__) / backend).iterdir():
        match = _NAME.match(entry.name)
        if match is None:
            continue
        found.append(
            Migration(
                version=int(match.group(1)),
                name=match.group(2),
                sql=entry.read_text(encoding="utf-8"),
                step=STEPS.get(match.group(2)),
            )
        )
    found.sort(key=lambda m: m.version)
    # Numbers are taken from 1 upwards, each once; a number set aside for a change not
    # yet merged may leave a gap, and an adapter applies whatever is missing in order.
    versions = [m.version for m in found]
    if versions[:1] != [1] or any(b <= a for a, b in itertools.pairwise(versions)):
        raise ValueError(f"migrations of {backend} are not numbered from 1, each once: {versions}")
    return tuple(found)


def check_applied(applied: dict[int, str], migrations: tuple[Migration, ...]) -> None:
    """Refuse a database whose recorded history this code does not produce."""
    known = {m.version: m for m in migrations}
    for version, checksum in sorted(applied.items()):
        migration = known.get(version)
        if migration is None:
            raise SchemaMismatch(
                f"the database has schema version {version}, newer than this library knows"
            )
        if migration.checksum != checksum:
            raise SchemaMismatch(
                f"migration {version} ({migration.name}) was changed after it was applied"
            )


def split_sqlite(sql: str) -> list[str]:
    """Split a script into complete statements (triggers included) for `execute`."""
    statements: list[str] = []
    pending = ""
    for line in sql.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue  # whole-line comments: they may hold a `;`
        pending += line
        if sqlite3.complete_statement(pending):
            statement = pending.strip()
            if statement and statement != ";":
                statements.append(statement)
            pending = ""
    if pending.strip():
        raise ValueError("the script ends with an incomplete statement")
    return statements
