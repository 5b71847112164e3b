-- Usernames are unique per org among users not archived, compared with str.casefold()
-- (SPEC §1.5). SQL's lower() is not casefold, so the key is computed in Python: for the
-- rows already here by this migration's step (`steps.username_keys`, run after this
-- file in its transaction), for every row added later by the users repository. The
-- step renames the later duplicates a database already holds and records each rename
-- in `username_renames`, so that the unique index of 0004 can be built.
ALTER TABLE users ADD COLUMN username_key text;

CREATE TABLE username_renames (
    user_id      text NOT NULL PRIMARY KEY,
    org_id       text NOT NULL,
    old_username text NOT NULL,
    new_username text NOT NULL
);
