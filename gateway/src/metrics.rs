//! The edge's own metrics. Label values are bounded: routes are path templates, gRPC methods are
//! the few we serve, and tenants beyond [`MAX_TENANT_SERIES`] share one `_other` series.

use std::collections::HashSet;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Most distinct tenant label values the edge creates; later tenants are counted as `_other`.
pub(crate) const MAX_TENANT_SERIES: usize = 1000;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteStatus {
    pub(crate) route: String,
    pub(crate) status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabel {
    pub(crate) route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct MethodCode {
    pub(crate) method: String,
    pub(crate) code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TenantProtocol {
    pub(crate) tenant: String,
    pub(crate) protocol: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TenantReason {
    pub(crate) tenant: String,
    pub(crate) reason: String,
}

/// Why the edge refused a request under a per-tenant limit (the `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefusalReason {
    /// The ingest token bucket was short (429).
    RateLimited,
    /// One batch larger than the ingest burst (413).
    BatchTooLarge,
    /// The daily or monthly ingest quota is used up (429).
    QuotaExceeded,
    /// The query rate was exceeded (429).
    QueryRateLimited,
}

impl RefusalReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::RateLimited => "rate_limited",
            Self::BatchTooLarge => "batch_too_large",
            Self::QuotaExceeded => "quota_exceeded",
            Self::QueryRateLimited => "query_rate_limited",
        }
    }
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 4.0, 8))
}

/// Request counters and latencies of the public routers.
#[derive(Debug)]
pub struct GatewayMetrics {
    pub(crate) http_requests: Family<RouteStatus, Counter>,
    pub(crate) http_duration: Family<RouteLabel, Histogram, fn() -> Histogram>,
    pub(crate) grpc_requests: Family<MethodCode, Counter>,
    pub(crate) received_bytes: Family<TenantProtocol, Counter>,
    pub(crate) refused_requests: Family<TenantReason, Counter>,
    pub(crate) refused_bytes: Family<TenantReason, Counter>,
    tenants_seen: Mutex<HashSet<String>>,
}

impl GatewayMetrics {
    /// Creates the metrics and registers them.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::unregistered();
        registry.register(
            "sextant_http_requests",
            "HTTP requests answered by the public routers, by route template and status",
            metrics.http_requests.clone(),
        );
        registry.register(
            "sextant_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            metrics.http_duration.clone(),
        );
        registry.register(
            "sextant_grpc_requests",
            "gRPC requests answered by the public routers, by method and status code",
            metrics.grpc_requests.clone(),
        );
        registry.register(
            "sextant_received_request_bytes",
            "Request body bytes received for ingest as sent (before decompression)",
            metrics.received_bytes.clone(),
        );
        registry.register(
            "sextant_gateway_refused_requests",
            "Requests refused at the edge under a per-tenant limit, by tenant and reason \
             (rate_limited, batch_too_large, quota_exceeded, query_rate_limited)",
            metrics.refused_requests.clone(),
        );
        registry.register(
            "sextant_gateway_refused_bytes",
            "Decompressed ingest bytes refused at the edge under a per-tenant limit, by tenant \
             and reason (rate_limited, batch_too_large, quota_exceeded)",
            metrics.refused_bytes.clone(),
        );
        metrics
    }

    /// Metrics that are counted but exported nowhere (tests, tools).
    pub fn unregistered() -> Self {
        Self {
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(duration_histogram),
            grpc_requests: Family::default(),
            received_bytes: Family::default(),
            refused_requests: Family::default(),
            refused_bytes: Family::default(),
            tenants_seen: Mutex::new(HashSet::new()),
        }
    }

    pub(crate) fn observe_http(&self, route: &str, status: u16, seconds: f64) {
        self.http_requests
            .get_or_create(&RouteStatus {
                route: route.to_owned(),
                status: status.to_string(),
            })
            .inc();
        self.http_duration
            .get_or_create(&RouteLabel {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    pub(crate) fn observe_grpc(&self, method: &str, code: tonic::Code) {
        self.grpc_requests
            .get_or_create(&MethodCode {
                method: method.to_owned(),
                code: format!("{code:?}"),
            })
            .inc();
    }

    pub(crate) fn received(&self, tenant: &str, protocol: &'static str, bytes: u64) {
        let tenant = self.tenant_label(tenant);
        self.received_bytes
            .get_or_create(&TenantProtocol {
                tenant,
                protocol: protocol.to_owned(),
            })
            .inc_by(bytes);
    }

    /// Counts a request refused under a per-tenant limit, with its decompressed bytes.
    pub(crate) fn refused(&self, tenant: &str, reason: RefusalReason, bytes: u64) {
        let labels = TenantReason {
            tenant: self.tenant_label(tenant),
            reason: reason.as_str().to_owned(),
        };
        self.refused_requests.get_or_create(&labels).inc();
        if bytes > 0 {
            self.refused_bytes.get_or_create(&labels).inc_by(bytes);
        }
    }

    fn tenant_label(&self, tenant: &str) -> String {
        let mut seen = self
            .tenants_seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.contains(tenant) {
            return tenant.to_owned();
        }
        if seen.len() < MAX_TENANT_SERIES {
            seen.insert(tenant.to_owned());
            return tenant.to_owned();
        }
        "_other".to_owned()
    }
}
