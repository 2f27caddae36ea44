-- The block catalog and leases (SQLite).
-- Times in unix nanoseconds (blocks) and unix milliseconds (leases) as INTEGER: they fit in a
-- signed 64-bit integer until the year 2262; the application refuses larger values.

CREATE TABLE blocks (
    tenant           TEXT    NOT NULL,
    block_id         TEXT    NOT NULL,
    start_ns         INTEGER NOT NULL CHECK (start_ns >= 0),
    end_ns           INTEGER NOT NULL CHECK (end_ns >= start_ns),
    size_bytes       INTEGER NOT NULL CHECK (size_bytes >= 0),
    span_count       INTEGER NOT NULL CHECK (span_count >= 0),
    trace_count      INTEGER NOT NULL CHECK (trace_count >= 0),
    compaction_level INTEGER NOT NULL CHECK (compaction_level >= 0),
    format_version   INTEGER NOT NULL CHECK (format_version >= 0),
    state            TEXT    NOT NULL CHECK (state IN ('live', 'retired')),
    created_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (tenant, block_id)
) WITHOUT ROWID;

CREATE INDEX blocks_by_tenant_state_time ON blocks (tenant, state, start_ns, end_ns);

-- One row per lease name, kept after release so tokens keep increasing (fencing).
CREATE TABLE leases (
    name       TEXT    NOT NULL PRIMARY KEY,
    holder     TEXT    NOT NULL,
    token      INTEGER NOT NULL CHECK (token > 0),
    expires_at INTEGER NOT NULL -- unix milliseconds; free when <= now
) WITHOUT ROWID;
