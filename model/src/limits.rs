//! Per-tenant limits, with one set of names everywhere (config `limits.*`, environment
//! `SEXTANT_LIMITS__*`, admin JSON, metrics), and the reasons spans are discarded.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The limits that apply to one tenant. Defaults match Tempo's where Tempo has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Ingest rate in decompressed bytes per second.
    pub ingestion_rate_bytes: u64,
    /// Ingest burst in decompressed bytes.
    pub ingestion_burst_bytes: u64,
    /// Live (not yet completed) traces per tenant.
    pub max_traces_per_tenant: u64,
    /// Bytes of one trace; spans beyond it are discarded as `trace_too_large`.
    pub max_bytes_per_trace: u64,
    /// Attribute keys and values longer than this are truncated (0 disables).
    pub max_attribute_bytes: u64,
    /// How long blocks are kept.
    #[serde(with = "humantime_serde")]
    pub block_retention: Duration,
    /// The longest time range one search may cover.
    #[serde(with = "humantime_serde")]
    pub max_search_duration: Duration,
    /// Uncompressed OTLP bytes one search, tag or tag-values query may examine (0: no limit).
    pub max_search_bytes: u64,
    /// How long one search, tag or tag-values query may run.
    #[serde(with = "humantime_serde")]
    pub search_timeout: Duration,
    /// The most spans returned per span set.
    pub max_spans_per_span_set: u64,
    /// The longest time range one TraceQL metrics query may cover.
    #[serde(with = "humantime_serde")]
    pub max_metrics_duration: Duration,
    /// The most series one TraceQL metrics query returns; beyond it the answer is partial.
    pub max_metrics_series: u64,
    /// Decompressed bytes per UTC day, 0 = no quota.
    pub daily_ingest_bytes: u64,
    /// Decompressed bytes per UTC month, 0 = no quota.
    pub monthly_ingest_bytes: u64,
    /// Query requests per second, 0 = no limit.
    pub query_rate: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            ingestion_rate_bytes: 15_000_000,
            ingestion_burst_bytes: 20_000_000,
            max_traces_per_tenant: 10_000,
            max_bytes_per_trace: 5_000_000,
            max_attribute_bytes: 2048,
            block_retention: Duration::from_secs(336 * 3600),
            max_search_duration: Duration::from_secs(168 * 3600),
            max_search_bytes: 50_000_000_000,
            search_timeout: Duration::from_secs(30),
            max_spans_per_span_set: 100,
            max_metrics_duration: Duration::from_secs(24 * 3600),
            max_metrics_series: 1000,
            daily_ingest_bytes: 0,
            monthly_ingest_bytes: 0,
            query_rate: 0,
        }
    }
}

/// Why spans were discarded; the strings are Tempo's (plus `quota_exceeded`), so dashboards built
/// on `tempo_discarded_spans_total{reason}` carry over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DiscardReason {
    RateLimited,
    TraceTooLarge,
    LiveTracesExceeded,
    InvalidTraceId,
    InvalidSpanId,
    QuotaExceeded,
    Unavailable,
}

impl DiscardReason {
    pub const ALL: [DiscardReason; 7] = [
        Self::RateLimited,
        Self::TraceTooLarge,
        Self::LiveTracesExceeded,
        Self::InvalidTraceId,
        Self::InvalidSpanId,
        Self::QuotaExceeded,
        Self::Unavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RateLimited => "rate_limited",
            Self::TraceTooLarge => "trace_too_large",
            Self::LiveTracesExceeded => "live_traces_exceeded",
            Self::InvalidTraceId => "invalid_trace_id",
            Self::InvalidSpanId => "invalid_span_id",
            Self::QuotaExceeded => "quota_exceeded",
            Self::Unavailable => "unavailable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_override_field_by_field() {
        let limits: Limits =
            serde_json::from_str(r#"{"max_attribute_bytes": 10, "block_retention": "24h"}"#)
                .unwrap();
        assert_eq!(limits.max_attribute_bytes, 10);
        assert_eq!(limits.block_retention, Duration::from_secs(86400));
        assert_eq!(
            limits.ingestion_rate_bytes,
            Limits::default().ingestion_rate_bytes
        );
    }

    #[test]
    fn unknown_limit_names_are_refused() {
        assert!(serde_json::from_str::<Limits>(r#"{"max_attr_bytes": 10}"#).is_err());
    }
}
