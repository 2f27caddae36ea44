//! The pipeline's own metrics (`sextant_*`), registered into the registry the server passes in.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sextant_model::{DiscardReason, TenantId};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TenantLabel {
    pub(crate) tenant: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DiscardLabels {
    pub(crate) tenant: String,
    pub(crate) reason: &'static str,
}

/// Handles to every pipeline metric; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    received_spans: Family<TenantLabel, Counter>,
    received_bytes: Family<TenantLabel, Counter>,
    discarded_spans: Family<DiscardLabels, Counter>,
    truncated_attributes: Family<TenantLabel, Counter>,
    pub(crate) live_traces: Family<TenantLabel, Gauge>,
    pub(crate) completed_traces: Family<TenantLabel, Gauge>,
    pub(crate) memory_trace_bytes: Gauge,
    pub(crate) inflight_bytes: Gauge,
    pub(crate) replay_failed_records: Counter,
    pub(crate) replay_records: Counter,
    pub(crate) replay_spans: Counter,
    pub(crate) push_duration: Histogram,
    pub(crate) flushes: Family<ResultLabel, Counter>,
    pub(crate) flush_duration: Histogram,
    pub(crate) blocks_written: Family<TenantLabel, Counter>,
    pub(crate) block_bytes_written: Family<TenantLabel, Counter>,
    pub(crate) backend_bytes: Family<TenantLabel, Gauge>,
    pub(crate) backend_blocks: Family<TenantLabel, Gauge>,
    pub(crate) wal_released_bytes: Counter,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ResultLabel {
    pub(crate) result: &'static str,
}

pub(crate) fn tenant(t: &TenantId) -> TenantLabel {
    TenantLabel {
        tenant: t.as_str().to_owned(),
    }
}

impl Metrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self::unregistered();
        registry.register(
            "sextant_received_spans",
            "Spans received by the distributor (before validation and limits)",
            m.received_spans.clone(),
        );
        registry.register(
            "sextant_received_bytes",
            "Decompressed payload bytes received by the distributor",
            m.received_bytes.clone(),
        );
        registry.register(
            "sextant_discarded_spans",
            "Spans discarded, by reason",
            m.discarded_spans.clone(),
        );
        registry.register(
            "sextant_truncated_attributes",
            "Attribute keys and string values truncated to max_attribute_bytes",
            m.truncated_attributes.clone(),
        );
        registry.register(
            "sextant_live_traces",
            "Traces receiving spans, per tenant",
            m.live_traces.clone(),
        );
        registry.register(
            "sextant_completed_traces",
            "Completed traces in memory awaiting a block, per tenant",
            m.completed_traces.clone(),
        );
        registry.register(
            "sextant_memory_trace_bytes",
            "Encoded bytes of live and completed traces held in memory",
            m.memory_trace_bytes.clone(),
        );
        registry.register(
            "sextant_inflight_bytes",
            "Payload bytes of push requests being decoded or appended",
            m.inflight_bytes.clone(),
        );
        registry.register(
            "sextant_wal_replay_failed_records",
            "WAL records that could not be decoded during replay and were skipped",
            m.replay_failed_records.clone(),
        );
        // Records replayed: the WAL's own `sextant_wal_replay_records` counts them.
        registry.register(
            "sextant_wal_replay_spans",
            "Spans replayed from the WAL into memory at start",
            m.replay_spans.clone(),
        );
        registry.register(
            "sextant_push_duration_seconds",
            "Time from a push arriving to its answer, durable or refused",
            m.push_duration.clone(),
        );
        registry.register(
            "sextant_block_flushes",
            "Block flush attempts (write objects, register in the catalog), by result",
            m.flushes.clone(),
        );
        registry.register(
            "sextant_block_flush_duration_seconds",
            "Time to write and register one block",
            m.flush_duration.clone(),
        );
        registry.register(
            "sextant_blocks_written",
            "Blocks written and registered, per tenant",
            m.blocks_written.clone(),
        );
        registry.register(
            "sextant_block_bytes_written",
            "Bytes of blocks written and registered, per tenant",
            m.block_bytes_written.clone(),
        );
        registry.register(
            "sextant_store_backend_bytes",
            "Bytes of live blocks in object storage, per tenant",
            m.backend_bytes.clone(),
        );
        registry.register(
            "sextant_store_backend_blocks",
            "Live blocks in object storage, per tenant",
            m.backend_blocks.clone(),
        );
        registry.register(
            "sextant_wal_released_bytes",
            "WAL bytes deleted because their data is in registered blocks",
            m.wal_released_bytes.clone(),
        );
        m
    }

    pub(crate) fn unregistered() -> Self {
        Self {
            received_spans: Family::default(),
            received_bytes: Family::default(),
            discarded_spans: Family::default(),
            truncated_attributes: Family::default(),
            live_traces: Family::default(),
            completed_traces: Family::default(),
            memory_trace_bytes: Gauge::default(),
            inflight_bytes: Gauge::default(),
            replay_failed_records: Counter::default(),
            replay_records: Counter::default(),
            replay_spans: Counter::default(),
            push_duration: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            flushes: Family::default(),
            flush_duration: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            blocks_written: Family::default(),
            block_bytes_written: Family::default(),
            backend_bytes: Family::default(),
            backend_blocks: Family::default(),
            wal_released_bytes: Counter::default(),
        }
    }

    pub(crate) fn received(&self, t: &TenantId, spans: u64, bytes: u64) {
        let label = tenant(t);
        self.received_spans.get_or_create(&label).inc_by(spans);
        self.received_bytes.get_or_create(&label).inc_by(bytes);
    }

    pub(crate) fn discarded(&self, t: &TenantId, reason: DiscardReason, spans: u64) {
        if spans == 0 {
            return;
        }
        self.discarded_spans
            .get_or_create(&DiscardLabels {
                tenant: t.as_str().to_owned(),
                reason: reason.as_str(),
            })
            .inc_by(spans);
    }

    pub(crate) fn truncated(&self, t: &TenantId, attributes: u64) {
        if attributes > 0 {
            self.truncated_attributes
                .get_or_create(&tenant(t))
                .inc_by(attributes);
        }
    }

    pub(crate) fn set_trace_counts(&self, t: &TenantId, live: usize, completed: usize) {
        let label = tenant(t);
        self.live_traces
            .get_or_create(&label)
            .set(i64::try_from(live).unwrap_or(i64::MAX));
        self.completed_traces
            .get_or_create(&label)
            .set(i64::try_from(completed).unwrap_or(i64::MAX));
    }
}
