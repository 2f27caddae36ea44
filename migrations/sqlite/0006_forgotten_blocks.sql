-- Blocks whose objects were deleted after compaction or retention, remembered for a while so
-- that a WAL replay re-flushing one of them (same deterministic ID) does not bring its spans
-- back next to the compacted block that holds them now. Times in unix milliseconds.

CREATE TABLE forgotten_blocks (
    tenant       TEXT    NOT NULL,
    block_id     TEXT    NOT NULL,
    forgotten_at INTEGER NOT NULL CHECK (forgotten_at >= 0),
    PRIMARY KEY (tenant, block_id)
) WITHOUT ROWID;

CREATE INDEX forgotten_blocks_by_time ON forgotten_blocks (forgotten_at);
