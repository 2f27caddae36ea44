//! The pure helpers of search: ordering, merging, trimming, range and byte limits.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use sextant_model::{ErrorKind, Limits, ServiceStats, SpanSet, SpanSummary, TimeRange, TraceId};

use super::*;

fn id(n: u8) -> TraceId {
    TraceId([n; 16])
}

fn summary(n: u8, start: u64) -> TraceSummary {
    TraceSummary {
        trace_id: id(n),
        start_time_unix_nano: start,
        ..TraceSummary::default()
    }
}

fn span_summary(span: u8) -> SpanSummary {
    SpanSummary {
        span_id: vec![span; 8],
        ..SpanSummary::default()
    }
}

/// A found fragment of trace `n`: spans `spans` (all matched, one span set), each of `service`,
/// the ones in `errors` failed; it runs from `start` to `end`.
fn fragment(n: u8, start: u64, end: u64, service: &str, spans: &[u8], errors: &[u8]) -> Found {
    let trace = TraceSummary {
        duration_nanos: end - start,
        ..summary(n, start)
    };
    let mut found = Found::new(trace, end, false);
    for &s in spans {
        found.count_span(service, vec![s; 8], errors.contains(&s));
    }
    found.add_span_set(
        SpanSet {
            spans: spans.iter().map(|&s| span_summary(s)).collect(),
            matched: spans.len() as u32,
            attributes: Vec::new(),
        },
        spans.iter().map(|&s| vec![s; 8]).collect(),
    );
    found
}

fn stats(pairs: &[(&str, u32, u32)]) -> BTreeMap<String, ServiceStats> {
    pairs
        .iter()
        .map(|(name, span_count, error_count)| {
            (
                (*name).to_string(),
                ServiceStats {
                    span_count: *span_count,
                    error_count: *error_count,
                },
            )
        })
        .collect()
}

fn found_map(traces: Vec<Found>) -> HashMap<TraceId, Found> {
    let mut found = HashMap::new();
    merge_found(&mut found, traces, 100);
    found
}

#[test]
fn traces_sort_newest_first_then_by_trace_id() {
    let mut traces = vec![
        summary(3, 10),
        summary(1, 20),
        summary(2, 10),
        summary(9, 30),
        summary(0, 10),
    ];
    sort_traces(&mut traces);
    let order: Vec<(u8, u64)> = traces
        .iter()
        .map(|t| (t.trace_id.0[0], t.start_time_unix_nano))
        .collect();
    assert_eq!(order, vec![(9, 30), (1, 20), (0, 10), (2, 10), (3, 10)]);
}

#[test]
fn merging_a_new_trace_adds_it_whole() {
    let found = found_map(vec![
        fragment(1, 100, 150, "a", &[1, 2], &[2]),
        fragment(2, 50, 60, "b", &[3], &[]),
    ]);
    assert_eq!(found.len(), 2);
    let one = found[&id(1)].summary();
    assert_eq!(one.start_time_unix_nano, 100);
    assert_eq!(one.duration_nanos, 50);
    assert_eq!(one.service_stats, stats(&[("a", 2, 1)]));
}

#[test]
fn merging_fragments_of_one_trace_widens_it_and_counts_each_span_once() {
    let mut found = found_map(vec![fragment(1, 100, 150, "a", &[1, 2], &[2])]);
    // A later fragment (memory after a block), with a copy of span 2 and a new span 3.
    let mut later = fragment(1, 120, 300, "b", &[3], &[3]);
    later.count_span("a", vec![2; 8], true);
    later.has_root = true;
    later.summary.root_service_name = "a".into();
    later.summary.root_trace_name = "root".into();
    merge_found(&mut found, vec![later], 100);
    let one = found[&id(1)].summary();
    assert_eq!(one.start_time_unix_nano, 100);
    assert_eq!(one.duration_nanos, 200);
    assert_eq!(one.root_service_name, "a");
    assert_eq!(one.root_trace_name, "root");
    assert_eq!(one.service_stats, stats(&[("a", 2, 1), ("b", 1, 1)]));
    // The two fragments' span sets (no `by`, so the same group) are one, matched spans once.
    assert_eq!(one.span_sets.len(), 1);
    assert_eq!(one.span_sets[0].matched, 3);
    let listed: Vec<u8> = one.span_sets[0]
        .spans
        .iter()
        .map(|s| s.span_id[0])
        .collect();
    assert_eq!(listed, vec![1, 2, 3]);

    // The same fragment again (a client's retry) changes nothing.
    let before = one.clone();
    merge_found(
        &mut found,
        vec![fragment(1, 100, 150, "a", &[1, 2], &[2])],
        100,
    );
    assert_eq!(found[&id(1)].summary(), before);
}

#[test]
fn a_root_found_first_is_kept() {
    let mut first = fragment(1, 100, 150, "a", &[1], &[]);
    first.has_root = true;
    first.summary.root_service_name = "a".into();
    let mut found = found_map(vec![first]);
    let mut other = fragment(1, 100, 150, "b", &[2], &[]);
    other.summary.root_service_name = NO_ROOT.into();
    merge_found(&mut found, vec![other], 100);
    assert_eq!(found[&id(1)].summary().root_service_name, "a");
}

#[test]
fn span_sets_of_different_groups_stay_apart_and_listed_spans_are_capped() {
    let group = |v: &str| vec![crate::testdata::kv("by", crate::testdata::s(v))];
    let mut a = Found::new(summary(1, 1), 2, true);
    a.add_span_set(
        SpanSet {
            spans: vec![span_summary(1), span_summary(2)],
            matched: 2,
            attributes: group("x"),
        },
        [vec![1; 8], vec![2; 8]].into(),
    );
    let mut b = Found::new(summary(1, 1), 2, true);
    b.add_span_set(
        SpanSet {
            spans: vec![span_summary(3), span_summary(4)],
            matched: 2,
            attributes: group("x"),
        },
        [vec![3; 8], vec![4; 8]].into(),
    );
    b.add_span_set(
        SpanSet {
            spans: vec![span_summary(5)],
            matched: 1,
            attributes: group("y"),
        },
        [vec![5; 8]].into(),
    );
    let mut found = HashMap::new();
    merge_found(&mut found, vec![a, b], 3);
    let sets = found[&id(1)].summary().span_sets;
    assert_eq!(sets.len(), 2);
    assert_eq!(sets[0].attributes, group("x"));
    assert_eq!(sets[0].matched, 4);
    assert_eq!(sets[0].spans.len(), 3);
    assert_eq!(sets[1].attributes, group("y"));
    assert_eq!(sets[1].matched, 1);
}

#[test]
fn trimming_keeps_the_limit_newest_once_far_over() {
    let limit = 3;
    // At or under 2 × limit + 1000 nothing is dropped.
    let mut found = found_map(
        (0..=255u8)
            .map(|n| fragment(n, u64::from(n), 1000, "s", &[1], &[]))
            .collect(),
    );
    trim_found(&mut found, limit);
    assert_eq!(found.len(), 256);

    let mut found: HashMap<TraceId, Found> = HashMap::new();
    for n in 0..1100u64 {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&n.to_be_bytes());
        let mut f = Found::new(
            TraceSummary {
                trace_id: TraceId(bytes),
                // Three traces tie at the newest start: the smaller IDs win.
                start_time_unix_nano: n.min(1097),
                ..TraceSummary::default()
            },
            2000,
            true,
        );
        f.count_span("s", vec![1; 8], false);
        found.insert(TraceId(bytes), f);
    }
    trim_found(&mut found, limit);
    let mut kept: Vec<u64> = found
        .keys()
        .map(|id| u64::from_be_bytes(id.0[..8].try_into().unwrap()))
        .collect();
    kept.sort_unstable();
    assert_eq!(kept, vec![1097, 1098, 1099]);
}

#[test]
fn nth_start_is_the_nth_newest() {
    let found = found_map(vec![
        fragment(1, 10, 11, "s", &[1], &[]),
        fragment(2, 40, 41, "s", &[1], &[]),
        fragment(3, 30, 31, "s", &[1], &[]),
        fragment(4, 40, 41, "s", &[1], &[]),
    ]);
    assert_eq!(nth_start(&found, 1), 40);
    assert_eq!(nth_start(&found, 2), 40);
    assert_eq!(nth_start(&found, 3), 30);
    assert_eq!(nth_start(&found, 4), 10);
    assert_eq!(nth_start(&found, 5), 0);
}

#[test]
fn ranges_longer_than_the_tenant_may_search_are_refused() {
    let limits = Limits {
        max_search_duration: Duration::from_secs(3600),
        ..Limits::default()
    };
    let hour = 3_600_000_000_000u64;
    assert!(check_range(None, &limits).is_ok());
    assert!(check_range(Some(TimeRange::new(5, 5 + hour)), &limits).is_ok());
    let err = check_range(Some(TimeRange::new(5, 6 + hour)), &limits).unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadRequest);
    assert_eq!(
        err.message,
        "range specified by start and end (1h 1ns) exceeds the maximum allowed search duration (1h)"
    );
}

#[test]
fn the_budget_refuses_once_more_than_the_maximum_is_spent() {
    let budget = Budget::new(100);
    assert!(budget.spend(60, "search").is_ok());
    assert!(budget.spend(40, "search").is_ok());
    let err = budget.spend(1, "search").unwrap_err();
    assert_eq!(err.kind, ErrorKind::QueryLimit);
    assert_eq!(
        err.message,
        "search query stopped: it examined more than 100 bytes (the tenant's max_search_bytes); narrow the time range or the query"
    );
    // Zero means unlimited.
    let unlimited = Budget::new(0);
    assert!(unlimited.spend(u64::MAX / 2, "tag").is_ok());
    assert!(unlimited.spend(u64::MAX / 2, "tag").is_ok());
}

#[test]
fn v1_tag_names_read_tempos_fields() {
    use super::tags::v1_tag_fields;
    let fields = |name: &str| v1_tag_fields(name).expect("a field");
    let one = |id: &str| vec![sextant_traceql::parse_identifier(id).expect("identifier")];
    assert_eq!(fields("name"), one("name"));
    assert_eq!(fields("root.name"), one("trace:rootName"));
    assert_eq!(fields("root.service.name"), one("trace:rootService"));
    let both = |id: &str| {
        let mut f = one(&format!("span.{id}"));
        f.extend(one(&format!("resource.{id}")));
        f
    };
    assert_eq!(fields("service.name"), both("service.name"));
    assert_eq!(fields("http.status_code"), both("http.status_code"));
    assert_eq!(fields("a b"), both("\"a b\""));
}

#[test]
fn tag_values_of_a_high_cardinality_attribute_stop_at_the_byte_cap() {
    use super::tags::{Collect, CollectState, Collected, MAX_TAG_VALUES_BYTES};
    use crate::testdata::{kv, s, span, wrap};
    let field = sextant_traceql::parse_identifier("span.request_id").unwrap();
    let mut state = CollectState::new(Collect::Values {
        stored: None,
        fields: vec![field],
        as_strings: false,
        limit: 0,
    });
    let mut metrics = SearchMetrics::default();
    // 100 traces of 200 spans, each span with its own 100-byte value: 2 MB of distinct values.
    let mut visited = 0;
    for t in 0..100u8 {
        let spans = (0..200u8)
            .map(|n| {
                let mut sp = span(t, n, 1_000 + u64::from(n));
                sp.attributes = vec![kv("request_id", s(&format!("{t:03}-{n:03}-{:092}", 0)))];
                sp
            })
            .collect();
        state.visit(&wrap(spans), None, &mut metrics).unwrap();
        visited += 1;
        if state.full() {
            break;
        }
    }
    assert!(state.full());
    assert!(visited < 100, "collection went on past the cap");
    let Collected::Values(values) = state.finish() else {
        panic!("values expected");
    };
    let bytes: usize = values.iter().map(|v| v.value.len()).sum();
    assert!(
        (MAX_TAG_VALUES_BYTES..MAX_TAG_VALUES_BYTES + 100).contains(&bytes),
        "{bytes} bytes of values"
    );
}
