//! Per-tenant metric families for operators: what each tenant is billed for
//! (`sextant_usage_*_total{tenant}`) and the limits in force, like Tempo's overrides exporter
//! (`sextant_limits_overrides{limit_name,tenant}`, `sextant_limits_defaults{limit_name}`), and
//! which metrics-generator processors each tenant has on (`sextant_generator_processors`).
//!
//! Usage counters are fed by a [`UsageMeter`] decorator, so they count exactly what the
//! control plane meters (and what quotas and the admin API's usage report are made of). The
//! limits families are read from the tenant snapshot at scrape time, so they follow every
//! change without a refresh loop of their own.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use serde::Serialize;
use sextant_model::{Limits, PeriodUsage, TenantId, UsageDelta, UsageMeter};
use sextant_tenancy::ControlPlane;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabel {
    tenant: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DiscardLabels {
    tenant: String,
    reason: &'static str,
}

/// The billing counters.
#[derive(Debug, Clone, Default)]
pub(crate) struct UsageMetrics {
    accepted_bytes: Family<TenantLabel, Counter>,
    accepted_spans: Family<TenantLabel, Counter>,
    discarded_spans: Family<DiscardLabels, Counter>,
    discarded_bytes: Family<DiscardLabels, Counter>,
    queries: Family<TenantLabel, Counter>,
}

impl UsageMetrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "sextant_usage_accepted_bytes",
            "Decompressed ingest bytes accepted per tenant: what quotas and billing count",
            m.accepted_bytes.clone(),
        );
        registry.register(
            "sextant_usage_accepted_spans",
            "Spans accepted per tenant",
            m.accepted_spans.clone(),
        );
        registry.register(
            "sextant_usage_discarded_spans",
            "Spans discarded per tenant and reason (Tempo's reason strings, plus quota_exceeded)",
            m.discarded_spans.clone(),
        );
        registry.register(
            "sextant_usage_discarded_bytes",
            "Bytes discarded per tenant and reason",
            m.discarded_bytes.clone(),
        );
        registry.register(
            "sextant_usage_queries",
            "Query requests per tenant (trace by ID, search, tags, metrics, streaming calls)",
            m.queries.clone(),
        );
        m
    }

    fn count(&self, tenant: &TenantId, delta: &UsageDelta) {
        let label = TenantLabel {
            tenant: tenant.as_str().to_owned(),
        };
        if delta.accepted_bytes > 0 {
            self.accepted_bytes
                .get_or_create(&label)
                .inc_by(delta.accepted_bytes);
        }
        if delta.accepted_spans > 0 {
            self.accepted_spans
                .get_or_create(&label)
                .inc_by(delta.accepted_spans);
        }
        for discard in &delta.discarded {
            let labels = DiscardLabels {
                tenant: label.tenant.clone(),
                reason: discard.reason.as_str(),
            };
            self.discarded_spans
                .get_or_create(&labels)
                .inc_by(discard.spans);
            self.discarded_bytes
                .get_or_create(&labels)
                .inc_by(discard.bytes);
        }
        if delta.queries > 0 {
            self.queries.get_or_create(&label).inc_by(delta.queries);
        }
    }
}

/// Counts every recorded delta into [`UsageMetrics`], then hands it to the real meter.
#[derive(Debug)]
pub(crate) struct MeteredUsage<M> {
    inner: Arc<M>,
    metrics: UsageMetrics,
}

impl<M> MeteredUsage<M> {
    pub(crate) fn new(inner: Arc<M>, metrics: UsageMetrics) -> Self {
        Self { inner, metrics }
    }
}

impl<M: UsageMeter> UsageMeter for MeteredUsage<M> {
    fn record(&self, tenant: &TenantId, at: SystemTime, delta: &UsageDelta) {
        self.metrics.count(tenant, delta);
        self.inner.record(tenant, at, delta);
    }

    fn usage(&self, tenant: &TenantId, now: SystemTime) -> PeriodUsage {
        self.inner.usage(tenant, now)
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProcessorLabels {
    tenant: String,
    processor: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OverrideLabels {
    limit_name: String,
    tenant: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DefaultLabels {
    limit_name: String,
}

/// `sextant_limits_overrides` and `sextant_limits_defaults`, read from the snapshot per scrape.
/// Sizes and counts are written as they are; durations in seconds.
#[derive(Debug)]
pub(crate) struct LimitsExporter {
    control: Arc<ControlPlane>,
    defaults: Limits,
}

impl LimitsExporter {
    pub(crate) fn register(registry: &mut Registry, control: Arc<ControlPlane>, defaults: Limits) {
        registry.register_collector(Box::new(Self { control, defaults }));
    }
}

impl Collector for LimitsExporter {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "sextant_limits_defaults",
            "The configured default of each limit (durations in seconds)",
            None,
            MetricType::Gauge,
        )?;
        for (limit_name, value) in limit_values(&self.defaults) {
            let labels = DefaultLabels { limit_name };
            ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
        }

        let (mut overrides, mut processors) = self.control.with_snapshot(|snapshot| {
            let overrides = snapshot
                .tenants
                .values()
                .map(|t| (t.id.clone(), limit_values(&t.limits)))
                .collect::<Vec<_>>();
            let processors = snapshot
                .tenants
                .values()
                .flat_map(|t| {
                    t.generator
                        .processors
                        .iter()
                        .map(|p| (t.id.as_str().to_owned(), p.as_str()))
                })
                .collect::<Vec<_>>();
            (overrides, processors)
        });
        overrides.sort_by(|a, b| a.0.cmp(&b.0));
        let mut family = encoder.encode_descriptor(
            "sextant_limits_overrides",
            "Each limit a tenant overrides, with its value (durations in seconds)",
            None,
            MetricType::Gauge,
        )?;
        for (tenant, values) in overrides {
            for (limit_name, value) in values {
                let labels = OverrideLabels {
                    limit_name,
                    tenant: tenant.as_str().to_owned(),
                };
                ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
            }
        }

        processors.sort_unstable();
        let mut family = encoder.encode_descriptor(
            "sextant_generator_processors",
            "1 for each metrics-generator processor a tenant's settings turn on",
            None,
            MetricType::Gauge,
        )?;
        for (tenant, processor) in processors {
            let labels = ProcessorLabels { tenant, processor };
            ConstGauge::new(1).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// Every field a limits document sets, as `(name, value)`: the field names are the one set of
/// limit names (DESIGN.md §3), taken from serialisation so a new limit is exported unasked.
fn limit_values(limits: &impl Serialize) -> Vec<(String, f64)> {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(limits) else {
        return Vec::new();
    };
    fields
        .into_iter()
        .filter_map(|(name, value)| {
            let number = match value {
                serde_json::Value::Number(n) => n.as_f64(),
                serde_json::Value::String(s) => humantime::parse_duration(&s)
                    .ok()
                    .map(|d: Duration| d.as_secs_f64()),
                _ => None,
            }?;
            Some((name, number))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use sextant_tenancy::LimitOverrides;

    use super::*;

    #[test]
    fn limit_values_are_numbers_and_seconds() {
        let overrides = LimitOverrides {
            ingestion_rate_bytes: Some(1000),
            block_retention: Some(Duration::from_secs(7200)),
            ..Default::default()
        };
        let mut values = limit_values(&overrides);
        values.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            values,
            vec![
                ("block_retention".to_owned(), 7200.0),
                ("ingestion_rate_bytes".to_owned(), 1000.0),
            ]
        );
        // Every default limit is exported.
        let defaults = limit_values(&Limits::default());
        let json = serde_json::to_value(Limits::default()).unwrap();
        assert_eq!(defaults.len(), json.as_object().unwrap().len());
    }
}
