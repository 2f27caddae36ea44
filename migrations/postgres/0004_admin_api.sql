-- The admin API's control-plane state (Postgres); the same schema as migrations/sqlite/0004.
-- Tenants get a version (optimistic concurrency for admin edits: 1 at creation, +1 on every
-- change of the row) and their metrics-generator settings as JSON text ('{}' = the defaults).
-- Tenant mutations still bump tenancy_revision, whose trigger (0003) NOTIFYs listeners.

ALTER TABLE tenants ADD COLUMN version BIGINT NOT NULL DEFAULT 1 CHECK (version >= 1);
ALTER TABLE tenants ADD COLUMN generator TEXT NOT NULL DEFAULT '{}';

CREATE INDEX tenants_by_status ON tenants (status, id);

-- Query requests are a counter like accepted bytes; stored bytes and blocks are a level, set
-- (not added) once a day from the block catalog.
ALTER TABLE usage_daily ADD COLUMN queries BIGINT NOT NULL DEFAULT 0 CHECK (queries >= 0);
ALTER TABLE usage_daily ADD COLUMN stored_bytes BIGINT NOT NULL DEFAULT 0
    CHECK (stored_bytes >= 0);
ALTER TABLE usage_daily ADD COLUMN stored_blocks BIGINT NOT NULL DEFAULT 0
    CHECK (stored_blocks >= 0);

-- Every admin mutation, append-only: the triggers below refuse UPDATE, DELETE and TRUNCATE.
-- No foreign key: the log outlives a purged tenant. before_json and after_json are JSON text
-- or NULL.
CREATE TABLE audit_log (
    id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT   NOT NULL,
    action TEXT   NOT NULL,
    tenant TEXT,
    target TEXT   NOT NULL,
    before_json TEXT,
    after_json  TEXT
);

CREATE INDEX audit_log_by_tenant ON audit_log (tenant, id);

CREATE FUNCTION sextant_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION sextant_audit_append_only();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION sextant_audit_append_only();
