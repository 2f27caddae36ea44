//! One tenant's generator: the processors its settings turn on, fed whole export requests
//! (`TracesData`), collected into samples. Each span is attributed to its resource's
//! `service.name` (empty when absent); its size is its protobuf encoding, as Tempo's
//! `traces_spanmetrics_size_total` counts it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message;
use sextant_model::{GeneratorProcessor, GeneratorSettings};

use super::config::GeneratorConfig;
use super::service_graphs::{DEFAULT_BUCKETS, ServiceGraphs};
use super::span_metrics::SpanMetrics;
use super::view::{Request, Span};
use super::{Labels, Sample, attribute};

/// Spans and halves a tenant's processors could not count.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counters {
    /// Spans (and service-graph requests) whose series would have passed
    /// `max_active_series`.
    pub(crate) series_limited: u64,
    /// Service-graph halves that found the wait store full.
    pub(crate) edge_store_full: u64,
    /// Service-graph halves whose other half never came.
    pub(crate) edges_expired: u64,
    /// Spans that ended before the ingestion slack.
    pub(crate) outside_slack: u64,
}

#[derive(Debug)]
pub(crate) struct Instance {
    span_metrics: Option<SpanMetrics>,
    service_graphs: Option<ServiceGraphs>,
    /// Spans that ended longer ago than this are not counted (zero: all are).
    slack: Duration,
    outside_slack: u64,
}

impl Instance {
    pub(crate) fn new(settings: &GeneratorSettings, config: &GeneratorConfig) -> Self {
        let on = |p| settings.processors.contains(&p);
        Self {
            span_metrics: on(GeneratorProcessor::SpanMetrics).then(|| SpanMetrics::new(settings)),
            service_graphs: on(GeneratorProcessor::ServiceGraphs).then(|| {
                ServiceGraphs::new(
                    DEFAULT_BUCKETS.to_vec(),
                    config.edge_wait,
                    config.edge_max_items,
                )
                .with_max_edges(usize::try_from(settings.max_active_series).unwrap_or(usize::MAX))
            }),
            slack: config.ingestion_slack,
            outside_slack: 0,
        }
    }

    /// Series held now, of every processor.
    pub(crate) fn active_series(&self) -> usize {
        self.span_metrics
            .as_ref()
            .map_or(0, SpanMetrics::active_series)
            + self
                .service_graphs
                .as_ref()
                .map_or(0, ServiceGraphs::active_series)
    }

    /// What the processors could not count since the last call.
    pub(crate) fn take_counters(&mut self) -> Counters {
        let mut c = Counters {
            outside_slack: std::mem::take(&mut self.outside_slack),
            ..Counters::default()
        };
        if let Some(m) = &mut self.span_metrics {
            c.series_limited = std::mem::take(&mut m.dropped_spans);
        }
        if let Some(g) = &mut self.service_graphs {
            c.series_limited += std::mem::take(&mut g.limited_edges);
            c.edge_store_full = std::mem::take(&mut g.dropped_spans);
            c.edges_expired = std::mem::take(&mut g.expired_edges);
        }
        c
    }

    /// Whether any processor is on (an instance without one needs no spans).
    #[cfg(test)]
    pub(crate) fn is_active(&self) -> bool {
        self.span_metrics.is_some() || self.service_graphs.is_some()
    }

    /// Counts every span of one accepted request.
    pub(crate) fn observe(&mut self, data: &Request, now: SystemTime) {
        let oldest = if self.slack.is_zero() {
            0
        } else {
            now.checked_sub(self.slack)
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        };
        for rs in &data.resource_spans {
            let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            let service = attribute(resource, "service.name").unwrap_or_default();
            // The resource's `job`/`instance` labels, worked out at its first counted span.
            let mut ids: Option<Option<Labels>> = None;
            for raw in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                // The pipeline encoded these bytes itself (validated OTLP).
                let Ok(span) = Span::decode(raw.clone()) else {
                    continue;
                };
                let span = &span;
                if span.end_time_unix_nano < oldest {
                    self.outside_slack += 1;
                    continue;
                }
                if let Some(m) = &mut self.span_metrics {
                    let ids = ids.get_or_insert_with(|| m.resource(&service, resource, now));
                    m.observe_span(
                        &service,
                        resource,
                        ids.as_ref(),
                        span,
                        raw.len() as u64,
                        now,
                    );
                }
                if let Some(g) = &mut self.service_graphs {
                    g.observe(&service, resource, span, now);
                }
            }
        }
    }

    /// Ends due edge waits and returns every series' samples, dropping stale ones.
    pub(crate) fn collect(&mut self, now: SystemTime, stale: Duration) -> Vec<Sample> {
        let mut out = Vec::new();
        if let Some(m) = &mut self.span_metrics {
            out.extend(m.collect(now, stale));
        }
        if let Some(g) = &mut self.service_graphs {
            g.expire(now);
            out.extend(g.collect(now, stale));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use sextant_model::otlp::{
        AnyValue, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, TracesData, any_value,
    };

    use super::*;

    /// No ingestion slack: the test spans are from 1970.
    fn config() -> GeneratorConfig {
        GeneratorConfig {
            ingestion_slack: Duration::ZERO,
            ..GeneratorConfig::default()
        }
    }

    fn resource_spans(service: &str, spans: Vec<Span>) -> ResourceSpans {
        ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(service.into())),
                    }),
                }],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }
    }

    fn span(id: u8, parent: Option<u8>, kind: i32, name: &str) -> Span {
        Span {
            trace_id: vec![3; 16],
            span_id: vec![id; 8],
            parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
            name: name.into(),
            kind,
            start_time_unix_nano: 0,
            end_time_unix_nano: 20_000_000,
            ..Span::default()
        }
    }

    fn settings(processors: Vec<GeneratorProcessor>) -> GeneratorSettings {
        GeneratorSettings {
            processors,
            ..GeneratorSettings::default()
        }
    }

    fn request() -> Request {
        let data = TracesData {
            resource_spans: vec![
                resource_spans("frontend", vec![span(1, None, 3, "GET /api")]),
                resource_spans("api", vec![span(2, Some(1), 2, "GET /api")]),
            ],
        };
        Request::decode(data.encode_to_vec().as_slice()).unwrap()
    }

    #[test]
    fn processors_follow_the_settings() {
        let now = SystemTime::UNIX_EPOCH;
        let stale = Duration::from_secs(60);
        let mut none = Instance::new(&settings(vec![]), &config());
        assert!(!none.is_active());
        none.observe(&request(), now);
        assert!(none.collect(now, stale).is_empty());

        let mut both = Instance::new(
            &settings(vec![
                GeneratorProcessor::SpanMetrics,
                GeneratorProcessor::ServiceGraphs,
            ]),
            &config(),
        );
        both.observe(&request(), now);
        let samples = both.collect(now, stale);
        let calls: Vec<_> = samples
            .iter()
            .filter(|s| s.name == "traces_spanmetrics_calls_total")
            .collect();
        assert_eq!(calls.len(), 2, "one series per service");
        let edge = samples
            .iter()
            .find(|s| s.name == "traces_service_graph_request_total")
            .expect("the frontend → api edge");
        assert_eq!(
            edge.labels,
            vec![
                ("client".to_owned(), "frontend".to_owned()),
                ("server".to_owned(), "api".to_owned())
            ]
        );
        let size = samples
            .iter()
            .find(|s| s.name == "traces_spanmetrics_size_total")
            .unwrap();
        assert!(size.value > 0.0, "span sizes are their protobuf bytes");

        let mut graphs_only = Instance::new(
            &settings(vec![GeneratorProcessor::ServiceGraphs]),
            &config(),
        );
        graphs_only.observe(&request(), now);
        assert!(
            graphs_only
                .collect(now, stale)
                .iter()
                .all(|s| s.name.starts_with("traces_service_graph"))
        );
    }
}
