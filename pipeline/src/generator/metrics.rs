//! The generator's own metrics (`sextant_generator_*`): what reached it, what it shed, the series
//! it holds, and what its remote writes did.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::metrics::TenantLabel;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReasonLabels {
    pub(crate) tenant: String,
    pub(crate) reason: &'static str,
}

/// Why samples were dropped instead of written.
pub(crate) const QUEUE_FULL: &str = "queue_full";
pub(crate) const REJECTED: &str = "rejected";
pub(crate) const NO_TARGET: &str = "no_target";
/// Why spans were not counted.
pub(crate) const MAX_ACTIVE_SERIES: &str = "max_active_series";
pub(crate) const EDGE_STORE_FULL: &str = "edge_store_full";
pub(crate) const OUTSIDE_SLACK: &str = "outside_metrics_ingestion_slack";

/// Handles to every generator metric; cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct GeneratorMetrics {
    pub(crate) spans_received: Family<TenantLabel, Counter>,
    pub(crate) spans_shed: Family<TenantLabel, Counter>,
    pub(crate) spans_dropped: Family<ReasonLabels, Counter>,
    pub(crate) edges_expired: Family<TenantLabel, Counter>,
    pub(crate) active_series: Family<TenantLabel, Gauge>,
    pub(crate) queued_bytes: Gauge,
    pub(crate) collections: Counter,
    pub(crate) samples_sent: Family<TenantLabel, Counter>,
    pub(crate) samples_failed: Family<TenantLabel, Counter>,
    pub(crate) samples_dropped: Family<ReasonLabels, Counter>,
    pub(crate) requests_sent: Family<TenantLabel, Counter>,
    pub(crate) queue_length: Family<TenantLabel, Gauge>,
}

impl GeneratorMetrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let r = registry.sub_registry_with_prefix("sextant_generator");
        r.register(
            "spans_received",
            "Accepted spans the generator counted",
            m.spans_received.clone(),
        );
        r.register(
            "spans_shed",
            "Accepted spans not given to the generator because its queue was full (they are \
             stored all the same)",
            m.spans_shed.clone(),
        );
        r.register(
            "spans_dropped",
            "Spans a processor could not count, by reason",
            m.spans_dropped.clone(),
        );
        r.register(
            "edges_expired",
            "Service-graph halves whose other half never came",
            m.edges_expired.clone(),
        );
        r.register(
            "active_series",
            "Series the generator holds for the tenant",
            m.active_series.clone(),
        );
        r.register(
            "queued_bytes",
            "Bytes of accepted spans waiting for the generator",
            m.queued_bytes.clone(),
        );
        r.register(
            "collections",
            "Collections of every tenant's series",
            m.collections.clone(),
        );
        r.register(
            "remote_write_samples_sent",
            "Samples a remote-write target accepted",
            m.samples_sent.clone(),
        );
        r.register(
            "remote_write_samples_failed",
            "Samples of attempts that failed and will be retried",
            m.samples_failed.clone(),
        );
        r.register(
            "remote_write_samples_dropped",
            "Samples given up, by reason",
            m.samples_dropped.clone(),
        );
        r.register(
            "remote_write_requests_sent",
            "Write requests a remote-write target accepted",
            m.requests_sent.clone(),
        );
        r.register(
            "remote_write_queue_length",
            "Write requests waiting for the tenant's target",
            m.queue_length.clone(),
        );
        m
    }
}
