//! The metrics generator (issue #8), built bottom-up. This first slice is pure logic, not yet
//! fed by ingest nor remote-written: Prometheus label names ([`labels`]), histograms with
//! Tempo's bucket semantics ([`histogram`]), the span-metrics registry ([`span_metrics`]),
//! which turns spans into Tempo's `traces_spanmetrics_*` series with the per-tenant settings
//! of `sextant_model::GeneratorSettings` (dimensions, buckets, active-series limit), and the
//! service-graph edge store ([`service_graphs`]: client/server pairing with a bounded wait,
//! database, messaging and virtual-node edges), and remote write 1.0 bodies
//! ([`remote_write`]: protobuf `WriteRequest`, snappy). [`instance`] is one tenant's
//! generator: the processors its settings turn on, fed whole requests.

pub(crate) mod histogram;
pub(crate) mod instance;
pub(crate) mod labels;
pub(crate) mod remote_write;
pub(crate) mod service_graphs;
pub(crate) mod span_metrics;

use std::time::SystemTime;

use sextant_model::otlp::{KeyValue, any_value};

use histogram::Histogram;

/// A series' labels, in a fixed order: the intrinsic ones, then the dimensions present.
pub(crate) type Labels = Vec<(String, String)>;

/// The trace a series saw last, for exemplars.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Exemplar {
    /// Hex trace ID (Grafana links on `traceID`).
    pub(crate) trace_id: String,
    /// The latency in seconds.
    pub(crate) value: f64,
    pub(crate) at: SystemTime,
}

/// One collected sample.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: Labels,
    pub(crate) value: f64,
    pub(crate) exemplar: Option<Exemplar>,
}

fn sample(
    name: &str,
    labels: &Labels,
    le: Option<String>,
    value: f64,
    exemplar: Option<Exemplar>,
) -> Sample {
    let mut labels = labels.clone();
    if let Some(le) = le {
        labels.push(("le".to_owned(), le));
    }
    Sample {
        name: name.to_owned(),
        labels,
        value,
        exemplar,
    }
}

/// A histogram's `_bucket` (with `le`), `_sum` and `_count` samples; the exemplar goes on the
/// buckets.
pub(crate) fn histogram_samples(
    name: &str,
    labels: &Labels,
    histogram: &Histogram,
    bounds: &[f64],
    exemplar: Option<&Exemplar>,
) -> Vec<Sample> {
    let mut out: Vec<Sample> = histogram
        .cumulative(bounds)
        .into_iter()
        .map(|(le, count)| {
            let le = if le.is_infinite() {
                "+Inf".to_owned()
            } else {
                le.to_string()
            };
            let bucket = format!("{name}_bucket");
            sample(&bucket, labels, Some(le), count as f64, exemplar.cloned())
        })
        .collect();
    out.push(sample(
        &format!("{name}_sum"),
        labels,
        None,
        histogram.sum(),
        None,
    ));
    out.push(sample(
        &format!("{name}_count"),
        labels,
        None,
        histogram.count() as f64,
        None,
    ));
    out
}

/// An attribute's value as a label value: strings as they are, numbers and booleans printed;
/// arrays, maps and bytes are not dimensions.
pub(crate) fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        _ => None,
    }
}
