-- The replay store: open challenges and request nonces. It lives in a file of its
-- own so that burning a nonce or taking a challenge from inside a unit of work
-- (which holds the main file's write lock) never waits on that lock, and so that a
-- burn survives the unit of work's rollback.

CREATE TABLE challenges (
    key        TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL,
    expires_us INTEGER NOT NULL,
    payload    TEXT    NOT NULL
);

CREATE INDEX challenges_by_expiry ON challenges (expires_us);

CREATE TABLE nonces (
    key        TEXT    NOT NULL PRIMARY KEY,
    expires_us INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX nonces_by_expiry ON nonces (expires_us);
