-- Browser sessions of routes with on_missing = "sign_in". The cookie's value is stored only as
-- its SHA-256, like access tokens. `last_seen_at` is written at most once per touch interval,
-- so the idle lifetime costs no write per request.
CREATE TABLE sessions (
    token_hash   BYTEA PRIMARY KEY,
    user_id      TEXT NOT NULL,
    user_name    TEXT NOT NULL,
    user_groups  TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
