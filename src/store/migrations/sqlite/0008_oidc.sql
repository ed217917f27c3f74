-- OpenID Connect: what a pending authorization request carries for the ID token (the RP's
-- nonce, the prompt it asked for, when and in which sign-in the user authenticated), and one
-- row per token family issued with `openid`, so refreshes repeat the original `auth_time` and
-- an RP-initiated logout finds the families its sign-in produced.
ALTER TABLE authorization_requests ADD COLUMN nonce TEXT;
ALTER TABLE authorization_requests ADD COLUMN prompt TEXT;
ALTER TABLE authorization_requests ADD COLUMN auth_time INTEGER;
ALTER TABLE authorization_requests ADD COLUMN sid TEXT;

CREATE TABLE oidc_grants (
    family_id  TEXT PRIMARY KEY NOT NULL,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    sid        TEXT NOT NULL,
    nonce      TEXT,
    auth_time  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX oidc_grants_sid ON oidc_grants (sid);
CREATE INDEX oidc_grants_expires ON oidc_grants (expires_at);
