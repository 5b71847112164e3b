"""Migration 0006 (`audit_tree`) on a database made at the schema before it: each org's
Merkle tree is backfilled from the records already stored, exactly as appending them
would have built it, and the log goes on growing from there."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import psycopg
from psycopg import sql

from adapters.storage.codec import audit_to_json
from adapters.storage.migrations import Migration, load, steps
from adapters.storage.postgres import PostgresStore
from adapters.storage.sqlite import SqliteDatabase, SqliteStore
from adapters.testing.contracts import samples
from adapters.testing.contracts.audit_tree import append_records, expected_subtrees
from archive_core import merkle
from archive_core.audit import AuditRecord, leaf_data
from archive_core.ids import OrgId
from archive_core.ports import UnitOfWorkFactory
from tests.services import PgSchema
from tests.vectors import rfc9162

TREE = 6
_INSERT = (
    "INSERT INTO audit (org_id, sequence, id, hash, target_id, user_action_id, performed_at,"
    " record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _old_records() -> dict[OrgId, list[AuditRecord]]:
    # More records than a step's batch in one org (the step reads in batches).
    orgs = {samples.org_id(): steps.TREE_BATCH + 5, samples.org_id(): 3}
    chains: dict[OrgId, list[AuditRecord]] = {}
    for org, count in orgs.items():
        chain: list[AuditRecord] = []
        for _ in range(count):
            chain.append(samples.audit_record(org, chain[-1] if chain else None))
        chains[org] = chain
    return chains


def _rows(chains: dict[OrgId, list[AuditRecord]], *, text_times: bool) -> list[tuple[object, ...]]:
    return [
        (
            r.org_id,
            r.sequence,
            r.id,
            r.hash,
            r.target_id,
            r.user_action_id,
            r.performed_at.isoformat() if text_times else r.performed_at,
            audit_to_json(r),
        )
        for chain in chains.values()
        for r in chain
    ]


def _assert_backfilled(factory: UnitOfWorkFactory, chains: dict[OrgId, list[AuditRecord]]) -> None:
    for org, chain in chains.items():
        expected = expected_subtrees(chain)
        with factory() as uow:
            assert uow.audit.tree_size(org) == len(chain)
            assert uow.audit.subtrees(org, list(expected)) == list(expected.values())
            size = uow.audit.tree_size(org)
            root = merkle.root_from_subtrees(uow.audit.subtrees(org, merkle.root_subtrees(size)))
        assert root == rfc9162.mth([leaf_data(r) for r in chain])
    # The log goes on from the backfilled tree.
    org, chain = next(iter(chains.items()))
    record = samples.audit_record(org, chain[-1])
    with factory() as uow:
        uow.audit.append(record)
        uow.commit()
    leaves = [leaf_data(r) for r in [*chain, record]]
    with factory() as uow:
        size = uow.audit.tree_size(org)
        root = merkle.root_from_subtrees(uow.audit.subtrees(org, merkle.root_subtrees(size)))
    assert root == rfc9162.mth(leaves)


def _before_the_tree(backend: str) -> tuple[Migration, ...]:
    return tuple(m for m in load(backend) if m.version < TREE)


def test_sqlite_backfills_the_tree_of_every_org(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    SqliteDatabase(path, migrations=_before_the_tree("sqlite")).close()
    chains = _old_records()
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executemany(_INSERT, _rows(chains, text_times=True))
    with SqliteStore(path) as store:
        _assert_backfilled(store, chains)


def test_postgres_backfills_the_tree_of_every_org(pg_schema: PgSchema) -> None:
    schema = pg_schema.schema
    old = _before_the_tree("postgres")
    PostgresStore(pg_schema.dsn, schema=schema, migrations=old).close()
    chains = _old_records()
    with closing(psycopg.connect(pg_schema.dsn, autocommit=True)) as raw:
        raw.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        with raw.cursor() as cursor:
            cursor.executemany(_INSERT.replace("?", "%s"), _rows(chains, text_times=False))
    with PostgresStore(pg_schema.dsn, schema=schema) as store:
        _assert_backfilled(store, chains)


def test_an_empty_database_backfills_nothing(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "new.db") as store:
        org = samples.org_id()
        append_records(store, org, 2)
        with store() as uow:
            assert uow.audit.tree_size(org) == 2
