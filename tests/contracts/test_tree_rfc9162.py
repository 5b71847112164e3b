"""Roots and proofs read from every store (memory, SQLite, PostgreSQL) are those RFC 9162
§2.1 defines: checked with the recursive MTH, PATH and PROOF written from the RFC in
tests/vectors/rfc9162.py, over the records' leaves, never with the server's own code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from adapters.storage.memory import MemoryStore
from adapters.storage.postgres import PostgresStore
from adapters.storage.sqlite import SqliteStore
from adapters.testing.contracts import samples
from adapters.testing.contracts.audit_tree import append_records, tree_reader
from archive_core import merkle
from archive_core.audit import leaf_data
from archive_core.ports import UnitOfWorkFactory
from tests.services import PgSchema
from tests.vectors import rfc9162

SIZE = 21


@contextmanager
def _open(kind: str, request: pytest.FixtureRequest) -> Iterator[UnitOfWorkFactory]:
    if kind == "memory":
        yield MemoryStore()
    elif kind == "sqlite":
        folder: Path = request.getfixturevalue("tmp_path")
        with SqliteStore(folder / "store.db") as store:
            yield store
    else:
        place: PgSchema = request.getfixturevalue("pg_schema")
        with PostgresStore(place.dsn, schema=place.schema) as store:
            yield store


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
def test_proofs_from_the_store_are_rfc_9162s(kind: str, request: pytest.FixtureRequest) -> None:
    with _open(kind, request) as factory:
        org = samples.org_id()
        leaves = [leaf_data(r) for r in append_records(factory, org, SIZE)]
        with factory() as uow:
            read = tree_reader(uow, org)
            assert uow.audit.tree_size(org) == SIZE
            for size in range(1, SIZE + 1):
                root = merkle.root_from_subtrees(read(merkle.root_subtrees(size)))
                assert root == rfc9162.mth(leaves[:size])
                for index in range(size):
                    reader = merkle.prefetched(merkle.inclusion_subtrees(index, size), read)
                    path = merkle.inclusion_path(index, size, reader)
                    assert list(path) == rfc9162.path(index, leaves[:size])
                    assert rfc9162.root_from_path(leaves[index], index, size, path) == root
                for old in range(1, size + 1):
                    reader = merkle.prefetched(merkle.consistency_subtrees(old, size), read)
                    path = merkle.consistency_path(old, size, reader)
                    assert list(path) == rfc9162.proof(old, leaves[:size])
