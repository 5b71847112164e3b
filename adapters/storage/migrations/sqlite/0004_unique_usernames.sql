-- One user not archived per (org, username key): a concurrent add of a taken name
-- inserts nothing (`ON CONFLICT DO NOTHING`, AlreadyExists), and an archived user
-- frees its name. Every row has its key since 0003.
CREATE UNIQUE INDEX users_by_org_username ON users (org_id, username_key)
    WHERE archived_at IS NULL;
