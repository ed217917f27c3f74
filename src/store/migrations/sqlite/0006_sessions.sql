-- Browser sessions of routes with on_missing = "sign_in". The cookie's value is stored only as
-- its SHA-256, like access tokens. `last_seen_at` is written at most once per touch interval,
-- so the idle lifetime costs no write per request.
CREATE TABLE sessions (
    token_hash   BLOB PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL,
    user_name    TEXT NOT NULL,
    user_groups  TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
