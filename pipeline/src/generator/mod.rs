//! The metrics generator: Tempo's span metrics and service graphs, derived from accepted spans
//! and remote-written to each tenant's Prometheus-compatible store (DESIGN.md §8).
//!
//! Data flow: the pipeline hands each acknowledged request's spans to a [`Feed`] (never a WAL
//! replay, so no span counts twice; never waiting: beyond a byte bound spans are shed and
//! counted); the generator thread ([`worker`]) counts them into the tenant's [`instance`] (the
//! processors its settings turn on: [`span_metrics`], [`service_graphs`]) and, every collection
//! interval, turns every series into remote write 1.0 requests ([`remote_write`]) queued per
//! tenant for delivery ([`sender`]). Label names are made Prometheus-safe by [`labels`];
//! histograms follow Tempo's bucket semantics ([`histogram`]).

mod config;
pub(crate) mod histogram;
pub(crate) mod instance;
pub(crate) mod labels;
mod metrics;
pub(crate) mod remote_write;
mod sender;
pub(crate) mod service_graphs;
pub(crate) mod span_metrics;
pub(crate) mod view;
mod worker;

pub use config::{GeneratorConfig, RemoteWriteConfig};
pub use worker::{Feed, Generator};

use std::borrow::Cow;
use std::time::SystemTime;

use view::{KeyValue, any_value};

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
/// bucket its value falls in (the first whose `le` holds it), as a client library puts it.
pub(crate) fn histogram_samples(
    name: &str,
    labels: &Labels,
    histogram: &Histogram,
    bounds: &[f64],
    exemplar: Option<&Exemplar>,
) -> Vec<Sample> {
    let bucket = format!("{name}_bucket");
    let mut exemplar = exemplar.cloned();
    let mut out: Vec<Sample> = histogram
        .cumulative(bounds)
        .into_iter()
        .map(|(le, count)| {
            let here = exemplar.take_if(|e| e.value <= le);
            let le = if le.is_infinite() {
                "+Inf".to_owned()
            } else {
                le.to_string()
            };
            sample(&bucket, labels, Some(le), count as f64, here)
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
/// arrays, maps and bytes are not dimensions (the view does not even decode them).
pub(crate) fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attribute_value(attributes, key).map(Cow::into_owned)
}

/// [`attribute`], borrowing string values.
pub(crate) fn attribute_value<'a>(attributes: &'a [KeyValue], key: &str) -> Option<Cow<'a, str>> {
    let value = attributes
        .iter()
        .find(|kv| kv.key == key.as_bytes())?
        .value
        .as_ref()?;
    match value.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(view::text(s)),
        any_value::Value::IntValue(i) => Some(Cow::Owned(i.to_string())),
        any_value::Value::DoubleValue(d) => Some(Cow::Owned(d.to_string())),
        any_value::Value::BoolValue(b) => Some(Cow::Owned(b.to_string())),
    }
}

/// What [`count_requests`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountedRequests {
    pub spans: u64,
    /// Series held at the end.
    pub series: usize,
    /// Samples collected, over every collection.
    pub samples: usize,
}

/// Does the generator thread's work for one tenant on this thread (without the ingestion
/// slack): decodes each request
/// (protobuf `TracesData`), counts it into the processors `settings` turn on, and collects and
/// encodes a remote-write body after every `collect_every` requests and at the end. For
/// `sextant bench generator`, which times it.
pub fn count_requests(
    settings: &sextant_model::GeneratorSettings,
    requests: &[bytes::Bytes],
    collect_every: usize,
) -> CountedRequests {
    use prost::Message;
    // Every span counts, however old: the benchmark's requests are made once, up front.
    let config = GeneratorConfig {
        ingestion_slack: std::time::Duration::ZERO,
        ..GeneratorConfig::default()
    };
    let mut instance = instance::Instance::new(settings, &config);
    let mut counted = CountedRequests {
        spans: 0,
        series: 0,
        samples: 0,
    };
    let collect = |instance: &mut instance::Instance| {
        let samples = instance.collect(SystemTime::now(), config.stale_after);
        for chunk in samples.chunks(config.max_series_per_request) {
            std::hint::black_box(remote_write::encode(&remote_write::write_request(
                chunk,
                0,
                &[],
            )));
        }
        samples.len()
    };
    for (i, request) in requests.iter().enumerate() {
        let data =
            view::Request::decode(request.clone()).expect("benchmark requests are valid protobuf");
        counted.spans += data
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len() as u64)
            .sum::<u64>();
        instance.observe(&data, SystemTime::now());
        if collect_every > 0 && (i + 1) % collect_every == 0 {
            counted.samples += collect(&mut instance);
        }
    }
    counted.samples += collect(&mut instance);
    counted.series = instance.active_series();
    counted
}
