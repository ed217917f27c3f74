-- Facebook Login: one-time states, linked accounts (tokens encrypted), their pages and ad accounts.
CREATE TABLE facebook_states (
    state_hash     BLOB PRIMARY KEY NOT NULL,
    purpose        TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    integrator_uri TEXT NOT NULL,
    details        TEXT NOT NULL DEFAULT '{}',
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
);

CREATE TABLE facebook_accounts (
    id               TEXT PRIMARY KEY NOT NULL,
    fb_user_id       TEXT NOT NULL UNIQUE,
    user_id          TEXT NOT NULL,
    name             TEXT,
    email            TEXT,
    token_ciphertext BLOB NOT NULL,
    token_expires_at INTEGER,
    scopes           TEXT NOT NULL DEFAULT '',
    declined_scopes  TEXT NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX facebook_accounts_user ON facebook_accounts (user_id);

CREATE TABLE facebook_pages (
    account_id   TEXT NOT NULL,
    page_id      TEXT NOT NULL,
    name         TEXT NOT NULL,
    avatar       TEXT,
    is_owned     INTEGER NOT NULL DEFAULT 1,
    is_connected INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, page_id)
);

CREATE TABLE facebook_ad_accounts (
    account_id    TEXT NOT NULL,
    ad_account_id TEXT NOT NULL,
    name          TEXT,
    PRIMARY KEY (account_id, ad_account_id)
);
