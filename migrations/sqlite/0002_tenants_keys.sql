-- Tenants and API keys (SQLite). Times in unix milliseconds as INTEGER, like the leases.
-- Limit overrides as JSON text (only the fields set). Only a keyed digest of a key's secret is
-- kept; the key ID is public and the lookup key.

CREATE TABLE tenants (
    id           TEXT    NOT NULL PRIMARY KEY,
    display_name TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('active', 'suspended', 'deleting')),
    limits       TEXT    NOT NULL DEFAULT '{}',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE api_keys (
    key_id       TEXT    NOT NULL PRIMARY KEY,
    tenant       TEXT    NOT NULL REFERENCES tenants (id),
    digest       BLOB    NOT NULL CHECK (length(digest) = 32),
    scopes       TEXT    NOT NULL,
    read_tenants TEXT    NOT NULL DEFAULT '[]', -- JSON array of tenant IDs
    expires_at   INTEGER,
    revoked_at   INTEGER,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    description  TEXT    NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE INDEX api_keys_by_tenant ON api_keys (tenant, created_at);

-- One row: bumped by every mutation of tenants or keys in the same transaction, so a poller
-- reloads its snapshot only when something changed.
CREATE TABLE tenancy_revision (
    id       INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL CHECK (revision >= 0)
);
INSERT INTO tenancy_revision (id, revision) VALUES (1, 0);
