-- Keys the server generates for itself when the config gives none (the token checksum key),
-- so that they survive restarts. The first replica to start writes one; the others read it.
CREATE TABLE server_keys (
    name TEXT PRIMARY KEY,
    key_bytes BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
