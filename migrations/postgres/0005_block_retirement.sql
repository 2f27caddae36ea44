-- When a block was retired (by compaction's swap or by retention), in unix milliseconds from
-- the application's clock, so the block's objects are deleted only after a grace period.
-- NULL while the block is live. Blocks retired before this migration count from now.
-- The same schema as migrations/sqlite/0005.

ALTER TABLE blocks ADD COLUMN retired_at BIGINT CHECK (retired_at IS NULL OR retired_at >= 0);

UPDATE blocks SET retired_at = (extract(epoch FROM now()) * 1000)::BIGINT
WHERE state = 'retired';

CREATE INDEX blocks_by_tenant_retired_at ON blocks (tenant, retired_at)
WHERE state = 'retired';
