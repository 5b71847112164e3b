-- Every table of archive-core in one schema (the adapter sets search_path to it).
-- Ids are COLLATE "C": byte order, like SQLite and Python, and cheaper indexes.
-- Every column a unit of work of the archive path filters on is indexed.

CREATE TABLE users (
    id                 text COLLATE "C" NOT NULL PRIMARY KEY,
    org_id             text COLLATE "C" NOT NULL,
    username           text             NOT NULL,
    kind               text             NOT NULL,
    credential_uuid    text COLLATE "C" NOT NULL,
    is_active          boolean          NOT NULL,
    archived_at        timestamptz,
    is_service_account boolean          NOT NULL,
    is_registered      boolean          NOT NULL,
    version            bigint           NOT NULL
);

CREATE INDEX users_by_org ON users (org_id);

-- `seq` is the registration order `list_for_user` answers in.
CREATE TABLE credentials (
    seq                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid                  text COLLATE "C" NOT NULL UNIQUE,
    cred_id               text COLLATE "C" NOT NULL UNIQUE,
    user_id               text COLLATE "C" NOT NULL,
    org_id                text COLLATE "C" NOT NULL,
    kind                  text             NOT NULL,
    public_key            text             NOT NULL,
    algorithm             text             NOT NULL,
    is_active             boolean          NOT NULL,
    sign_count            bigint           NOT NULL,
    encrypted_private_key text
);

CREATE INDEX credentials_by_user ON credentials (user_id, seq);

CREATE TABLE applications (
    id        text COLLATE "C" NOT NULL PRIMARY KEY,
    org_id    text COLLATE "C" NOT NULL,
    name      text             NOT NULL,
    is_active boolean          NOT NULL
);

-- `operations` keeps the exact tuple (JSON text); `permission_operations` indexes it
-- for the lock-out guard's query.
CREATE TABLE permissions (
    id          text COLLATE "C" NOT NULL PRIMARY KEY,
    org_id      text COLLATE "C" NOT NULL,
    name        text COLLATE "C" NOT NULL,
    operations  text             NOT NULL,
    is_archived boolean          NOT NULL
);

CREATE INDEX permissions_by_org_name ON permissions (org_id, name);

CREATE TABLE permission_operations (
    permission_id text COLLATE "C" NOT NULL REFERENCES permissions (id),
    org_id        text COLLATE "C" NOT NULL,
    operation     text COLLATE "C" NOT NULL,
    PRIMARY KEY (permission_id, operation)
);

CREATE INDEX permission_operations_by_org ON permission_operations (org_id, operation, permission_id);

CREATE TABLE assignments (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            text COLLATE "C" NOT NULL UNIQUE,
    permission_id text COLLATE "C" NOT NULL REFERENCES permissions (id),
    identity_id   text COLLATE "C" NOT NULL,
    org_id        text COLLATE "C" NOT NULL
);

CREATE INDEX assignments_by_identity ON assignments (identity_id, seq);
CREATE INDEX assignments_by_permission ON assignments (permission_id, identity_id);

-- One row per issued grant; `used_at` is set once, by a conditional update.
CREATE TABLE user_actions (
    token_id   text COLLATE "C" NOT NULL PRIMARY KEY,
    expires_at timestamptz      NOT NULL,
    used_at    timestamptz,
    record     text             NOT NULL
);

CREATE INDEX user_actions_by_expiry ON user_actions (expires_at);

-- `record` is the canonical JSON of AuditRecord.to_dict() (text: kept byte for byte);
-- the other columns index it.
CREATE TABLE audit (
    org_id         text COLLATE "C" NOT NULL,
    sequence       bigint           NOT NULL,
    id             text COLLATE "C" NOT NULL,
    hash           text             NOT NULL,
    target_id      text COLLATE "C" NOT NULL,
    user_action_id text COLLATE "C" NOT NULL,
    performed_at   timestamptz      NOT NULL,
    record         text             NOT NULL,
    PRIMARY KEY (org_id, sequence)
);

CREATE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TRIGGER audit_is_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_is_append_only();

CREATE TABLE signing_keys (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kid         text COLLATE "C" NOT NULL UNIQUE,
    purpose     text COLLATE "C" NOT NULL,
    algorithm   text             NOT NULL,
    private_key text             NOT NULL,
    created_at  timestamptz      NOT NULL,
    retired_at  timestamptz
);

CREATE INDEX signing_keys_by_purpose ON signing_keys (purpose, seq);

-- The replay store: open challenges and request nonces, written outside units of
-- work (autocommit), so a burn survives the rollback of the request's transaction.
CREATE TABLE challenges (
    key        text COLLATE "C" NOT NULL PRIMARY KEY,
    user_id    text COLLATE "C" NOT NULL,
    expires_at timestamptz      NOT NULL,
    payload    text             NOT NULL
);

CREATE INDEX challenges_by_expiry ON challenges (expires_at);

CREATE TABLE nonces (
    key        text COLLATE "C" NOT NULL PRIMARY KEY,
    expires_at timestamptz      NOT NULL
);

CREATE INDEX nonces_by_expiry ON nonces (expires_at);
