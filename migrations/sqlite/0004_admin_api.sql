-- The admin API's control-plane state (SQLite); the same schema as migrations/postgres/0004.
-- Tenants get a version (optimistic concurrency for admin edits: 1 at creation, +1 on every
-- change of the row) and their metrics-generator settings as JSON text ('{}' = the defaults).

ALTER TABLE tenants ADD COLUMN version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1);
ALTER TABLE tenants ADD COLUMN generator TEXT NOT NULL DEFAULT '{}';

CREATE INDEX tenants_by_status ON tenants (status, id);

-- Query requests are a counter like accepted bytes; stored bytes and blocks are a level, set
-- (not added) once a day from the block catalog.
ALTER TABLE usage_daily ADD COLUMN queries INTEGER NOT NULL DEFAULT 0 CHECK (queries >= 0);
ALTER TABLE usage_daily ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0
    CHECK (stored_bytes >= 0);
ALTER TABLE usage_daily ADD COLUMN stored_blocks INTEGER NOT NULL DEFAULT 0
    CHECK (stored_blocks >= 0);

-- Every admin mutation, append-only: the triggers below refuse any UPDATE or DELETE. IDs only
-- grow (AUTOINCREMENT never reuses one). No foreign key: the log outlives a purged tenant.
-- before_json and after_json are JSON text or NULL.
CREATE TABLE audit_log (
    id     INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    action TEXT    NOT NULL,
    tenant TEXT,
    target TEXT    NOT NULL,
    before_json TEXT,
    after_json  TEXT
);

CREATE INDEX audit_log_by_tenant ON audit_log (tenant, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
