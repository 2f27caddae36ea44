-- Operators and usage (SQLite); the same schema as migrations/postgres/0003. Times in unix
-- milliseconds, days as days since 1970-01-01 (UTC).

-- Admin users sign in to the console; the password is an Argon2id PHC string.
CREATE TABLE admin_users (
    name       TEXT    NOT NULL PRIMARY KEY,
    password   TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Admin tokens: only HMAC-SHA-256(pepper, whole token) is kept. Part of the tenancy snapshot,
-- so every change bumps tenancy_revision.
CREATE TABLE admin_tokens (
    token_id   TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    digest     BLOB    NOT NULL UNIQUE CHECK (length(digest) = 32),
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
) WITHOUT ROWID;

-- Accepted ingest per tenant and UTC day (no foreign key: usage outlives a deleted tenant).
CREATE TABLE usage_daily (
    tenant         TEXT    NOT NULL,
    day            INTEGER NOT NULL,
    accepted_bytes INTEGER NOT NULL CHECK (accepted_bytes >= 0),
    accepted_spans INTEGER NOT NULL CHECK (accepted_spans >= 0),
    PRIMARY KEY (tenant, day)
) WITHOUT ROWID;

-- Discarded spans per tenant, UTC day and reason (Tempo's reason strings).
CREATE TABLE usage_discards (
    tenant TEXT    NOT NULL,
    day    INTEGER NOT NULL,
    reason TEXT    NOT NULL,
    spans  INTEGER NOT NULL CHECK (spans >= 0),
    bytes  INTEGER NOT NULL CHECK (bytes >= 0),
    PRIMARY KEY (tenant, day, reason)
) WITHOUT ROWID;
