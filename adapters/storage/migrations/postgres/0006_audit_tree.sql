-- Each org's Merkle tree over its audit records (RFC 9162 §2.1, archive_core.merkle):
-- the hash of every complete subtree by (org, level, index), the subtree at level l and
-- index i covering the records of sequence i·2^l + 1 through (i+1)·2^l. A record's leaf
-- (the canonical JSON its hash covers) and the subtrees it completes are written with
-- it; those of the records already here by this migration's step (`steps.audit_tree`,
-- run after this file in its transaction).
CREATE TABLE audit_tree (
    org_id text COLLATE "C" NOT NULL,
    level  integer          NOT NULL,
    idx    bigint           NOT NULL,
    hash   bytea            NOT NULL,
    PRIMARY KEY (org_id, level, idx)
);

CREATE TRIGGER audit_tree_is_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_tree
    FOR EACH STATEMENT EXECUTE FUNCTION audit_is_append_only();
