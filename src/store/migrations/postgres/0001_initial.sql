-- Gatehouse on PostgreSQL: the same tables as the SQLite migrations, in this dialect.
-- Every token, code and request id is stored as its SHA-256, never in clear.
CREATE TABLE access_tokens (
    token_hash  BYTEA PRIMARY KEY,
    user_id     TEXT,
    user_name   TEXT,
    client_id   TEXT,
    scopes      TEXT NOT NULL DEFAULT '',
    admin       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    family_id   TEXT
);
CREATE INDEX access_tokens_user ON access_tokens (user_id);
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);
CREATE INDEX access_tokens_family ON access_tokens (family_id);

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    username      TEXT NOT NULL,
    username_key  TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY,
    family_id  TEXT NOT NULL,
    user_id    TEXT,
    user_name  TEXT,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL DEFAULT '',
    admin      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    rotated_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE authorization_codes (
    code_hash             BYTEA PRIMARY KEY,
    family_id             TEXT NOT NULL,
    client_id             TEXT NOT NULL,
    user_id               TEXT NOT NULL,
    user_name             TEXT,
    redirect_uri          TEXT NOT NULL,
    scopes                TEXT NOT NULL DEFAULT '',
    code_challenge        TEXT,
    code_challenge_method TEXT,
    created_at            BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL,
    used_at               BIGINT
);

CREATE TABLE authorization_requests (
    id_hash               BYTEA PRIMARY KEY,
    csrf_token            TEXT NOT NULL,
    client_id             TEXT NOT NULL,
    redirect_uri          TEXT NOT NULL,
    scopes                TEXT NOT NULL DEFAULT '',
    state                 TEXT,
    code_challenge        TEXT,
    code_challenge_method TEXT,
    user_id               TEXT,
    user_name             TEXT,
    created_at            BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL
);

CREATE TABLE consents (
    user_id    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE throttles (
    key          TEXT PRIMARY KEY,
    attempts     BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT NOT NULL DEFAULT 0
);
