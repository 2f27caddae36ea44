//! Object-store metrics (`sextant_object_store_*`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub(crate) operation: &'static str,
    pub(crate) result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct OperationLabels {
    pub(crate) operation: &'static str,
}

fn duration_histogram() -> Histogram {
    // 1ms .. ~33s
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Metrics of every request made through [`open_store`](crate::open_store); cheap to clone.
///
/// Operations: `put`, `put_multipart`, `put_part`, `complete_multipart`, `abort_multipart`,
/// `get`, `head`, `get_ranges`, `delete`, `list`, `list_with_delimiter`, `copy`, `rename`.
/// Results: `ok`, `not_found`, `conflict` (exists, precondition, not modified), `error`.
#[derive(Debug, Clone)]
pub struct ObjectStoreMetrics {
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) duration: Family<OperationLabels, Histogram, fn() -> Histogram>,
    pub(crate) bytes: Family<OperationLabels, Counter>,
    pub(crate) retries: Family<OperationLabels, Counter>,
}

impl ObjectStoreMetrics {
    /// Creates the metrics and registers them (counters without `_total`: the encoder adds it).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::unregistered();
        registry.register(
            "sextant_object_store_requests",
            "Object-store requests by operation and result, after retries",
            metrics.requests.clone(),
        );
        registry.register(
            "sextant_object_store_request_duration_seconds",
            "Time an object-store request took, retries included",
            metrics.duration.clone(),
        );
        registry.register(
            "sextant_object_store_bytes",
            "Bytes written to (put, put_part) and read from (get, get_ranges) object storage",
            metrics.bytes.clone(),
        );
        registry.register(
            "sextant_object_store_retries",
            "Object-store request attempts repeated after a transient failure",
            metrics.retries.clone(),
        );
        metrics
    }

    /// Metrics that are counted but exported nowhere (tests, tools).
    pub fn unregistered() -> Self {
        Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
            bytes: Family::default(),
            retries: Family::default(),
        }
    }

    /// Requests of `operation` that ended with `result` so far.
    pub fn requests(&self, operation: &'static str, result: &'static str) -> u64 {
        self.requests
            .get_or_create(&RequestLabels { operation, result })
            .get()
    }

    /// Bytes moved by `operation` so far.
    pub fn bytes(&self, operation: &'static str) -> u64 {
        self.bytes
            .get_or_create(&OperationLabels { operation })
            .get()
    }

    /// Attempts of `operation` repeated so far.
    pub fn retries(&self, operation: &'static str) -> u64 {
        self.retries
            .get_or_create(&OperationLabels { operation })
            .get()
    }

    pub(crate) fn add_bytes(&self, operation: &'static str, bytes: u64) {
        self.bytes
            .get_or_create(&OperationLabels { operation })
            .inc_by(bytes);
    }

    pub(crate) fn add_retry(&self, operation: &'static str) {
        self.retries
            .get_or_create(&OperationLabels { operation })
            .inc();
    }

    pub(crate) fn observe(
        &self,
        operation: &'static str,
        result: &'static str,
        seconds: Option<f64>,
    ) {
        self.requests
            .get_or_create(&RequestLabels { operation, result })
            .inc();
        if let Some(seconds) = seconds {
            self.duration
                .get_or_create(&OperationLabels { operation })
                .observe(seconds);
        }
    }
}
