-- Facebook Login: one-time states, linked accounts (tokens encrypted), their pages and ad accounts.
CREATE TABLE facebook_states (
    state_hash     BYTEA PRIMARY KEY,
    purpose        TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    integrator_uri TEXT NOT NULL,
    details        TEXT NOT NULL DEFAULT '{}',
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT
);

CREATE TABLE facebook_accounts (
    id               TEXT PRIMARY KEY,
    fb_user_id       TEXT NOT NULL UNIQUE,
    user_id          TEXT NOT NULL,
    name             TEXT,
    email            TEXT,
    token_ciphertext BYTEA NOT NULL,
    token_expires_at BIGINT,
    scopes           TEXT NOT NULL DEFAULT '',
    declined_scopes  TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX facebook_accounts_user ON facebook_accounts (user_id);

CREATE TABLE facebook_pages (
    account_id   TEXT NOT NULL,
    page_id      TEXT NOT NULL,
    name         TEXT NOT NULL,
    avatar       TEXT,
    is_owned     BOOLEAN NOT NULL DEFAULT TRUE,
    is_connected BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (account_id, page_id)
);

CREATE TABLE facebook_ad_accounts (
    account_id    TEXT NOT NULL,
    ad_account_id TEXT NOT NULL,
    name          TEXT,
    PRIMARY KEY (account_id, ad_account_id)
);
