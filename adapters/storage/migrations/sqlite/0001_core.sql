-- The transactional store: users, credentials, applications, permissions and their
-- assignments, issued user action grants, the audit log and the server signing keys.
-- Every column a unit of work of the archive path filters on is indexed.

CREATE TABLE users (
    id                 TEXT    NOT NULL PRIMARY KEY,
    org_id             TEXT    NOT NULL,
    username           TEXT    NOT NULL,
    kind               TEXT    NOT NULL,
    credential_uuid    TEXT    NOT NULL,
    is_active          INTEGER NOT NULL,
    archived_at        TEXT,
    is_service_account INTEGER NOT NULL,
    is_registered      INTEGER NOT NULL,
    version            INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX users_by_org ON users (org_id);

-- `seq` is the registration order `list_for_user` answers in.
CREATE TABLE credentials (
    seq                   INTEGER NOT NULL PRIMARY KEY,
    uuid                  TEXT    NOT NULL UNIQUE,
    cred_id               TEXT    NOT NULL UNIQUE,
    user_id               TEXT    NOT NULL,
    org_id                TEXT    NOT NULL,
    kind                  TEXT    NOT NULL,
    public_key            TEXT    NOT NULL,
    algorithm             TEXT    NOT NULL,
    is_active             INTEGER NOT NULL,
    sign_count            INTEGER NOT NULL,
    encrypted_private_key TEXT
);

CREATE INDEX credentials_by_user ON credentials (user_id, seq);

CREATE TABLE applications (
    id        TEXT    NOT NULL PRIMARY KEY,
    org_id    TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    is_active INTEGER NOT NULL
) WITHOUT ROWID;

-- `operations` keeps the exact tuple (JSON); `permission_operations` indexes it for
-- the lock-out guard's query.
CREATE TABLE permissions (
    id          TEXT    NOT NULL PRIMARY KEY,
    org_id      TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    operations  TEXT    NOT NULL,
    is_archived INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX permissions_by_org_name ON permissions (org_id, name);

-- The primary key's columns come first: SQLite 3.40's integrity_check misreports NULLs
-- in WITHOUT ROWID tables whose key columns are not leading.
CREATE TABLE permission_operations (
    permission_id TEXT NOT NULL REFERENCES permissions (id),
    operation     TEXT NOT NULL,
    org_id        TEXT NOT NULL,
    PRIMARY KEY (permission_id, operation)
) WITHOUT ROWID;

CREATE INDEX permission_operations_by_org ON permission_operations (org_id, operation, permission_id);

CREATE TABLE assignments (
    seq           INTEGER NOT NULL PRIMARY KEY,
    id            TEXT    NOT NULL UNIQUE,
    permission_id TEXT    NOT NULL REFERENCES permissions (id),
    identity_id   TEXT    NOT NULL,
    org_id        TEXT    NOT NULL
);

CREATE INDEX assignments_by_identity ON assignments (identity_id, seq);
CREATE INDEX assignments_by_permission ON assignments (permission_id, identity_id);

-- One row per issued grant; `used_at` is set once, by a conditional update.
CREATE TABLE user_actions (
    seq        INTEGER NOT NULL PRIMARY KEY,
    token_id   TEXT    NOT NULL UNIQUE,
    expires_us INTEGER NOT NULL,
    used_at    TEXT,
    record     TEXT    NOT NULL
);

CREATE INDEX user_actions_by_expiry ON user_actions (expires_us);

-- `record` is the canonical JSON of AuditRecord.to_dict(); the other columns index it.
CREATE TABLE audit (
    org_id         TEXT    NOT NULL,
    sequence       INTEGER NOT NULL,
    id             TEXT    NOT NULL,
    hash           TEXT    NOT NULL,
    target_id      TEXT    NOT NULL,
    user_action_id TEXT    NOT NULL,
    performed_at   TEXT    NOT NULL,
    record         TEXT    NOT NULL,
    PRIMARY KEY (org_id, sequence)
);

CREATE TRIGGER audit_is_append_only_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_is_append_only_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TABLE signing_keys (
    seq         INTEGER NOT NULL PRIMARY KEY,
    kid         TEXT    NOT NULL UNIQUE,
    purpose     TEXT    NOT NULL,
    algorithm   TEXT    NOT NULL,
    private_key TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    retired_at  TEXT
);

CREATE INDEX signing_keys_by_purpose ON signing_keys (purpose, seq);
