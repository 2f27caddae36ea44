//! Span metrics: for every span, one call, its latency and its size, by the series of its
//! labels — Tempo's `traces_spanmetrics_calls_total`, `traces_spanmetrics_latency` (a
//! histogram in seconds) and `traces_spanmetrics_size_total`. Intrinsic labels `service`,
//! `span_name`, `span_kind` (`SPAN_KIND_*`) and `status_code` (`STATUS_CODE_*`), then the
//! tenant's dimensions: each attribute looked up on the span, then on its resource, under its
//! sanitised name (absent: the label is left out). A new series beyond `max_active_series` is
//! not created: its span is dropped and counted. Each series keeps the latest trace ID as its
//! exemplar; a series not updated for the stale time is dropped at collection. Opt-in, as in
//! Tempo: the `status_message` label, and `traces_target_info` with `job`/`instance` labels.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::time::{Duration, SystemTime};

use super::view::{KeyValue, Span, text};
use sextant_model::GeneratorSettings;

use bytes::Bytes;

use super::histogram::Histogram;
use super::labels::{cut_value, sanitize_name, sanitize_value};
use super::{Exemplar, Labels, Sample, attribute, attribute_value, histogram_samples, sample};

pub(crate) const CALLS: &str = "traces_spanmetrics_calls_total";
pub(crate) const LATENCY: &str = "traces_spanmetrics_latency";
pub(crate) const SIZE: &str = "traces_spanmetrics_size_total";

pub(crate) const TARGET_INFO: &str = "traces_target_info";

const INTRINSIC: [&str; 4] = ["service", "span_name", "span_kind", "status_code"];

/// A series' label values, in the order of [`SpanMetrics::names`]; `None` for a label the span
/// did not have (an absent dimension, no status message).
type Values = Box<[Option<Box<str>>]>;

#[derive(Debug)]
struct Series {
    values: Values,
    calls: u64,
    size_bytes: u64,
    latency: Histogram,
    /// The latest span's trace ID, latency and arrival.
    exemplar: Option<([u8; 16], f64, SystemTime)>,
    updated: SystemTime,
}

/// One tenant's span-metrics series.
#[derive(Debug)]
pub(crate) struct SpanMetrics {
    buckets: Vec<f64>,
    /// `(attribute, label name)`.
    dimensions: Vec<(String, String)>,
    max_series: usize,
    /// Every label name a series may have, in order: the intrinsic ones, `status_message`,
    /// the dimensions, `job` and `instance` (those the settings turn on).
    names: Vec<String>,
    /// Series by the hash of their values (a span's values are hashed as borrowed, so a span
    /// of an existing series allocates nothing); series with colliding hashes share a bucket.
    series: HashMap<u64, Vec<Series>>,
    series_count: usize,
    hasher: RandomState,
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
        let dimensions: Vec<(String, String)> = settings
            .dimensions
            .iter()
            .map(|d| (d.clone(), sanitize_name(d, &intrinsic)))
            .collect();
        let mut names: Vec<String> = INTRINSIC.iter().map(|n| (*n).to_owned()).collect();
        if settings.status_message {
            names.push("status_message".to_owned());
        }
        names.extend(dimensions.iter().map(|(_, label)| label.clone()));
        if settings.target_info {
            names.extend(["job".to_owned(), "instance".to_owned()]);
        }
        Self {
            buckets: settings.histogram_buckets.clone(),
            dimensions,
            max_series: usize::try_from(settings.max_active_series).unwrap_or(usize::MAX),
            names,
            series: HashMap::new(),
            series_count: 0,
            hasher: RandomState::new(),
            status_message: settings.status_message,
            targets: settings.target_info.then(HashMap::new),
            dropped_spans: 0,
        }
    }

    /// Counts one span of a resource (`resource` its attributes, `service` its
    /// `service.name`) whose protobuf encoding is `size` bytes.
    #[cfg(test)]
    pub(crate) fn observe(
        &mut self,
        service: &str,
        resource: &[KeyValue],
        span: &Span,
        size: u64,
        now: SystemTime,
    ) {
        let ids = self.resource(service, resource, now);
        self.observe_span(service, resource, ids.as_ref(), span, size, now);
    }

    /// Once per resource, before its spans: with `target_info` on, records the resource's
    /// `traces_target_info` series and returns the `job`/`instance` labels its spans' series
    /// get; `None` when off.
    pub(crate) fn resource(
        &mut self,
        service: &str,
        resource: &[KeyValue],
        now: SystemTime,
    ) -> Option<Labels> {
        let targets = self.targets.as_mut()?;
        let (ids, info) = target(service, resource);
        if let Some(info) = info {
            let room = targets.len() < self.max_series;
            match targets.get_mut(&info) {
                Some(seen) => *seen = now,
                None if room => {
                    targets.insert(info, now);
                }
                None => {}
            }
        }
        Some(ids)
    }

    /// Counts one span of a resource; `ids` is what [`SpanMetrics::resource`] returned for it.
    pub(crate) fn observe_span(
        &mut self,
        service: &str,
        resource: &[KeyValue],
        ids: Option<&Labels>,
        span: &Span,
        size: u64,
        now: SystemTime,
    ) {
        let mut values = self.values(service, resource, span);
        if let Some(ids) = ids {
            for name in ["job", "instance"] {
                let value = ids.iter().find(|(n, _)| n == name);
                values.push(value.map(|(_, v)| Cow::Borrowed(v.as_str())));
            }
        }
        let latency = span
            .end_time_unix_nano
            .saturating_sub(span.start_time_unix_nano) as f64
            / 1e9;
        let hash = self.hasher.hash_one(Hashed(&values));
        let bucket = self.series.entry(hash).or_default();
        let at = match bucket.iter().position(|s| same(&s.values, &values)) {
            Some(at) => at,
            None if self.series_count >= self.max_series => {
                if bucket.is_empty() {
                    self.series.remove(&hash);
                }
                self.dropped_spans += 1;
                return;
            }
            None => {
                self.series_count += 1;
                bucket.push(Series {
                    values: values
                        .into_iter()
                        .map(|v| v.map(|v| v.into_owned().into_boxed_str()))
                        .collect(),
                    calls: 0,
                    size_bytes: 0,
                    latency: Histogram::new(&self.buckets),
                    exemplar: None,
                    updated: now,
                });
                bucket.len() - 1
            }
        };
        let series = &mut bucket[at];
        series.calls += 1;
        series.size_bytes += size;
        series.latency.observe(&self.buckets, latency, 1);
        series.updated = now;
        if let Ok(trace) = <[u8; 16]>::try_from(span.trace_id.as_ref()) {
            series.exemplar = Some((trace, latency, now));
        }
    }

    /// A span's label values up to its dimensions, borrowed from the span where they can be.
    fn values<'a>(
        &self,
        service: &'a str,
        resource: &'a [KeyValue],
        span: &'a Span,
    ) -> Vec<Option<Cow<'a, str>>> {
        let mut values = Vec::with_capacity(self.names.len());
        values.push(Some(cut_value(service)));
        values.push(Some(cut_text(&span.name)));
        values.push(Some(Cow::Borrowed(span_kind(span.kind))));
        values.push(Some(Cow::Borrowed(status_code(
            span.status.as_ref().map_or(0, |s| s.code),
        ))));
        if self.status_message {
            let message = span.status.as_ref().map(|s| &s.message);
            values.push(message.filter(|m| !m.is_empty()).map(cut_text));
        }
        for (name, _) in &self.dimensions {
            let value =
                attribute_value(&span.attributes, name).or_else(|| attribute_value(resource, name));
            values.push(value.map(|v| match v {
                Cow::Borrowed(v) => cut_value(v),
                Cow::Owned(v) => Cow::Owned(cut_value(&v).into_owned()),
            }));
        }
        values
    }

    /// A series' labels: its names with a value, in order.
    fn labels(&self, values: &[Option<Box<str>>]) -> Labels {
        self.names
            .iter()
            .zip(values)
            .filter_map(|(name, value)| Some((name.clone(), value.as_deref()?.to_owned())))
            .collect()
    }

    /// Every series' samples at `now`, after dropping the series not updated for `stale`.
    pub(crate) fn collect(&mut self, now: SystemTime, stale: Duration) -> Vec<Sample> {
        let fresh = |updated: SystemTime| {
            now.duration_since(updated)
                .map_or(true, |idle| idle < stale)
        };
        for bucket in self.series.values_mut() {
            bucket.retain(|s| fresh(s.updated));
        }
        self.series.retain(|_, bucket| !bucket.is_empty());
        self.series_count = self.series.values().map(Vec::len).sum();
        let mut out = Vec::new();
        if let Some(targets) = &mut self.targets {
            targets.retain(|_, seen| now.duration_since(*seen).map_or(true, |idle| idle < stale));
            let mut infos: Vec<&Labels> = targets.keys().collect();
            infos.sort();
            for info in infos {
                out.push(sample(TARGET_INFO, info, None, 1.0, None));
            }
        }
        let mut series: Vec<(Labels, &Series)> = self
            .series
            .values()
            .flatten()
            .map(|s| (self.labels(&s.values), s))
            .collect();
        series.sort_by(|a, b| a.0.cmp(&b.0));
        for (labels, s) in series {
            let exemplar = s.exemplar.map(|(trace, value, at)| Exemplar {
                trace_id: hex::encode(trace),
                value,
                at,
            });
            out.push(sample(
                CALLS,
                &labels,
                None,
                s.calls as f64,
                exemplar.clone(),
            ));
            out.push(sample(SIZE, &labels, None, s.size_bytes as f64, None));
            out.extend(histogram_samples(
                LATENCY,
                &labels,
                &s.latency,
                &self.buckets,
                exemplar.as_ref(),
            ));
        }
        out
    }

    pub(crate) fn active_series(&self) -> usize {
        self.series_count + self.targets.as_ref().map_or(0, HashMap::len)
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
        if kv.key.starts_with(b"service.") {
            continue;
        }
        let key = text(&kv.key);
        if let Some(value) = attribute(resource, &key) {
            info.push((
                sanitize_name(&key, &["job", "instance"]),
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

/// Label values hashed as the stored ones would be: absent and present values told apart.
struct Hashed<'a, 'b>(&'a [Option<Cow<'b, str>>]);

impl Hash for Hashed<'_, '_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for value in self.0 {
            match value {
                Some(v) => {
                    state.write_u8(1);
                    state.write(v.as_bytes());
                    state.write_u8(0xff);
                }
                None => state.write_u8(0),
            }
        }
    }
}

/// Whether stored values equal a span's.
fn same(stored: &[Option<Box<str>>], values: &[Option<Cow<'_, str>>]) -> bool {
    stored.len() == values.len()
        && stored
            .iter()
            .zip(values)
            .all(|(a, b)| a.as_deref() == b.as_deref())
}

/// A string field as a label value, borrowed when it is valid UTF-8 and short enough.
fn cut_text(bytes: &Bytes) -> Cow<'_, str> {
    match text(bytes) {
        Cow::Borrowed(v) => cut_value(v),
        Cow::Owned(v) => Cow::Owned(cut_value(&v).into_owned()),
    }
}
