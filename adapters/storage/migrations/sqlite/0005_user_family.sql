-- Update User's `isSSORequired`; Create User's `externalId`, unique per org among users
-- not archived (a create that names it again finds that user); List Users' keyset
-- pages: the org's users not archived in id order, with and without a kind, so that a
-- page reads `limit` index entries whatever the org's size.
ALTER TABLE users ADD COLUMN is_sso_required INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN external_id TEXT;

CREATE UNIQUE INDEX users_by_org_external_id ON users (org_id, external_id)
    WHERE archived_at IS NULL AND external_id IS NOT NULL;
CREATE INDEX users_listed ON users (org_id, id) WHERE archived_at IS NULL;
CREATE INDEX users_listed_by_kind ON users (org_id, kind, id) WHERE archived_at IS NULL;
