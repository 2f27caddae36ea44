//! Span metrics: for every span, one call, its latency and its size, by the series of its
//! labels — Tempo's `traces_spanmetrics_calls_total`, `traces_spanmetrics_latency` (a
//! histogram in seconds) and `traces_spanmetrics_size_total`. Intrinsic labels `service`,
//! `span_name`, `span_kind` (`SPAN_KIND_*`) and `status_code` (`STATUS_CODE_*`), then the
//! tenant's dimensions: each attribute looked up on the span, then on its resource, under its
//! sanitised name (absent: the label is left out). A new series beyond `max_active_series` is
//! not created: its span is dropped and counted. Each series keeps the latest trace ID as its
//! exemplar; a series not updated for the stale time is dropped at collection. Opt-in, as in
//! Tempo: the `status_message` label, and `traces_target_info` with `job`/`instance` labels.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use sextant_model::GeneratorSettings;
use sextant_model::otlp::{KeyValue, Span};

use super::histogram::Histogram;
use super::labels::{sanitize_name, sanitize_value};
use super::{Exemplar, Labels, Sample, attribute, histogram_samples, sample};

pub(crate) const CALLS: &str = "traces_spanmetrics_calls_total";
pub(crate) const LATENCY: &str = "traces_spanmetrics_latency";
pub(crate) const SIZE: &str = "traces_spanmetrics_size_total";

pub(crate) const TARGET_INFO: &str = "traces_target_info";

const INTRINSIC: [&str; 4] = ["service", "span_name", "span_kind", "status_code"];

#[derive(Debug)]
struct Series {
    calls: u64,
    size_bytes: u64,
    latency: Histogram,
    exemplar: Option<Exemplar>,
    updated: SystemTime,
}

/// One tenant's span-metrics series.
#[derive(Debug)]
pub(crate) struct SpanMetrics {
    buckets: Vec<f64>,
    /// `(attribute, label name)`.
    dimensions: Vec<(String, String)>,
    max_series: usize,
    series: HashMap<Labels, Series>,
    status_message: bool,
    /// `traces_target_info` series (with `job`/`instance` on every series) when on: each
    /// resource's labels and when it was last seen.
    targets: Option<HashMap<Labels, SystemTime>>,
    /// Spans not counted because their series would have passed `max_active_series`.
    pub(crate) dropped_spans: u64,
}

impl SpanMetrics {
    pub(crate) fn new(settings: &GeneratorSettings) -> Self {
        let mut intrinsic = INTRINSIC.to_vec();
        if settings.status_message {
            intrinsic.push("status_message");
        }
        if settings.target_info {
            intrinsic.extend(["job", "instance"]);
        }
        let dimensions = settings
            .dimensions
            .iter()
            .map(|d| (d.clone(), sanitize_name(d, &intrinsic)))
            .collect();
        Self {
            buckets: settings.histogram_buckets.clone(),
            dimensions,
            max_series: usize::try_from(settings.max_active_series).unwrap_or(usize::MAX),
            series: HashMap::new(),
            status_message: settings.status_message,
            targets: settings.target_info.then(HashMap::new),
            dropped_spans: 0,
        }
    }

    /// Counts one span of a resource (`resource` its attributes, `service` its
    /// `service.name`) whose protobuf encoding is `size` bytes.
    pub(crate) fn observe(
        &mut self,
        service: &str,
        resource: &[KeyValue],
        span: &Span,
        size: u64,
        now: SystemTime,
    ) {
        let target = self.targets.is_some().then(|| target(service, resource));
        if let (Some(targets), Some((_, info))) = (&mut self.targets, &target)
            && let Some(info) = info
        {
            let room = targets.len() < self.max_series;
            match targets.get_mut(info) {
                Some(seen) => *seen = now,
                None if room => {
                    targets.insert(info.clone(), now);
                }
                None => {}
            }
        }
        let mut labels = self.labels(service, resource, span);
        if let Some((job_instance, _)) = target {
            labels.extend(job_instance);
        }
        let latency = span
            .end_time_unix_nano
            .saturating_sub(span.start_time_unix_nano) as f64
            / 1e9;
        if !self.series.contains_key(&labels) && self.series.len() >= self.max_series {
            self.dropped_spans += 1;
            return;
        }
        let series = self.series.entry(labels).or_insert_with(|| Series {
            calls: 0,
            size_bytes: 0,
            latency: Histogram::new(&self.buckets),
            exemplar: None,
            updated: now,
        });
        series.calls += 1;
        series.size_bytes += size;
        series.latency.observe(&self.buckets, latency, 1);
        series.updated = now;
        if span.trace_id.len() == 16 {
            series.exemplar = Some(Exemplar {
                trace_id: hex::encode(&span.trace_id),
                value: latency,
                at: now,
            });
        }
    }

    fn labels(&self, service: &str, resource: &[KeyValue], span: &Span) -> Labels {
        let mut labels = vec![
            ("service".to_owned(), sanitize_value(service)),
            ("span_name".to_owned(), sanitize_value(&span.name)),
            ("span_kind".to_owned(), span_kind(span.kind).to_owned()),
            (
                "status_code".to_owned(),
                status_code(span.status.as_ref().map_or(0, |s| s.code)).to_owned(),
            ),
        ];
        if self.status_message
            && let Some(message) = span.status.as_ref().map(|s| s.message.as_str())
            && !message.is_empty()
        {
            labels.push(("status_message".to_owned(), sanitize_value(message)));
        }
        for (name, label) in &self.dimensions {
            let value = attribute(&span.attributes, name).or_else(|| attribute(resource, name));
            if let Some(value) = value {
                labels.push((label.clone(), sanitize_value(&value)));
            }
        }
        labels
    }

    /// Every series' samples at `now`, after dropping the series not updated for `stale`.
    pub(crate) fn collect(&mut self, now: SystemTime, stale: Duration) -> Vec<Sample> {
        self.series.retain(|_, s| {
            now.duration_since(s.updated)
                .map_or(true, |idle| idle < stale)
        });
        let mut out = Vec::new();
        if let Some(targets) = &mut self.targets {
            targets.retain(|_, seen| now.duration_since(*seen).map_or(true, |idle| idle < stale));
            let mut infos: Vec<&Labels> = targets.keys().collect();
            infos.sort();
            for info in infos {
                out.push(sample(TARGET_INFO, info, None, 1.0, None));
            }
        }
        let mut keys: Vec<&Labels> = self.series.keys().collect();
        keys.sort();
        for labels in keys {
            let s = &self.series[labels];
            out.push(sample(
                CALLS,
                labels,
                None,
                s.calls as f64,
                s.exemplar.clone(),
            ));
            out.push(sample(SIZE, labels, None, s.size_bytes as f64, None));
            out.extend(histogram_samples(
                LATENCY,
                labels,
                &s.latency,
                &self.buckets,
                s.exemplar.as_ref(),
            ));
        }
        out
    }

    pub(crate) fn active_series(&self) -> usize {
        self.series.len() + self.targets.as_ref().map_or(0, HashMap::len)
    }
}

/// A resource's `job` (`service.namespace/service.name`, or the service name) and `instance`
/// (`service.instance.id`) labels, those present, and its `traces_target_info` labels: them
/// and every resource attribute other than `service.*`, when there is at least one such
/// attribute and a job or an instance.
fn target(service: &str, resource: &[KeyValue]) -> (Labels, Option<Labels>) {
    let job = match attribute(resource, "service.namespace") {
        Some(ns) if !ns.is_empty() => format!("{ns}/{service}"),
        _ => service.to_owned(),
    };
    let instance = attribute(resource, "service.instance.id").unwrap_or_default();
    let mut ids: Labels = Vec::new();
    if !job.is_empty() {
        ids.push(("job".to_owned(), sanitize_value(&job)));
    }
    if !instance.is_empty() {
        ids.push(("instance".to_owned(), sanitize_value(&instance)));
    }
    let mut info = ids.clone();
    for kv in resource {
        if kv.key.starts_with("service.") {
            continue;
        }
        if let Some(value) = attribute(resource, &kv.key) {
            info.push((
                sanitize_name(&kv.key, &["job", "instance"]),
                sanitize_value(&value),
            ));
        }
    }
    let info = (!ids.is_empty() && info.len() > ids.len()).then_some(info);
    (ids, info)
}

fn span_kind(kind: i32) -> &'static str {
    match kind {
        1 => "SPAN_KIND_INTERNAL",
        2 => "SPAN_KIND_SERVER",
        3 => "SPAN_KIND_CLIENT",
        4 => "SPAN_KIND_PRODUCER",
        5 => "SPAN_KIND_CONSUMER",
        _ => "SPAN_KIND_UNSPECIFIED",
    }
}

fn status_code(code: i32) -> &'static str {
    match code {
        1 => "STATUS_CODE_OK",
        2 => "STATUS_CODE_ERROR",
        _ => "STATUS_CODE_UNSET",
    }
}

#[cfg(test)]
mod tests;
