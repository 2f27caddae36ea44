-- Operators and usage (Postgres); the same schema as migrations/sqlite/0003. Times in unix
-- milliseconds, days as days since 1970-01-01 (UTC).

-- Admin users sign in to the console; the password is an Argon2id PHC string.
CREATE TABLE admin_users (
    name       TEXT   NOT NULL PRIMARY KEY,
    password   TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Admin tokens: only HMAC-SHA-256(pepper, whole token) is kept. Part of the tenancy snapshot,
-- so every change bumps tenancy_revision.
CREATE TABLE admin_tokens (
    token_id   TEXT   NOT NULL PRIMARY KEY,
    name       TEXT   NOT NULL,
    digest     BYTEA  NOT NULL UNIQUE CHECK (octet_length(digest) = 32),
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);

-- Accepted ingest per tenant and UTC day (no foreign key: usage outlives a deleted tenant).
CREATE TABLE usage_daily (
    tenant         TEXT    NOT NULL,
    day            INTEGER NOT NULL,
    accepted_bytes BIGINT  NOT NULL CHECK (accepted_bytes >= 0),
    accepted_spans BIGINT  NOT NULL CHECK (accepted_spans >= 0),
    PRIMARY KEY (tenant, day)
);

-- Discarded spans per tenant, UTC day and reason (Tempo's reason strings).
CREATE TABLE usage_discards (
    tenant TEXT    NOT NULL,
    day    INTEGER NOT NULL,
    reason TEXT    NOT NULL,
    spans  BIGINT  NOT NULL CHECK (spans >= 0),
    bytes  BIGINT  NOT NULL CHECK (bytes >= 0),
    PRIMARY KEY (tenant, day, reason)
);

-- Every change of the revision tells listeners at commit, so control planes reload at once
-- instead of at their next poll (which stays as the fallback).
CREATE FUNCTION sextant_tenancy_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sextant_tenancy', NEW.revision::text);
    RETURN NEW;
END;
$$;

CREATE TRIGGER tenancy_revision_notify
    AFTER UPDATE ON tenancy_revision
    FOR EACH ROW EXECUTE FUNCTION sextant_tenancy_notify();
