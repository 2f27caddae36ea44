//! `tempopb.StreamingQuerier` messages ↔ the model: requests become the model's requests with
//! the same defaults and checks as the HTTP routes (they go through the same parameter parsers),
//! answers become Tempo's messages, cut into pieces of at most [`PACKET_BYTES`].

use std::time::Duration;

use prost::Message;
use sextant_model::{
    MetricSeries, MetricsRequest, MetricsResponse, SearchMetrics, SearchQuery, SearchRequest,
    SpanSet, SpanSummary, TagNamesRequest, TagValuesRequest, TraceSummary,
};

use crate::error::GatewayError;
use crate::metrics_json::instant_value;
use crate::metrics_params::{DEFAULT_EXEMPLARS, MAX_EXEMPLARS};
use crate::search_json::{duration_ms, search_trace_id, span_id_hex};
use crate::search_params::{self, Params, SearchBounds, TagApi, bad};
use crate::tempopb;

/// The most bytes of traces or series one streamed message carries (Tempo's default
/// `max_grpc_streaming_packet_size`); Grafana accepts messages up to 4 MiB.
pub(crate) const PACKET_BYTES: usize = 1 << 20;

/// How far back a metrics query without `start` looks.
const DEFAULT_LOOKBACK: Duration = Duration::from_secs(3600);

fn params(pairs: Vec<(&str, String)>) -> Params {
    Params(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// A non-zero number as a parameter, zero as absent.
fn nonzero(name: &'static str, value: u32) -> Option<(&'static str, String)> {
    (value != 0).then(|| (name, value.to_string()))
}

/// `Search`: `Query` (TraceQL), else `Tags` (every pair must hold), `Limit`, `SpansPerSpanSet`,
/// `start`/`end` (Unix seconds), `MinDurationMs`/`MaxDurationMs`; zero means absent.
pub(crate) fn search_request(
    req: &tempopb::SearchRequest,
    bounds: &SearchBounds,
) -> Result<SearchRequest, GatewayError> {
    let mut pairs: Vec<(&str, String)> = [
        nonzero("limit", req.limit),
        nonzero("spss", req.spans_per_span_set),
        nonzero("start", req.start),
        nonzero("end", req.end),
    ]
    .into_iter()
    .flatten()
    .collect();
    if req.min_duration_ms != 0 {
        pairs.push(("minDuration", format!("{}ms", req.min_duration_ms)));
    }
    if req.max_duration_ms != 0 {
        pairs.push(("maxDuration", format!("{}ms", req.max_duration_ms)));
    }
    // Always a `q`, so that no other field is read as a legacy tag.
    pairs.push(("q", req.query.clone()));
    let mut request = search_params::search_request(&params(pairs), bounds)?;
    if req.query.trim().is_empty() && !req.tags.is_empty() {
        let mut tags: Vec<(String, String)> = req
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        tags.sort();
        request.query = SearchQuery::Tags(tags);
    }
    Ok(request)
}

/// `SearchTags`/`SearchTagsV2`: `scope` (empty: the route's default), `query`, `start`/`end`,
/// `maxTagsPerScope`.
pub(crate) fn tag_names_request(
    req: &tempopb::SearchTagsRequest,
    api: TagApi,
) -> Result<TagNamesRequest, GatewayError> {
    let mut pairs: Vec<(&str, String)> = [
        nonzero("start", req.start),
        nonzero("end", req.end),
        nonzero("limit", req.max_tags_per_scope),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !req.scope.is_empty() {
        pairs.push(("scope", req.scope.clone()));
    }
    pairs.push(("q", req.query.clone()));
    search_params::tag_names_request(&params(pairs), api)
}

/// `SearchTagValues` (raw attribute name) / `SearchTagValuesV2` (TraceQL identifier).
pub(crate) fn tag_values_request(
    req: &tempopb::SearchTagValuesRequest,
    api: TagApi,
) -> Result<TagValuesRequest, GatewayError> {
    let mut pairs: Vec<(&str, String)> = [
        nonzero("start", req.start),
        nonzero("end", req.end),
        nonzero("limit", req.max_tag_values),
    ]
    .into_iter()
    .flatten()
    .collect();
    pairs.push(("q", req.query.clone()));
    search_params::tag_values_request(req.tag_name.clone(), &params(pairs), api)
}

/// A metrics request from nanosecond times: `end` 0 is now, `start` 0 an hour before `end`.
fn metrics_request(
    query: &str,
    start: u64,
    end: u64,
    now_ns: u64,
) -> Result<MetricsRequest, GatewayError> {
    if query.trim().is_empty() {
        return Err(bad(
            "invalid request: missing required parameter query".to_owned()
        ));
    }
    let end = if end == 0 { now_ns } else { end };
    let start = if start == 0 {
        end.saturating_sub(DEFAULT_LOOKBACK.as_nanos() as u64)
    } else {
        start
    };
    if end <= start {
        return Err(bad(format!(
            "invalid time range: end ({end}) must be after start ({start})"
        )));
    }
    Ok(MetricsRequest {
        query: query.to_owned(),
        start,
        end,
        step: 0,
        instant: false,
        exemplars: 0,
        max_series: 0,
    })
}

/// `MetricsQueryRange`: times and step in nanoseconds; `exemplars` lowered to the maximum, and
/// 0 (proto3 cannot tell it from unset) means the HTTP default, so both transports answer alike.
pub(crate) fn range_request(
    req: &tempopb::QueryRangeRequest,
    now_ns: u64,
) -> Result<MetricsRequest, GatewayError> {
    let mut request = metrics_request(&req.query, req.start, req.end, now_ns)?;
    request.step = req.step;
    request.exemplars = match req.exemplars {
        0 => DEFAULT_EXEMPLARS,
        n => n.min(MAX_EXEMPLARS),
    };
    request.max_series = req.max_series;
    Ok(request)
}

/// `MetricsQueryInstant`: times in nanoseconds.
pub(crate) fn instant_request(
    req: &tempopb::QueryInstantRequest,
    now_ns: u64,
) -> Result<MetricsRequest, GatewayError> {
    let mut request = metrics_request(&req.query, req.start, req.end, now_ns)?;
    request.instant = true;
    Ok(request)
}

pub(crate) fn search_metrics(m: &SearchMetrics) -> tempopb::SearchMetrics {
    tempopb::SearchMetrics {
        inspected_traces: m.inspected_traces,
        inspected_bytes: m.inspected_bytes,
        total_blocks: m.total_blocks,
        completed_jobs: m.completed_jobs,
        total_jobs: m.total_jobs,
        total_block_bytes: m.total_block_bytes,
        inspected_spans: m.inspected_spans,
    }
}

pub(crate) fn metadata_metrics(m: &SearchMetrics) -> tempopb::MetadataMetrics {
    tempopb::MetadataMetrics {
        inspected_bytes: m.inspected_bytes,
        total_jobs: m.total_jobs,
        completed_jobs: m.completed_jobs,
        total_blocks: m.total_blocks,
        total_block_bytes: m.total_block_bytes,
    }
}

fn span(s: SpanSummary) -> tempopb::Span {
    tempopb::Span {
        span_id: span_id_hex(&s.span_id),
        name: s.name,
        start_time_unix_nano: s.start_time_unix_nano,
        duration_nanos: s.duration_nanos,
        attributes: s.attributes,
    }
}

fn span_set(s: SpanSet) -> tempopb::SpanSet {
    tempopb::SpanSet {
        spans: s.spans.into_iter().map(span).collect(),
        matched: s.matched,
        attributes: s.attributes,
    }
}

/// As the HTTP search answer: `spanSet` is the first of `spanSets`.
pub(crate) fn trace(t: TraceSummary) -> tempopb::TraceSearchMetadata {
    let span_sets: Vec<tempopb::SpanSet> = t.span_sets.into_iter().map(span_set).collect();
    tempopb::TraceSearchMetadata {
        trace_id: search_trace_id(&t.trace_id),
        root_service_name: t.root_service_name,
        root_trace_name: t.root_trace_name,
        start_time_unix_nano: t.start_time_unix_nano,
        duration_ms: duration_ms(t.duration_nanos),
        span_set: span_sets.first().cloned(),
        span_sets,
        service_stats: t
            .service_stats
            .into_iter()
            .map(|(service, s)| {
                (
                    service,
                    tempopb::ServiceStats {
                        span_count: s.span_count,
                        error_count: s.error_count,
                    },
                )
            })
            .collect(),
    }
}

/// Groups items in order so that each group's encoded size stays under [`PACKET_BYTES`] (an
/// item larger than that alone makes a group); no items make one empty group, so that every
/// answer is at least one message.
pub(crate) fn packets<T: Message>(items: Vec<T>) -> Vec<Vec<T>> {
    let mut groups: Vec<Vec<T>> = vec![Vec::new()];
    let mut size = 0;
    for item in items {
        // The field's tag and length prefix.
        let len = item.encoded_len() + 6;
        let current = groups.last_mut().expect("never empty");
        if !current.is_empty() && size + len > PACKET_BYTES {
            groups.push(Vec::new());
            size = 0;
        }
        size += len;
        groups.last_mut().expect("never empty").push(item);
    }
    groups
}

/// The search messages for a list of traces: one per packet, each with the metrics.
pub(crate) fn search_messages(
    traces: Vec<TraceSummary>,
    metrics: &SearchMetrics,
) -> Vec<tempopb::SearchResponse> {
    let metrics = search_metrics(metrics);
    packets(traces.into_iter().map(trace).collect())
        .into_iter()
        .map(|traces| tempopb::SearchResponse {
            traces,
            metrics: Some(metrics),
        })
        .collect()
}

fn time_series(s: MetricSeries) -> tempopb::TimeSeries {
    tempopb::TimeSeries {
        labels: s.labels,
        samples: s
            .samples
            .into_iter()
            .map(|s| tempopb::Sample {
                timestamp_ms: s.timestamp_ms,
                value: s.value,
            })
            .collect(),
        prom_labels: String::new(),
        exemplars: s
            .exemplars
            .into_iter()
            .map(|e| tempopb::Exemplar {
                labels: e.labels,
                value: e.value,
                timestamp_ms: e.timestamp_ms,
            })
            .collect(),
    }
}

fn status(partial: bool) -> i32 {
    if partial {
        tempopb::PartialStatus::Partial as i32
    } else {
        tempopb::PartialStatus::Complete as i32
    }
}

/// The final range messages: the series in packets, each with the metrics; the last one
/// carries the partial status and its message.
pub(crate) fn range_messages(answer: MetricsResponse) -> Vec<tempopb::QueryRangeResponse> {
    let metrics = search_metrics(&answer.metrics);
    let groups = packets(answer.series.into_iter().map(time_series).collect());
    let last = groups.len() - 1;
    groups
        .into_iter()
        .enumerate()
        .map(|(i, series)| tempopb::QueryRangeResponse {
            series,
            metrics: Some(metrics),
            status: if i == last { status(answer.partial) } else { 0 },
            message: if i == last {
                answer.message.clone()
            } else {
                String::new()
            },
        })
        .collect()
}

/// The instant messages: each series' last sample as its value (a series without one is left
/// out, as in the JSON answer), in packets, the last with the status.
pub(crate) fn instant_messages(answer: MetricsResponse) -> Vec<tempopb::QueryInstantResponse> {
    let metrics = search_metrics(&answer.metrics);
    let series: Vec<tempopb::InstantSeries> = answer
        .series
        .into_iter()
        .filter_map(|s| {
            instant_value(&s).map(|value| tempopb::InstantSeries {
                labels: s.labels,
                value,
                prom_labels: String::new(),
            })
        })
        .collect();
    let groups = packets(series);
    let last = groups.len() - 1;
    groups
        .into_iter()
        .enumerate()
        .map(|(i, series)| tempopb::QueryInstantResponse {
            series,
            metrics: Some(metrics),
            status: if i == last { status(answer.partial) } else { 0 },
            message: if i == last {
                answer.message.clone()
            } else {
                String::new()
            },
        })
        .collect()
}

/// A progress message of a metrics query: no series, the metrics so far.
pub(crate) fn range_progress(metrics: &SearchMetrics) -> tempopb::QueryRangeResponse {
    tempopb::QueryRangeResponse {
        series: Vec::new(),
        metrics: Some(search_metrics(metrics)),
        status: 0,
        message: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_model::TimeRange;

    fn bounds() -> SearchBounds {
        SearchBounds {
            default_limit: 20,
            max_limit: 100,
            default_spss: 3,
            max_spss: 50,
        }
    }

    #[test]
    fn search_requests_follow_the_http_defaults_and_checks() {
        let r = search_request(&tempopb::SearchRequest::default(), &bounds()).unwrap();
        assert_eq!(r.query, SearchQuery::TraceQl(String::new()));
        assert_eq!((r.limit, r.spans_per_spanset, r.range), (20, 3, None));
        let req = tempopb::SearchRequest {
            query: "{ .a = 1 }".into(),
            limit: 7,
            spans_per_span_set: 5,
            start: 100,
            end: 200,
            min_duration_ms: 10,
            max_duration_ms: 2000,
            ..Default::default()
        };
        let r = search_request(&req, &bounds()).unwrap();
        assert_eq!(r.query, SearchQuery::TraceQl("{ .a = 1 }".into()));
        assert_eq!((r.limit, r.spans_per_spanset), (7, 5));
        assert_eq!(r.range, Some(TimeRange::from_unix_seconds(100, 200)));
        assert_eq!(r.min_duration, Some(Duration::from_millis(10)));
        assert_eq!(r.max_duration, Some(Duration::from_secs(2)));

        let tags = tempopb::SearchRequest {
            tags: [("service.name".to_owned(), "api".to_owned())].into(),
            ..Default::default()
        };
        let r = search_request(&tags, &bounds()).unwrap();
        assert_eq!(
            r.query,
            SearchQuery::Tags(vec![("service.name".into(), "api".into())])
        );

        for (bad_req, needle) in [
            (
                tempopb::SearchRequest {
                    limit: 101,
                    ..Default::default()
                },
                "invalid limit",
            ),
            (
                tempopb::SearchRequest {
                    spans_per_span_set: 51,
                    ..Default::default()
                },
                "invalid spss",
            ),
            (
                tempopb::SearchRequest {
                    start: 200,
                    end: 100,
                    ..Default::default()
                },
                "must be after",
            ),
            (
                tempopb::SearchRequest {
                    min_duration_ms: 20,
                    max_duration_ms: 10,
                    ..Default::default()
                },
                "maxDuration",
            ),
        ] {
            let err = search_request(&bad_req, &bounds()).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn metrics_requests() {
        let now = 1_700_000_000_000_000_000;
        let r = range_request(
            &tempopb::QueryRangeRequest {
                query: "{} | rate()".into(),
                start: 10,
                end: 20,
                step: 5,
                exemplars: 5000,
                max_series: 3,
                ..Default::default()
            },
            now,
        )
        .unwrap();
        assert_eq!((r.start, r.end, r.step), (10, 20, 5));
        assert_eq!((r.exemplars, r.max_series, r.instant), (1000, 3, false));
        let r = instant_request(
            &tempopb::QueryInstantRequest {
                query: "x".into(),
                ..Default::default()
            },
            now,
        )
        .unwrap();
        assert_eq!((r.start, r.end), (now - 3_600_000_000_000, now));
        assert!(r.instant);
        assert!(instant_request(&tempopb::QueryInstantRequest::default(), now).is_err());
        let backwards = tempopb::QueryInstantRequest {
            query: "x".into(),
            start: 20,
            end: 10,
        };
        assert!(instant_request(&backwards, now).is_err());
    }

    #[test]
    fn packets_stay_under_the_limit_and_keep_order() {
        let item = |n: usize| tempopb::SearchTagsV2Scope {
            name: n.to_string(),
            tags: vec!["x".repeat(100_000)],
        };
        let groups = packets((0..25).map(item).collect());
        assert!(groups.len() >= 3, "{}", groups.len());
        let names: Vec<String> = groups.iter().flatten().map(|s| s.name.clone()).collect();
        assert_eq!(names, (0..25).map(|n| n.to_string()).collect::<Vec<_>>());
        for g in &groups {
            let bytes: usize = g.iter().map(|s| s.encoded_len() + 6).sum();
            assert!(bytes <= PACKET_BYTES && !g.is_empty());
        }
        assert_eq!(packets::<tempopb::SearchTagsV2Scope>(vec![]).len(), 1);
    }

    #[test]
    fn a_big_metrics_answer_is_split_with_the_status_on_the_last_message() {
        let series = |n: i64| MetricSeries {
            labels: vec![],
            samples: (0..5000)
                .map(|i| sextant_model::Sample {
                    timestamp_ms: n * 1_000_000 + i,
                    value: 1.5,
                })
                .collect(),
            exemplars: vec![],
        };
        let answer = MetricsResponse {
            series: (0..30).map(series).collect(),
            metrics: SearchMetrics {
                total_jobs: 1,
                completed_jobs: 1,
                ..Default::default()
            },
            partial: true,
            message: "cut".into(),
        };
        let messages = range_messages(answer);
        assert!(messages.len() >= 3, "{}", messages.len());
        assert_eq!(messages.iter().map(|m| m.series.len()).sum::<usize>(), 30);
        let (last, rest) = messages.split_last().unwrap();
        assert_eq!(
            (last.status, last.message.as_str()),
            (tempopb::PartialStatus::Partial as i32, "cut")
        );
        for m in rest {
            assert_eq!((m.status, m.message.as_str()), (0, ""));
        }
        for m in &messages {
            assert!(m.metrics.is_some());
            assert!(m.encoded_len() <= PACKET_BYTES + 1024);
        }
        let empty = range_messages(MetricsResponse::default());
        assert_eq!(empty.len(), 1);
        assert!(empty[0].metrics.is_some());
    }
}
