-- The authorization server's state. Every token, code and request id is stored as its SHA-256.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL,
    -- NFKC + lowercase: `Alice` and `alice` are one account.
    username_key  TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

-- Tokens born of one grant (a code or a password login) share a family: a replayed code or a
-- reused refresh token revokes the whole family.
ALTER TABLE access_tokens ADD COLUMN family_id TEXT;
CREATE INDEX access_tokens_family ON access_tokens (family_id);

CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    family_id  TEXT NOT NULL,
    user_id    TEXT,
    user_name  TEXT,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL DEFAULT '',
    admin      INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    rotated_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE authorization_codes (
    code_hash             BLOB PRIMARY KEY NOT NULL,
    family_id             TEXT NOT NULL,
    client_id             TEXT NOT NULL,
    user_id               TEXT NOT NULL,
    user_name             TEXT,
    redirect_uri          TEXT NOT NULL,
    scopes                TEXT NOT NULL DEFAULT '',
    code_challenge        TEXT,
    code_challenge_method TEXT,
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    used_at               INTEGER
);

-- A pending GET /oauth/authorize between the sign-in and consent pages.
CREATE TABLE authorization_requests (
    id_hash               BLOB PRIMARY KEY NOT NULL,
    csrf_token            TEXT NOT NULL,
    client_id             TEXT NOT NULL,
    redirect_uri          TEXT NOT NULL,
    scopes                TEXT NOT NULL DEFAULT '',
    state                 TEXT,
    code_challenge        TEXT,
    code_challenge_method TEXT,
    user_id               TEXT,
    user_name             TEXT,
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL
);

CREATE TABLE consents (
    user_id    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- Credential-guessing throttles, per account, per client and per IP (keys are prefixed).
CREATE TABLE throttles (
    key          TEXT PRIMARY KEY NOT NULL,
    attempts     INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    locked_until INTEGER NOT NULL DEFAULT 0
);
