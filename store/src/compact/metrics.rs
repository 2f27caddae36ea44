//! Compaction and retention metrics (`sextant_compaction_*`, `sextant_retention_*`,
//! `sextant_deleted_*`). Counters are registered without `_total`: the encoder adds it.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sextant_model::TenantId;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TenantLabel {
    tenant: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RunLabels {
    tenant: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DeleteLabels {
    tenant: String,
    reason: &'static str,
}

/// Why a block was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeleteReason {
    Compacted,
    Retention,
}

impl DeleteReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Compacted => "compacted",
            Self::Retention => "retention",
        }
    }
}

/// The compactor's metrics; cheap to clone (every handle shares its value).
#[derive(Debug, Clone)]
pub struct CompactionMetrics {
    runs: Family<RunLabels, Counter>,
    compacted_blocks: Family<TenantLabel, Counter>,
    compaction_bytes: Family<TenantLabel, Counter>,
    retention_marked_blocks: Family<TenantLabel, Counter>,
    retention_marked_bytes: Family<TenantLabel, Counter>,
    deleted_blocks: Family<DeleteLabels, Counter>,
    deleted_bytes: Family<DeleteLabels, Counter>,
    duration: Histogram,
}

impl CompactionMetrics {
    /// Creates the metrics and registers them.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::unregistered();
        registry.register(
            "sextant_compaction_runs",
            "Compactions of one group of blocks, by tenant and outcome (ok, error, lease_lost)",
            m.runs.clone(),
        );
        registry.register(
            "sextant_compacted_blocks",
            "Input blocks replaced by compaction",
            m.compacted_blocks.clone(),
        );
        registry.register(
            "sextant_compaction_bytes",
            "Bytes of input blocks read by compaction",
            m.compaction_bytes.clone(),
        );
        registry.register(
            "sextant_retention_marked_blocks",
            "Blocks retired because they are older than the tenant's block_retention",
            m.retention_marked_blocks.clone(),
        );
        registry.register(
            "sextant_retention_marked_bytes",
            "Bytes of the blocks retired by retention",
            m.retention_marked_bytes.clone(),
        );
        registry.register(
            "sextant_deleted_blocks",
            "Retired blocks deleted from object storage after the grace period, by reason \
             (compacted, retention)",
            m.deleted_blocks.clone(),
        );
        registry.register(
            "sextant_deleted_bytes",
            "Bytes of the retired blocks deleted from object storage, by reason",
            m.deleted_bytes.clone(),
        );
        registry.register(
            "sextant_compaction_duration_seconds",
            "Time one compaction of a group of blocks took (read, merge, write, swap)",
            m.duration.clone(),
        );
        m
    }

    /// Metrics that are counted but exported nowhere (tests, tools).
    pub fn unregistered() -> Self {
        Self {
            runs: Family::default(),
            compacted_blocks: Family::default(),
            compaction_bytes: Family::default(),
            retention_marked_blocks: Family::default(),
            retention_marked_bytes: Family::default(),
            deleted_blocks: Family::default(),
            deleted_bytes: Family::default(),
            duration: Histogram::new(exponential_buckets(0.01, 2.0, 16)),
        }
    }

    pub(crate) fn run(&self, tenant: &TenantId, outcome: &'static str, seconds: f64) {
        self.runs
            .get_or_create(&RunLabels {
                tenant: tenant.as_str().to_owned(),
                outcome,
            })
            .inc();
        self.duration.observe(seconds);
    }

    pub(crate) fn compacted(&self, tenant: &TenantId, blocks: u64, bytes: u64) {
        let label = label(tenant);
        self.compacted_blocks.get_or_create(&label).inc_by(blocks);
        self.compaction_bytes.get_or_create(&label).inc_by(bytes);
    }

    pub(crate) fn retention_marked(&self, tenant: &TenantId, blocks: u64, bytes: u64) {
        let label = label(tenant);
        self.retention_marked_blocks
            .get_or_create(&label)
            .inc_by(blocks);
        self.retention_marked_bytes
            .get_or_create(&label)
            .inc_by(bytes);
    }

    pub(crate) fn deleted(&self, tenant: &TenantId, reason: DeleteReason, bytes: u64) {
        let labels = DeleteLabels {
            tenant: tenant.as_str().to_owned(),
            reason: reason.as_str(),
        };
        self.deleted_blocks.get_or_create(&labels).inc();
        self.deleted_bytes.get_or_create(&labels).inc_by(bytes);
    }
}

fn label(tenant: &TenantId) -> TenantLabel {
    TenantLabel {
        tenant: tenant.as_str().to_owned(),
    }
}
