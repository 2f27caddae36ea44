//! Conversions between the model's types and database columns, shared by every engine.
//! Databases store signed 64-bit integers; the model's counters are unsigned, so every value is
//! checked on the way in (refused if it does not fit) and on the way out (corrupt if negative).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sextant_model::{BlockMeta, BlockState, TenantId, TimeRange};

use crate::error::{Error, Result};

/// A block as stored: one column per field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlockRow {
    pub(crate) tenant: String,
    pub(crate) block_id: String,
    pub(crate) start_ns: i64,
    pub(crate) end_ns: i64,
    pub(crate) size_bytes: i64,
    pub(crate) span_count: i64,
    pub(crate) trace_count: i64,
    pub(crate) compaction_level: i64,
    pub(crate) format_version: i64,
    pub(crate) state: &'static str,
}

/// The columns of `blocks` in [`BlockRow`] order, for `SELECT`s.
pub(crate) type BlockTuple = (String, String, i64, i64, i64, i64, i64, i64, i64, String);

pub(crate) const LIVE: &str = "live";
pub(crate) const RETIRED: &str = "retired";
/// How long a forgotten block's ID is remembered: far longer than any WAL segment can wait for
/// its replay.
pub(crate) const FORGOTTEN_KEEP_MILLIS: i64 = 30 * 24 * 3600 * 1000;

pub(crate) fn state_str(state: BlockState) -> &'static str {
    match state {
        BlockState::Live => LIVE,
        BlockState::Retired => RETIRED,
    }
}

/// A `u64` as a database integer, refused when it exceeds `i64::MAX`.
pub(crate) fn to_db(field: &'static str, value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| {
        Error::Invalid(format!(
            "{field} {value} is out of range (at most {})",
            i64::MAX
        ))
    })
}

/// A query bound as a database integer: stored values never exceed `i64::MAX`, so clamping a
/// bound changes no answer.
pub(crate) fn clamp_to_db(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn from_db(field: &'static str, value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| Error::Corrupt(format!("{field} is negative ({value})")))
}

impl BlockRow {
    pub(crate) fn from_meta(meta: &BlockMeta) -> Result<Self> {
        if meta.block_id.is_empty() {
            return Err(Error::Invalid("block id is empty".into()));
        }
        if meta.range.start > meta.range.end {
            return Err(Error::Invalid(format!(
                "block {} starts after it ends ({} > {})",
                meta.block_id, meta.range.start, meta.range.end
            )));
        }
        Ok(Self {
            tenant: meta.tenant.as_str().to_owned(),
            block_id: meta.block_id.clone(),
            start_ns: to_db("start time", meta.range.start)?,
            end_ns: to_db("end time", meta.range.end)?,
            size_bytes: to_db("size", meta.size_bytes)?,
            span_count: to_db("span count", meta.span_count)?,
            trace_count: to_db("trace count", meta.trace_count)?,
            compaction_level: i64::from(meta.compaction_level),
            format_version: i64::from(meta.format_version),
            state: state_str(meta.state),
        })
    }

    /// Whether two rows describe the same block, whatever their state: re-registering a block
    /// that compaction has since retired is a no-op, not a conflict.
    pub(crate) fn same_block(&self, other: &BlockRow) -> bool {
        BlockRow {
            state: LIVE,
            ..self.clone()
        } == BlockRow {
            state: LIVE,
            ..other.clone()
        }
    }

    pub(crate) fn from_tuple(t: BlockTuple) -> Result<Self> {
        let state = match t.9.as_str() {
            LIVE => LIVE,
            RETIRED => RETIRED,
            other => return Err(Error::Corrupt(format!("unknown block state {other:?}"))),
        };
        Ok(Self {
            tenant: t.0,
            block_id: t.1,
            start_ns: t.2,
            end_ns: t.3,
            size_bytes: t.4,
            span_count: t.5,
            trace_count: t.6,
            compaction_level: t.7,
            format_version: t.8,
            state,
        })
    }

    pub(crate) fn into_meta(self) -> Result<BlockMeta> {
        let tenant = TenantId::new(&self.tenant)
            .map_err(|e| Error::Corrupt(format!("tenant {:?}: {e}", self.tenant)))?;
        let small = |field: &'static str, v: i64| {
            u32::try_from(v).map_err(|_| Error::Corrupt(format!("{field} out of range ({v})")))
        };
        Ok(BlockMeta {
            tenant,
            range: TimeRange::new(
                from_db("start time", self.start_ns)?,
                from_db("end time", self.end_ns)?,
            ),
            size_bytes: from_db("size", self.size_bytes)?,
            span_count: from_db("span count", self.span_count)?,
            trace_count: from_db("trace count", self.trace_count)?,
            compaction_level: small("compaction level", self.compaction_level)?,
            format_version: small("format version", self.format_version)?,
            state: if self.state == LIVE {
                BlockState::Live
            } else {
                BlockState::Retired
            },
            block_id: self.block_id,
        })
    }
}

/// Unix milliseconds of a clock reading (0 before the epoch).
pub(crate) fn unix_millis(t: SystemTime) -> i64 {
    let ms = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// A lease's expiry: `now + ttl` in unix milliseconds, saturating.
pub(crate) fn expiry_millis(now: SystemTime, ttl: Duration) -> i64 {
    let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    unix_millis(now).saturating_add(ttl)
}

/// A lease token as stored; one that does not fit matches no row, which is the right answer.
pub(crate) fn token_to_db(token: u64) -> i64 {
    i64::try_from(token).unwrap_or(-1)
}

/// Refuses a malformed swap before any statement runs: an input named twice, an output of
/// another tenant, an output that is also an input.
pub(crate) fn check_swap(tenant: &TenantId, inputs: &[String], outputs: &[BlockRow]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for id in inputs {
        if !seen.insert(id.as_str()) {
            return Err(Error::Invalid(format!("swap names input block {id} twice")));
        }
    }
    for row in outputs {
        if row.tenant != tenant.as_str() {
            return Err(Error::Invalid(format!(
                "swap output {} belongs to tenant {}, not {tenant}",
                row.block_id, row.tenant
            )));
        }
        if seen.contains(row.block_id.as_str()) {
            return Err(Error::Invalid(format!(
                "swap output {} is also an input",
                row.block_id
            )));
        }
    }
    Ok(())
}

/// Folds `(tenant, state, blocks, bytes)` rows ordered by tenant into per-tenant statistics.
pub(crate) fn fold_stats(rows: Vec<(String, String, i64, i64)>) -> Result<Vec<crate::TenantStats>> {
    let mut out: Vec<crate::TenantStats> = Vec::new();
    for (tenant, state, count, bytes) in rows {
        let tenant = TenantId::new(&tenant)
            .map_err(|e| Error::Corrupt(format!("tenant {tenant:?}: {e}")))?;
        if out.last().is_none_or(|s| s.tenant != tenant) {
            out.push(crate::TenantStats::empty(tenant));
        }
        let entry = out.last_mut().expect("pushed above");
        let count = u64::try_from(count).unwrap_or(0);
        let bytes = u64::try_from(bytes).unwrap_or(0);
        match state.as_str() {
            LIVE => (entry.live_blocks, entry.live_bytes) = (count, bytes),
            RETIRED => (entry.retired_blocks, entry.retired_bytes) = (count, bytes),
            other => return Err(Error::Corrupt(format!("unknown block state {other:?}"))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> BlockMeta {
        BlockMeta {
            tenant: TenantId::new("tenant-a").unwrap(),
            block_id: "b1".into(),
            range: TimeRange::new(10, 20),
            size_bytes: 1,
            span_count: 2,
            trace_count: 3,
            compaction_level: 4,
            format_version: 5,
            state: BlockState::Live,
        }
    }

    #[test]
    fn round_trip() {
        let row = BlockRow::from_meta(&meta()).unwrap();
        assert_eq!(row.into_meta().unwrap(), meta());
    }

    #[test]
    fn refuses_values_beyond_i64() {
        let mut m = meta();
        m.range.end = u64::MAX;
        let err = BlockRow::from_meta(&m).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{err}");
        m.range = TimeRange::new(5, 1);
        assert!(matches!(BlockRow::from_meta(&m), Err(Error::Invalid(_))));
    }

    #[test]
    fn negative_stored_values_are_corrupt() {
        let mut row = BlockRow::from_meta(&meta()).unwrap();
        row.size_bytes = -1;
        assert!(matches!(row.into_meta(), Err(Error::Corrupt(_))));
    }

    #[test]
    fn clamping_and_expiry() {
        assert_eq!(clamp_to_db(u64::MAX), i64::MAX);
        let t = UNIX_EPOCH + Duration::from_millis(1_000);
        assert_eq!(expiry_millis(t, Duration::from_millis(250)), 1_250);
        assert_eq!(expiry_millis(t, Duration::MAX), i64::MAX);
    }
}
