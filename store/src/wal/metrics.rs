//! WAL metrics (`sextant_wal_*`).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The WAL's metrics; cheap to clone (every handle shares its value).
#[derive(Debug, Clone)]
pub struct WalMetrics {
    pub(crate) bytes: Gauge,
    pub(crate) segments: Gauge,
    pub(crate) appends: Counter,
    pub(crate) appended_bytes: Counter,
    pub(crate) fsyncs: Counter,
    pub(crate) fsync_duration: Histogram,
    pub(crate) group_commit_records: Histogram,
    pub(crate) replay_records: Counter,
    pub(crate) replay_corrupt_bytes: Counter,
    pub(crate) replay_torn_tail_bytes: Counter,
}

impl WalMetrics {
    /// Creates the metrics and registers them (counters without `_total`: the encoder adds it).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::unregistered();
        registry.register(
            "sextant_wal_bytes",
            "Bytes of all write-ahead log segments on disk",
            metrics.bytes.clone(),
        );
        registry.register(
            "sextant_wal_segments",
            "Write-ahead log segment files on disk",
            metrics.segments.clone(),
        );
        registry.register(
            "sextant_wal_appends",
            "Records appended to the write-ahead log",
            metrics.appends.clone(),
        );
        registry.register(
            "sextant_wal_appended_bytes",
            "Payload bytes appended to the write-ahead log",
            metrics.appended_bytes.clone(),
        );
        registry.register(
            "sextant_wal_fsyncs",
            "Fsyncs of write-ahead log files and its directory",
            metrics.fsyncs.clone(),
        );
        registry.register(
            "sextant_wal_fsync_duration_seconds",
            "Time one write-ahead log fsync took",
            metrics.fsync_duration.clone(),
        );
        registry.register(
            "sextant_wal_group_commit_records",
            "Records written and made durable by one group commit",
            metrics.group_commit_records.clone(),
        );
        registry.register(
            "sextant_wal_replay_records",
            "Intact records replayed from the write-ahead log at start",
            metrics.replay_records.clone(),
        );
        registry.register(
            "sextant_wal_replay_corrupt_bytes",
            "Damaged write-ahead log bytes skipped during replay",
            metrics.replay_corrupt_bytes.clone(),
        );
        registry.register(
            "sextant_wal_replay_torn_tail_bytes",
            "Bytes of torn write-ahead log tails truncated during replay",
            metrics.replay_torn_tail_bytes.clone(),
        );
        metrics
    }

    /// Metrics that are counted but exported nowhere (tests, tools).
    pub fn unregistered() -> Self {
        Self {
            bytes: Gauge::default(),
            segments: Gauge::default(),
            appends: Counter::default(),
            appended_bytes: Counter::default(),
            fsyncs: Counter::default(),
            // 50µs .. ~1.6s
            fsync_duration: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            // 1 .. 4096 records
            group_commit_records: Histogram::new(exponential_buckets(1.0, 2.0, 13)),
            replay_records: Counter::default(),
            replay_corrupt_bytes: Counter::default(),
            replay_torn_tail_bytes: Counter::default(),
        }
    }

    /// Fsyncs done so far (tests and readiness detail).
    pub fn fsyncs(&self) -> u64 {
        self.fsyncs.get()
    }

    /// Records appended so far.
    pub fn appends(&self) -> u64 {
        self.appends.get()
    }
}
