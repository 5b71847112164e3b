-- Each org's Merkle tree over its audit records (RFC 9162 §2.1, archive_core.merkle):
-- the hash of every complete subtree by (org, level, index), the subtree at level l and
-- index i covering the records of sequence i·2^l + 1 through (i+1)·2^l. A record's leaf
-- (the canonical JSON its hash covers) and the subtrees it completes are written with
-- it; those of the records already here by this migration's step (`steps.audit_tree`,
-- run after this file in its transaction).
CREATE TABLE audit_tree (
    org_id TEXT    NOT NULL,
    level  INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    hash   BLOB    NOT NULL,
    PRIMARY KEY (org_id, level, idx)
) WITHOUT ROWID;

CREATE TRIGGER audit_tree_is_append_only_update BEFORE UPDATE ON audit_tree
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_tree_is_append_only_delete BEFORE DELETE ON audit_tree
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
