-- Access tokens are stored only as the SHA-256 of the token: a leaked database yields no usable token.
CREATE TABLE access_tokens (
    token_hash  BLOB PRIMARY KEY NOT NULL,
    user_id     TEXT,
    user_name   TEXT,
    client_id   TEXT,
    scopes      TEXT NOT NULL DEFAULT '',
    admin       INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX access_tokens_user ON access_tokens (user_id);
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);
