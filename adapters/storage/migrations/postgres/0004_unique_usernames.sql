-- One user not archived per (org, username key): a concurrent add of a taken name
-- waits for the first to commit, then inserts nothing (`ON CONFLICT DO NOTHING`,
-- AlreadyExists); an archived user frees its name. Every row has its key since 0003.
ALTER TABLE users ALTER COLUMN username_key SET NOT NULL;

CREATE UNIQUE INDEX users_by_org_username ON users (org_id, username_key)
    WHERE archived_at IS NULL;
