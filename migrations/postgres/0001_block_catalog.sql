-- The block catalog and leases (Postgres); the same schema as migrations/sqlite/0001.
-- Block times in unix nanoseconds as BIGINT (they fit until the year 2262; the application
-- refuses larger values). Lease expiry in unix milliseconds from the application's clock, so
-- the clock stays injectable and both engines behave the same.

CREATE TABLE blocks (
    tenant           TEXT        NOT NULL,
    block_id         TEXT        NOT NULL,
    start_ns         BIGINT      NOT NULL CHECK (start_ns >= 0),
    end_ns           BIGINT      NOT NULL CHECK (end_ns >= start_ns),
    size_bytes       BIGINT      NOT NULL CHECK (size_bytes >= 0),
    span_count       BIGINT      NOT NULL CHECK (span_count >= 0),
    trace_count      BIGINT      NOT NULL CHECK (trace_count >= 0),
    compaction_level BIGINT      NOT NULL CHECK (compaction_level >= 0),
    format_version   BIGINT      NOT NULL CHECK (format_version >= 0),
    state            TEXT        NOT NULL CHECK (state IN ('live', 'retired')),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, block_id)
);

CREATE INDEX blocks_by_tenant_state_time ON blocks (tenant, state, start_ns, end_ns);

-- One row per lease name, kept after release so tokens keep increasing (fencing).
CREATE TABLE leases (
    name       TEXT   NOT NULL PRIMARY KEY,
    holder     TEXT   NOT NULL,
    token      BIGINT NOT NULL CHECK (token > 0),
    expires_at BIGINT NOT NULL -- unix milliseconds; free when <= now
);
