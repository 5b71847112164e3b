"""A record's Merkle leaf is the canonical JSON its hash covers, however it was built."""

from __future__ import annotations

import hashlib

import attrs

from adapters.testing.contracts import samples
from archive_core.audit import AuditRecord, leaf_data


def test_the_leaf_is_what_the_hash_covers_sealed_or_not() -> None:
    sealed = samples.audit_record(samples.org_id(), None)
    rebuilt = AuditRecord.from_dict(sealed.to_dict())
    evolved = attrs.evolve(sealed)
    for record in (sealed, rebuilt, evolved):
        assert hashlib.sha256(leaf_data(record)).hexdigest() == sealed.hash
    assert leaf_data(rebuilt) == leaf_data(sealed)
