//! Settings of the pipeline: the ingester's timers and memory bounds, and the WAL's.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sextant_store::WalConfig;

/// Everything the pipeline is configured with (`pipeline:` in the config file).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    pub ingester: IngesterConfig,
    /// The write-ahead log; the server sets `wal.dir` from its data directory.
    pub wal: WalConfig,
    /// Cutting completed traces into blocks on object storage.
    pub block: BlockConfig,
}

/// When completed traces become a block, and how blocks are encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlockConfig {
    /// A tenant's completed traces are cut into a block once they hold this many bytes...
    pub max_block_bytes: u64,
    /// ...or once the oldest of them completed this long ago.
    #[serde(with = "humantime_serde")]
    pub max_block_age: Duration,
    /// First wait after a failed flush (object storage or catalog down); doubles up to
    /// `flush_retry_max`. The WAL keeps the data meanwhile.
    #[serde(with = "humantime_serde")]
    pub flush_retry_min: Duration,
    #[serde(with = "humantime_serde")]
    pub flush_retry_max: Duration,
    /// How long shutdown may spend flushing what it can before closing the WAL.
    #[serde(with = "humantime_serde")]
    pub shutdown_flush_timeout: Duration,
    /// Spans per Parquet row group: a lookup by trace ID reads one row group.
    pub row_group_spans: usize,
    /// zstd level of every column.
    pub zstd_level: i32,
    /// False-positive rate of each block's trace-ID bloom filter.
    pub bloom_false_positive: f64,
    /// Bytes of bloom filters and of Parquet footers kept in memory, each.
    pub cache_bytes: usize,
}

impl Default for BlockConfig {
    fn default() -> Self {
        let format = sextant_store::BlockOptions::default();
        Self {
            max_block_bytes: 64 << 20,
            max_block_age: Duration::from_secs(30),
            flush_retry_min: Duration::from_secs(1),
            flush_retry_max: Duration::from_secs(30),
            shutdown_flush_timeout: Duration::from_secs(10),
            row_group_spans: format.row_group_spans,
            zstd_level: format.zstd_level,
            bloom_false_positive: format.bloom_false_positive,
            cache_bytes: 256 << 20,
        }
    }
}

impl BlockConfig {
    pub fn options(&self) -> sextant_store::BlockOptions {
        sextant_store::BlockOptions {
            row_group_spans: self.row_group_spans,
            zstd_level: self.zstd_level,
            bloom_false_positive: self.bloom_false_positive,
        }
    }
}

/// Timers and bounds of the ingester and the distributor's admission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngesterConfig {
    /// A live trace with no new span for this long is complete.
    #[serde(with = "humantime_serde")]
    pub trace_idle: Duration,
    /// A trace live this long is complete, even if spans keep coming.
    #[serde(with = "humantime_serde")]
    pub trace_max_live: Duration,
    /// How often completion runs.
    #[serde(with = "humantime_serde")]
    pub sweep_interval: Duration,
    /// Bytes of live and completed-but-not-flushed traces in memory, all tenants together.
    pub max_live_bytes: u64,
    /// Bytes of requests being decoded and appended at once.
    pub max_inflight_bytes: u64,
    /// The retry hint sent with 503s.
    #[serde(with = "humantime_serde")]
    pub retry_after: Duration,
}

impl Default for IngesterConfig {
    fn default() -> Self {
        Self {
            trace_idle: Duration::from_secs(5),
            trace_max_live: Duration::from_secs(30),
            sweep_interval: Duration::from_secs(1),
            max_live_bytes: 1 << 30,
            max_inflight_bytes: 256 << 20,
            retry_after: Duration::from_secs(1),
        }
    }
}

impl PipelineConfig {
    /// Every problem with these settings at once; empty when they are usable.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = self.wal.validate();
        let b = &self.block;
        if b.max_block_bytes == 0 {
            problems.push("block.max_block_bytes must be greater than zero".to_owned());
        }
        if b.max_block_age.is_zero() || b.flush_retry_min.is_zero() {
            problems.push(
                "block.max_block_age and block.flush_retry_min must be greater than zero"
                    .to_owned(),
            );
        }
        if b.flush_retry_max < b.flush_retry_min {
            problems.push("block.flush_retry_max must be at least block.flush_retry_min".into());
        }
        if b.row_group_spans == 0 {
            problems.push("block.row_group_spans must be greater than zero".to_owned());
        }
        if !(b.bloom_false_positive > 0.0 && b.bloom_false_positive < 1.0) {
            problems.push("block.bloom_false_positive must be between 0 and 1".to_owned());
        }
        let i = &self.ingester;
        for (name, value) in [
            ("ingester.trace_idle", i.trace_idle),
            ("ingester.trace_max_live", i.trace_max_live),
            ("ingester.sweep_interval", i.sweep_interval),
        ] {
            if value.is_zero() {
                problems.push(format!("{name} must be positive"));
            }
        }
        for (name, value) in [
            ("ingester.max_live_bytes", i.max_live_bytes),
            ("ingester.max_inflight_bytes", i.max_inflight_bytes),
        ] {
            if value == 0 {
                problems.push(format!("{name} must be positive"));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_down_to_milliseconds() {
        let c: IngesterConfig =
            serde_json::from_str(r#"{"trace_idle":"50ms","sweep_interval":"10ms"}"#).unwrap();
        assert_eq!(c.trace_idle, Duration::from_millis(50));
        assert_eq!(c.sweep_interval, Duration::from_millis(10));
        assert_eq!(c.max_live_bytes, 1_073_741_824);
        assert_eq!(c.max_inflight_bytes, 268_435_456);
        assert!(serde_json::from_str::<IngesterConfig>(r#"{"idle":"1s"}"#).is_err());
    }

    #[test]
    fn validation_reports_every_problem() {
        let mut c: PipelineConfig =
            serde_json::from_str(r#"{"ingester":{"sweep_interval":"0s","max_live_bytes":0}}"#)
                .unwrap();
        assert_eq!(
            c.validate(),
            vec![
                "ingester.sweep_interval must be positive",
                "ingester.max_live_bytes must be positive",
            ]
        );
        c.ingester = IngesterConfig::default();
        assert!(c.validate().is_empty());
    }
}
