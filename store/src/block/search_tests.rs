//! `search_block` against a naive filter over the traces written, and its read budget.

use std::collections::BTreeSet;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::memory::InMemory;
use object_store::path::Path;
use sextant_model::otlp::{KeyValue, Span, SpanKind, StatusCode, TracesData, any_value::Value};
use sextant_model::{
    AttributeRef, BlockMeta, Condition, ErrorKind, FetchOp, FetchRequest, Intrinsic, Static,
    TimeRange, TraceId,
};

use super::testgen::realistic;
use super::tests::{canonical, tenant};
use super::*;
use crate::object::{MeteredStore, ObjectStoreMetrics};

pub(super) const ALL: TimeRange = TimeRange {
    start: 0,
    end: u64::MAX,
};

/// A span as the naive filter sees it: the span, its resource's attributes, its trace's range.
pub(super) struct View<'a> {
    pub(super) span: &'a Span,
    resource: &'a [KeyValue],
    trace: TimeRange,
}

fn spans(data: &TracesData) -> impl Iterator<Item = (&Span, &[KeyValue])> {
    data.resource_spans.iter().flat_map(|rs| {
        let attrs = rs
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or_default();
        rs.scope_spans
            .iter()
            .flat_map(move |ss| ss.spans.iter().map(move |s| (s, attrs)))
    })
}

fn trace_range(data: &TracesData) -> TimeRange {
    let start = spans(data)
        .map(|(s, _)| s.start_time_unix_nano)
        .min()
        .unwrap();
    let end = spans(data)
        .map(|(s, _)| s.end_time_unix_nano)
        .max()
        .unwrap();
    TimeRange::new(start, end)
}

/// The (trace, span ID) of every span `keep` accepts.
pub(super) fn naive(
    traces: &[(TraceId, TracesData)],
    keep: &dyn Fn(&View<'_>) -> bool,
) -> BTreeSet<(TraceId, Vec<u8>)> {
    let mut out = BTreeSet::new();
    for (id, data) in traces {
        let trace = trace_range(data);
        for (span, resource) in spans(data) {
            if keep(&View {
                span,
                resource,
                trace,
            }) {
                out.insert((*id, span.span_id.clone()));
            }
        }
    }
    out
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn str_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attrs, key) {
        Some(Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

pub(super) fn int_attr(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attrs, key) {
        Some(Value::IntValue(i)) => Some(*i),
        _ => None,
    }
}

fn duration(s: &Span) -> u64 {
    s.end_time_unix_nano - s.start_time_unix_nano
}

fn status(s: &Span) -> i32 {
    s.status.as_ref().map(|s| s.code).unwrap_or(0)
}

pub(super) struct Block {
    pub(super) store: Arc<InMemory>,
    pub(super) prefix: Path,
    pub(super) info: BlockInfo,
    pub(super) meta: BlockMeta,
    pub(super) traces: Vec<(TraceId, TracesData)>,
}

async fn block(seed: u64, spans: usize, row_group_spans: usize) -> Block {
    block_of(realistic(seed, spans), row_group_spans).await
}

/// A block of `traces` in memory.
pub(super) async fn block_of(traces: Vec<(TraceId, TracesData)>, row_group_spans: usize) -> Block {
    let store = Arc::new(InMemory::new());
    let prefix = Path::from("acme/blocks/s1");
    let options = BlockOptions {
        row_group_spans,
        ..BlockOptions::default()
    };
    let info = write_block(
        store.as_ref(),
        &prefix,
        "s1",
        &tenant(),
        traces.clone(),
        &options,
    )
    .await
    .unwrap();
    let meta = info.to_block_meta().unwrap();
    Block {
        store,
        prefix,
        info,
        meta,
        traces,
    }
}

pub(super) fn metered(block: &Block) -> (MeteredStore, ObjectStoreMetrics) {
    let metrics = ObjectStoreMetrics::unregistered();
    let inner: Arc<dyn ObjectStore> = block.store.clone();
    (MeteredStore::new(inner, metrics.clone()), metrics)
}

pub(super) fn read_bytes(metrics: &ObjectStoreMetrics) -> u64 {
    metrics.bytes("get") + metrics.bytes("get_ranges")
}

fn read_requests(metrics: &ObjectStoreMetrics) -> u64 {
    ["get", "get_ranges", "head"]
        .iter()
        .map(|op| metrics.requests(op, "ok") + metrics.requests(op, "not_found"))
        .sum()
}

pub(super) fn request(all: bool, conditions: Vec<Condition>) -> FetchRequest {
    FetchRequest {
        range: ALL,
        conditions,
        all_conditions: all,
    }
}

pub(super) type Keep = Box<dyn Fn(&View<'_>) -> bool>;

/// Checks one request against the naive filter: the spans passing are exactly the naive ones,
/// and the traces returned are exactly theirs, whole.
async fn check(block: &Block, name: &str, request: &FetchRequest, keep: Keep) -> BlockSearchResult {
    let caches = BlockCaches::default();
    let found = search_block(
        block.store.as_ref(),
        &block.prefix,
        &block.meta,
        request,
        &caches,
    )
    .await
    .unwrap();
    let expected = naive(&block.traces, &keep);
    let got: BTreeSet<(TraceId, Vec<u8>)> = found.matched_spans.iter().cloned().collect();
    assert_eq!(
        got.len(),
        found.matched_spans.len(),
        "{name}: duplicate spans"
    );
    assert_eq!(
        got, expected,
        "{name}: spans passing differ from the naive filter"
    );
    let expected_traces: BTreeSet<TraceId> = expected.iter().map(|(t, _)| *t).collect();
    let got_traces: Vec<TraceId> = found.traces.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        got_traces,
        expected_traces.iter().copied().collect::<Vec<_>>(),
        "{name}: traces"
    );
    for (id, data) in &found.traces {
        let (_, original) = block.traces.iter().find(|(t, _)| t == id).unwrap();
        assert_eq!(
            canonical(data),
            canonical(original),
            "{name}: trace {id:?} not whole"
        );
    }
    found
}

#[tokio::test]
async fn conditions_pass_exactly_the_naive_spans() {
    let b = block(5, 4_000, 400).await;
    let some = b.traces[17].clone();
    let some_id = some.0;
    let some_hex = some_id.to_hex();
    let base = trace_range(&b.traces[0].1).start;
    let some_span = spans(&some.1).nth(1).unwrap().0.clone();
    let user_id = int_attr(&some_span.attributes, "app.user_id").unwrap();
    let eq = |a: AttributeRef, v: Static| Condition::eq(a, v);
    let cond = Condition::new;
    let span = AttributeRef::span;
    let intr = AttributeRef::Intrinsic;
    let cases: Vec<(&str, FetchRequest, Keep)> = vec![
        (
            "name",
            request(
                true,
                vec![eq(
                    intr(Intrinsic::Name),
                    Static::Str("GET /api/cart".into()),
                )],
            ),
            Box::new(|v| v.span.name == "GET /api/cart"),
        ),
        (
            "status error",
            request(
                true,
                vec![eq(
                    intr(Intrinsic::Status),
                    Static::Status(StatusCode::Error),
                )],
            ),
            Box::new(|v| status(v.span) == 2),
        ),
        (
            "status unset",
            request(
                true,
                vec![eq(
                    intr(Intrinsic::Status),
                    Static::Status(StatusCode::Unset),
                )],
            ),
            Box::new(|v| status(v.span) == 0),
        ),
        (
            "duration > 30ms",
            request(
                true,
                vec![cond(
                    intr(Intrinsic::Duration),
                    FetchOp::Gt,
                    vec![Static::Duration(30_000_000)],
                )],
            ),
            Box::new(|v| duration(v.span) > 30_000_000),
        ),
        (
            "duration <= 1ms as float",
            request(
                true,
                vec![cond(
                    intr(Intrinsic::Duration),
                    FetchOp::Le,
                    vec![Static::Float(1e6)],
                )],
            ),
            Box::new(|v| duration(v.span) <= 1_000_000),
        ),
        (
            "http status >= 500",
            request(
                true,
                vec![cond(
                    span("http.response.status_code"),
                    FetchOp::Ge,
                    vec![Static::Int(500)],
                )],
            ),
            Box::new(|v| {
                int_attr(&v.span.attributes, "http.response.status_code").is_some_and(|c| c >= 500)
            }),
        ),
        (
            "user id as float",
            request(
                true,
                vec![eq(span("app.user_id"), Static::Float(user_id as f64))],
            ),
            Box::new(move |v| int_attr(&v.span.attributes, "app.user_id") == Some(user_id)),
        ),
        (
            "resource service",
            request(
                true,
                vec![eq(
                    AttributeRef::resource("service.name"),
                    Static::Str("payment".into()),
                )],
            ),
            Box::new(|v| str_attr(v.resource, "service.name") == Some("payment")),
        ),
        (
            "service name intrinsic in",
            request(
                true,
                vec![cond(
                    intr(Intrinsic::ServiceName),
                    FetchOp::Eq,
                    vec![Static::Str("cart".into()), Static::Str("shipping".into())],
                )],
            ),
            Box::new(|v| {
                matches!(
                    str_attr(v.resource, "service.name"),
                    Some("cart" | "shipping")
                )
            }),
        ),
        (
            "any scope",
            request(
                true,
                vec![eq(
                    AttributeRef::any("service.namespace"),
                    Static::Str("shop".into()),
                )],
            ),
            Box::new(|v| str_attr(v.resource, "service.namespace") == Some("shop")),
        ),
        (
            "regex",
            request(
                true,
                vec![cond(
                    span("http.route"),
                    FetchOp::Regex,
                    vec![Static::Str("/api/cart.*".into())],
                )],
            ),
            Box::new(|v| {
                str_attr(&v.span.attributes, "http.route")
                    .is_some_and(|r| r.starts_with("/api/cart"))
            }),
        ),
        (
            "not regex (anchored)",
            request(
                true,
                vec![cond(
                    span("http.route"),
                    FetchOp::NotRegex,
                    vec![Static::Str("api".into())],
                )],
            ),
            Box::new(|v| str_attr(&v.span.attributes, "http.route").is_some()),
        ),
        (
            "kind and name ne",
            request(
                true,
                vec![
                    eq(intr(Intrinsic::Kind), Static::Kind(SpanKind::Client)),
                    cond(
                        intr(Intrinsic::Name),
                        FetchOp::Ne,
                        vec![Static::Str("SELECT shop.cart_items".into())],
                    ),
                ],
            ),
            Box::new(|v| v.span.kind == 3 && v.span.name != "SELECT shop.cart_items"),
        ),
        (
            "or",
            request(
                false,
                vec![
                    eq(intr(Intrinsic::Status), Static::Status(StatusCode::Error)),
                    cond(
                        intr(Intrinsic::Duration),
                        FetchOp::Lt,
                        vec![Static::Int(100_000)],
                    ),
                ],
            ),
            Box::new(|v| status(v.span) == 2 || duration(v.span) < 100_000),
        ),
        (
            "exists and nil",
            request(
                true,
                vec![
                    Condition::exists(span("db.system")),
                    cond(span("db.statement"), FetchOp::Ne, vec![Static::Nil]),
                    eq(span("no.such.key"), Static::Nil),
                ],
            ),
            Box::new(|v| attr(&v.span.attributes, "db.system").is_some()),
        ),
        (
            "type mismatch is false",
            request(
                true,
                vec![eq(
                    span("http.response.status_code"),
                    Static::Str("200".into()),
                )],
            ),
            Box::new(|_| false),
        ),
        (
            "absent key",
            request(true, vec![Condition::exists(span("zzz.absent"))]),
            Box::new(|_| false),
        ),
        (
            "trace id",
            request(
                true,
                vec![eq(intr(Intrinsic::TraceId), Static::Str(some_hex.clone()))],
            ),
            Box::new(move |v| v.span.trace_id == some_id.0.to_vec()),
        ),
        (
            "root name and trace duration",
            request(
                true,
                vec![
                    eq(
                        intr(Intrinsic::RootServiceName),
                        Static::Str("frontend".into()),
                    ),
                    cond(
                        intr(Intrinsic::TraceDuration),
                        FetchOp::Gt,
                        vec![Static::Duration(50_000_000)],
                    ),
                ],
            ),
            Box::new(|v| v.trace.end - v.trace.start > 50_000_000),
        ),
        (
            "time range",
            FetchRequest::all(TimeRange::new(base, base + 10_000_000_000)),
            Box::new(move |v| v.trace.start <= base + 10_000_000_000 && v.trace.end >= base),
        ),
    ];
    for (name, request, keep) in cases {
        let found = check(&b, name, &request, keep).await;
        eprintln!(
            "{name}: spans {} traces {} read {} skipped {} fetched {} of {} bytes",
            found.matched_spans.len(),
            found.traces.len(),
            found.row_groups_read,
            found.row_groups_skipped,
            found.fetched_bytes,
            b.info.data_bytes,
        );
        if name == "trace id" {
            assert_eq!(
                found.row_groups_read, 1,
                "trace id: statistics pick one row group"
            );
        }
        if name == "absent key" {
            assert_eq!(
                found.row_groups_read, 0,
                "{name}: statistics rule every row group out"
            );
        }
    }
}

#[tokio::test]
async fn a_selective_search_reads_a_small_part_of_the_block() {
    let b = block(9, 20_000, 1_000).await;
    assert!(b.info.row_groups.len() >= 15, "{}", b.info.row_groups.len());
    let longest = b
        .traces
        .iter()
        .flat_map(|(_, d)| spans(d).map(|(s, _)| duration(s)))
        .max()
        .unwrap();
    let cases: Vec<(&str, FetchRequest, Keep)> = vec![
        (
            "longest span",
            request(
                true,
                vec![Condition::new(
                    AttributeRef::Intrinsic(Intrinsic::Duration),
                    FetchOp::Ge,
                    vec![Static::Duration(longest)],
                )],
            ),
            Box::new(move |v| duration(v.span) >= longest),
        ),
        (
            "one trace by id",
            request(
                true,
                vec![Condition::eq(
                    AttributeRef::Intrinsic(Intrinsic::TraceId),
                    Static::Str(b.traces[1234].0.to_hex()),
                )],
            ),
            Box::new({
                let id = b.traces[1234].0;
                move |v| v.span.trace_id == id.0.to_vec()
            }),
        ),
    ];
    for (name, request, keep) in cases {
        // The naive comparison first, then the byte count on a fresh footer cache.
        let expected = check(&b, name, &request, keep).await;
        assert!(!expected.traces.is_empty(), "{name}: finds something");
        let (store, metrics) = metered(&b);
        let caches = BlockCaches::default();
        let found = search_block(&store, &b.prefix, &b.meta, &request, &caches)
            .await
            .unwrap();
        let read = read_bytes(&metrics);
        assert_eq!(
            read, found.fetched_bytes,
            "{name}: fetched bytes are counted"
        );
        let share = read as f64 / b.info.data_bytes as f64;
        eprintln!(
            "{name}: read {read} of {} bytes ({:.1} %), row groups read {} skipped {} fetched whole {}",
            b.info.data_bytes,
            share * 100.0,
            found.row_groups_read,
            found.row_groups_skipped,
            found.row_groups_fetched
        );
        assert!(
            share < 0.25,
            "{name}: read {:.1} % of the block",
            share * 100.0
        );
    }
}

#[tokio::test]
async fn projection_reads_only_the_condition_columns() {
    let b = block(11, 20_000, 1_000).await;
    // A name that no span has but within the statistics' bounds: pass one reads the name
    // column of every row group, pass two nothing.
    let request = request(
        true,
        vec![Condition::eq(
            AttributeRef::Intrinsic(Intrinsic::Name),
            Static::Str("GET /api/cart/x".into()),
        )],
    );
    let (store, metrics) = metered(&b);
    let caches = BlockCaches::default();
    let cold = search_block(&store, &b.prefix, &b.meta, &request, &caches)
        .await
        .unwrap();
    let cold_bytes = read_bytes(&metrics);
    // Footer cached, as a querier holds it.
    let found = search_block(&store, &b.prefix, &b.meta, &request, &caches)
        .await
        .unwrap();
    let warm_bytes = read_bytes(&metrics) - cold_bytes;
    assert!(found.traces.is_empty() && cold.traces.is_empty());
    assert_eq!(found.row_groups_skipped, 0);
    assert_eq!(found.fetched_bytes, warm_bytes);
    let share = warm_bytes as f64 / b.info.data_bytes as f64;
    eprintln!(
        "name scan: read {cold_bytes} bytes cold (footer included), {warm_bytes} warm, of {} ({:.1} % warm)",
        b.info.data_bytes,
        share * 100.0
    );
    assert!(share < 0.05, "read {:.1} % of the block", share * 100.0);
}

#[tokio::test]
async fn a_range_outside_the_block_reads_nothing() {
    let b = block(3, 2_000, 200).await;
    let (store, metrics) = metered(&b);
    let before = FetchRequest::all(TimeRange::new(0, b.meta.range.start - 1));
    let after = FetchRequest::all(TimeRange::new(b.meta.range.end + 1, u64::MAX));
    for request in [before, after] {
        assert!(!block_overlaps(&b.meta, &request));
        let found = search_block(
            &store,
            &b.prefix,
            &b.meta,
            &request,
            &BlockCaches::default(),
        )
        .await
        .unwrap();
        assert!(found.traces.is_empty());
        assert_eq!((found.fetched_bytes, found.inspected_bytes), (0, 0));
    }
    assert_eq!(read_requests(&metrics), 0);
    assert_eq!(read_bytes(&metrics), 0);
    let inside = FetchRequest::all(b.meta.range);
    assert!(block_overlaps(&b.meta, &inside));
    let found = search_block(&store, &b.prefix, &b.meta, &inside, &BlockCaches::default())
        .await
        .unwrap();
    assert_eq!(found.traces.len(), b.traces.len());
    // Every column of every row group decoded, uncompressed: more than the zstd bytes.
    assert!(
        found.inspected_bytes > b.info.data_bytes,
        "{}",
        found.inspected_bytes
    );
}

#[tokio::test]
async fn a_bad_regex_is_a_bad_request() {
    let b = block(3, 200, 100).await;
    let request = request(
        true,
        vec![Condition::new(
            AttributeRef::Intrinsic(Intrinsic::Name),
            FetchOp::Regex,
            vec![Static::Str("(".into())],
        )],
    );
    let err = search_block(
        b.store.as_ref(),
        &b.prefix,
        &b.meta,
        &request,
        &BlockCaches::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadRequest);
}

/// Arbitrary traces (wrapping durations, NaN, every value kind, duplicate keys): the spans
/// passing are still exactly the naive ones.
mod arbitrary {
    use proptest::prelude::*;

    use super::super::testgen::trace;
    use super::super::tests::runtime;
    use super::*;

    fn signed_duration(s: &Span) -> i64 {
        s.end_time_unix_nano.wrapping_sub(s.start_time_unix_nano) as i64
    }

    fn numeric_at_least(attrs: &[KeyValue], key: &str, min: f64) -> bool {
        attrs.iter().filter(|kv| kv.key == key).any(|kv| {
            match kv.value.as_ref().map(|v| v.value.as_ref()) {
                Some(Some(Value::IntValue(i))) => *i as f64 >= min,
                Some(Some(Value::DoubleValue(d))) => *d >= min,
                // Arrays, maps, bytes and empty values may match any comparison.
                Some(Some(Value::ArrayValue(_) | Value::KvlistValue(_) | Value::BytesValue(_)))
                | Some(None) => true,
                _ => false,
            }
        })
    }

    fn cases(base: u64) -> Vec<(FetchRequest, Keep)> {
        let intr = AttributeRef::Intrinsic;
        vec![
            (
                request(
                    true,
                    vec![Condition::new(
                        intr(Intrinsic::Duration),
                        FetchOp::Gt,
                        vec![Static::Int(1_000)],
                    )],
                ),
                Box::new(|v| signed_duration(v.span) > 1_000),
            ),
            (
                request(
                    true,
                    vec![Condition::new(
                        AttributeRef::span("a"),
                        FetchOp::Ge,
                        vec![Static::Int(0)],
                    )],
                ),
                Box::new(|v| numeric_at_least(&v.span.attributes, "a", 0.0)),
            ),
            (
                request(
                    false,
                    vec![
                        Condition::eq(intr(Intrinsic::Status), Static::Status(StatusCode::Ok)),
                        Condition::exists(AttributeRef::resource("b")),
                    ],
                ),
                Box::new(|v| {
                    status(v.span) == 1
                        || v.resource
                            .iter()
                            .any(|kv| kv.key == "b" && kv.value.is_some())
                }),
            ),
            (
                FetchRequest::all(TimeRange::new(base, base + 1_000)),
                Box::new(move |v| {
                    v.trace.start <= base + 1_000 && v.trace.end.max(v.trace.start) >= base
                }),
            ),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_traces_pass_exactly(
            traces in prop::collection::vec(trace(), 1..8),
            rg in 1usize..6,
        ) {
            runtime().block_on(async {
                let store = InMemory::new();
                let prefix = Path::from("acme/blocks/p1");
                let options = BlockOptions { row_group_spans: rg, ..BlockOptions::default() };
                let info = write_block(&store, &prefix, "p1", &tenant(), traces.clone(), &options)
                    .await
                    .unwrap();
                let meta = info.to_block_meta().unwrap();
                // Traces with the same ID merge in a block; the naive side merges them too.
                let mut merged: Vec<(TraceId, TracesData)> = Vec::new();
                for (id, data) in &traces {
                    match merged.iter_mut().find(|(m, _)| m == id) {
                        Some((_, d)) => d.resource_spans.extend(data.resource_spans.clone()),
                        None => merged.push((*id, data.clone())),
                    }
                }
                for (request, keep) in cases(1_700_000_000_000_000_000) {
                    let found = search_block(&store, &prefix, &meta, &request, &BlockCaches::default())
                        .await
                        .unwrap();
                    let expected = naive(&merged, &keep);
                    let got: BTreeSet<(TraceId, Vec<u8>)> =
                        found.matched_spans.iter().cloned().collect();
                    prop_assert_eq!(&got, &expected, "{:?}", request);
                    for (id, data) in &found.traces {
                        let (_, original) = merged.iter().find(|(t, _)| t == id).unwrap();
                        prop_assert_eq!(canonical(data), canonical(original));
                    }
                }
                Ok(())
            })?;
        }
    }
}

#[tokio::test]
async fn examined_otlp_bytes_count_the_spans_of_the_row_groups_read() {
    let b = block(21, 3_000, 500).await;
    let caches = BlockCaches::default();
    // Every span is examined when nothing can be skipped.
    let all = search_block(
        b.store.as_ref(),
        &b.prefix,
        &b.meta,
        &FetchRequest::all(ALL),
        &caches,
    )
    .await
    .unwrap();
    let expected: u64 = b
        .traces
        .iter()
        .flat_map(|(_, d)| spans(d).map(|(s, _)| s))
        .map(|s| {
            let len = prost::Message::encoded_len(s);
            (len + prost::length_delimiter_len(len) + 1) as u64
        })
        .sum();
    assert_eq!(all.examined_otlp_bytes, expected);
    let recorded: u64 = b.info.row_groups.iter().map(|g| g.otlp_bytes).sum();
    assert_eq!(recorded, expected, "meta.json records the same figure");
    // A condition no row group can hold: nothing examined.
    let none = search_block(
        b.store.as_ref(),
        &b.prefix,
        &b.meta,
        &request(
            true,
            vec![Condition::new(
                AttributeRef::Intrinsic(Intrinsic::Duration),
                FetchOp::Gt,
                vec![Static::Duration(u64::MAX / 2)],
            )],
        ),
        &caches,
    )
    .await
    .unwrap();
    assert_eq!(none.row_groups_read, 0);
    assert_eq!(none.examined_otlp_bytes, 0);
}

/// TraceQL matches `{ .x = "a" }` on an array holding "a": array (and map, bytes) values must
/// pass every comparison, and statistics of the scalar values in their row group must not
/// prune it.
#[tokio::test]
async fn array_attribute_values_pass_every_comparison_and_are_not_pruned() {
    use sextant_model::otlp::{
        AnyValue, ArrayValue, Resource, ResourceSpans, ScopeSpans, Span as OtlpSpan,
    };
    let value = |v: Value| Some(AnyValue { value: Some(v) });
    let string = |s: &str| value(Value::StringValue(s.to_owned()));
    let array = |s: &str| {
        value(Value::ArrayValue(ArrayValue {
            values: vec![AnyValue {
                value: Some(Value::StringValue(s.to_owned())),
            }],
        }))
    };
    let trace = |n: u8, span_attrs: Vec<KeyValue>, resource_attrs: Vec<KeyValue>| {
        let id = TraceId([n; 16]);
        let span = OtlpSpan {
            trace_id: id.0.to_vec(),
            span_id: vec![n; 8],
            name: format!("s{n}"),
            start_time_unix_nano: 1_000 * n as u64,
            end_time_unix_nano: 1_000 * n as u64 + 10,
            attributes: span_attrs,
            ..Default::default()
        };
        let data = TracesData {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: resource_attrs,
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![span],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        (id, data)
    };
    let kv = |key: &str, value| KeyValue {
        key: key.to_owned(),
        value,
    };
    let traces = vec![
        // Row group 1: only a scalar value under `x`.
        trace(1, vec![kv("x", string("b"))], vec![]),
        // Row group 2: an array under `x`; the only string in the group is "c", whose
        // statistics alone would rule out `x = "a"`.
        trace(
            2,
            vec![kv("x", array("a")), kv("y", string("c"))],
            vec![kv("r", array("a"))],
        ),
    ];
    let store = Arc::new(InMemory::new());
    let prefix = Path::from("acme/blocks/arr");
    let options = BlockOptions {
        row_group_spans: 1,
        ..BlockOptions::default()
    };
    let info = write_block(
        store.as_ref(),
        &prefix,
        "arr",
        &tenant(),
        traces.clone(),
        &options,
    )
    .await
    .unwrap();
    let b = Block {
        store,
        prefix,
        meta: info.to_block_meta().unwrap(),
        info,
        traces,
    };
    let is = |n: u8| move |v: &View<'_>| v.span.span_id == vec![n; 8];
    let cond = |attribute: AttributeRef, op: FetchOp, s: &str| {
        request(
            true,
            vec![Condition::new(attribute, op, vec![Static::Str(s.into())])],
        )
    };
    let cases: Vec<(&str, FetchRequest, Keep)> = vec![
        (
            "span eq",
            cond(AttributeRef::span("x"), FetchOp::Eq, "a"),
            Box::new(is(2)),
        ),
        (
            "span ne",
            cond(AttributeRef::span("x"), FetchOp::Ne, "b"),
            Box::new(is(2)),
        ),
        (
            "span gt",
            cond(AttributeRef::span("x"), FetchOp::Gt, "zzz"),
            Box::new(is(2)),
        ),
        (
            "span regex",
            cond(AttributeRef::span("x"), FetchOp::Regex, "a"),
            Box::new(is(2)),
        ),
        (
            "span not regex",
            cond(AttributeRef::span("x"), FetchOp::NotRegex, "b"),
            Box::new(is(2)),
        ),
        (
            "unscoped",
            cond(AttributeRef::any("x"), FetchOp::Eq, "a"),
            Box::new(is(2)),
        ),
        (
            "resource",
            cond(AttributeRef::resource("r"), FetchOp::Eq, "zzz"),
            Box::new(is(2)),
        ),
        (
            "exists",
            request(true, vec![Condition::exists(AttributeRef::span("x"))]),
            Box::new(|_| true),
        ),
        (
            "not nil",
            request(
                true,
                vec![Condition::eq(AttributeRef::span("x"), Static::Nil)],
            ),
            Box::new(|_| false),
        ),
        (
            "scalar still compared",
            cond(AttributeRef::span("x"), FetchOp::Eq, "b"),
            Box::new(|v| v.span.span_id == vec![1; 8] || v.span.span_id == vec![2; 8]),
        ),
    ];
    for (name, request, keep) in cases {
        check(&b, name, &request, keep).await;
    }
}

/// A root whose parent ID is all zeros is the root (as the TraceQL engine sees it), even when
/// a child starts before it.
#[tokio::test]
async fn an_all_zero_parent_id_marks_the_root() {
    use sextant_model::otlp::{ResourceSpans, ScopeSpans, Span as OtlpSpan};
    let id = TraceId([7; 16]);
    let span = |n: u8, parent: Vec<u8>, start: u64| OtlpSpan {
        trace_id: id.0.to_vec(),
        span_id: vec![n; 8],
        parent_span_id: parent,
        name: format!("s{n}"),
        start_time_unix_nano: start,
        end_time_unix_nano: start + 100,
        ..Default::default()
    };
    let data = TracesData {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span(1, vec![0; 8], 50), span(2, vec![1; 8], 10)],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let store = Arc::new(InMemory::new());
    let prefix = Path::from("acme/blocks/root");
    let traces = vec![(id, data)];
    let info = write_block(
        store.as_ref(),
        &prefix,
        "root",
        &tenant(),
        traces.clone(),
        &BlockOptions::default(),
    )
    .await
    .unwrap();
    let b = Block {
        store,
        prefix,
        meta: info.to_block_meta().unwrap(),
        info,
        traces,
    };
    let root_is = |name: &str| {
        request(
            true,
            vec![Condition::eq(
                AttributeRef::Intrinsic(Intrinsic::RootName),
                Static::Str(name.into()),
            )],
        )
    };
    check(&b, "root s1", &root_is("s1"), Box::new(|_| true)).await;
    check(&b, "root s2", &root_is("s2"), Box::new(|_| false)).await;
}

#[tokio::test]
async fn trace_select_reads_only_the_chosen_traces_and_lists_the_rest() {
    use std::collections::HashSet;
    let b = block(22, 3_000, 300).await;
    let caches = BlockCaches::default();
    let all_request = FetchRequest::all(ALL);
    let run = |select: TraceSelect| {
        let (b, caches, all_request) = (&b, &caches, &all_request);
        async move {
            search_block_select(
                b.store.as_ref(),
                &b.prefix,
                &b.meta,
                all_request,
                caches,
                &select,
            )
            .await
            .unwrap()
        }
    };
    // Every trace with its start, newest first, ties by ID.
    let mut newest: Vec<(TraceId, u64)> = b
        .traces
        .iter()
        .map(|(id, d)| (*id, trace_range(d).start))
        .collect();
    newest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.0.cmp(&b.0.0)));
    let ids = |r: &BlockSearchResult| -> HashSet<TraceId> {
        r.traces.iter().map(|(id, _)| *id).collect()
    };

    let all = run(TraceSelect::All).await;
    assert_eq!(all.traces.len(), b.traces.len());
    assert!(all.skipped.is_empty());

    // The five newest, plus one old trace named in `also`.
    let old = newest.last().unwrap().0;
    let some = run(TraceSelect::Newest {
        keep: 5,
        floor: 0,
        also: HashSet::from([old]),
    })
    .await;
    let mut want: HashSet<TraceId> = newest[..5].iter().map(|(id, _)| *id).collect();
    want.insert(old);
    assert_eq!(ids(&some), want);
    assert!(some.row_groups_fetched < all.row_groups_fetched);
    // The rest are listed once each, with their starts.
    let mut skipped = some.skipped.clone();
    skipped.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.0.cmp(&b.0.0)));
    let rest: Vec<(TraceId, u64)> = newest
        .iter()
        .filter(|(id, _)| !want.contains(id))
        .copied()
        .collect();
    assert_eq!(skipped, rest);
    // Whole traces: the chosen ones read back span for span.
    for (id, data) in &some.traces {
        let expected = &b.traces.iter().find(|(i, _)| i == id).unwrap().1;
        assert_eq!(spans(data).count(), spans(expected).count());
    }

    // A floor above every start but the newest two: only those (keep is not reached).
    let floor = newest[1].1;
    let above = run(TraceSelect::Newest {
        keep: 100,
        floor,
        also: HashSet::new(),
    })
    .await;
    let want: HashSet<TraceId> = newest
        .iter()
        .filter(|(_, s)| *s >= floor)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(ids(&above), want);

    // Exactly a named set.
    let named: HashSet<TraceId> = newest[10..13].iter().map(|(id, _)| *id).collect();
    let only = run(TraceSelect::Only(named.clone())).await;
    assert_eq!(ids(&only), named);
}

#[tokio::test]
async fn trace_select_values_lists_the_distinct_values_of_a_field() {
    use std::collections::BTreeSet;
    let b = block(23, 2_000, 250).await;
    let caches = BlockCaches::default();
    let values = |field: AttributeRef| {
        let (b, caches) = (&b, &caches);
        async move {
            let request = FetchRequest::all(ALL).with(Condition::exists(field.clone()));
            let r = search_block_select(
                b.store.as_ref(),
                &b.prefix,
                &b.meta,
                &request,
                caches,
                &TraceSelect::Values(field),
            )
            .await
            .unwrap();
            assert!(r.traces.is_empty(), "values only, no traces");
            assert_eq!(r.row_groups_fetched, 0);
            r.values
                .iter()
                .map(|v| format!("{v:?}"))
                .collect::<BTreeSet<String>>()
        }
    };
    let expect = |f: &dyn Fn(&Span, &[KeyValue]) -> Vec<String>| -> BTreeSet<String> {
        b.traces
            .iter()
            .flat_map(|(_, d)| spans(d).flat_map(|(s, r)| f(s, r)).collect::<Vec<_>>())
            .collect()
    };
    let scalar = |v: &Value| -> Option<String> {
        match v {
            Value::StringValue(s) => Some(format!("{:?}", Static::Str(s.clone()))),
            Value::IntValue(i) => Some(format!("{:?}", Static::Int(*i))),
            Value::DoubleValue(d) => Some(format!("{:?}", Static::Float(*d))),
            Value::BoolValue(x) => Some(format!("{:?}", Static::Bool(*x))),
            _ => None,
        }
    };
    let of = |attrs: &[KeyValue], key: &str| -> Vec<String> {
        attrs
            .iter()
            .filter(|kv| kv.key == key)
            .filter_map(|kv| kv.value.as_ref()?.value.as_ref())
            .flat_map(|v| match v {
                Value::ArrayValue(a) => a
                    .values
                    .iter()
                    .filter_map(|i| i.value.as_ref().and_then(scalar))
                    .collect(),
                v => scalar(v).into_iter().collect::<Vec<_>>(),
            })
            .collect()
    };
    let names = values(AttributeRef::Intrinsic(Intrinsic::Name)).await;
    assert!(!names.is_empty());
    assert_eq!(
        names,
        expect(&|s, _| vec![format!("{:?}", Static::Str(s.name.clone()))])
    );
    let services = values(AttributeRef::resource("service.name")).await;
    assert!(services.len() > 1);
    assert_eq!(services, expect(&|_, r| of(r, "service.name")));
    // Every span attribute key the data holds, each compared with the spans' own values.
    let keys: BTreeSet<String> = b
        .traces
        .iter()
        .flat_map(|(_, d)| {
            spans(d)
                .flat_map(|(s, _)| s.attributes.iter().map(|kv| kv.key.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(keys.len() > 3);
    for key in keys {
        let got = values(AttributeRef::span(key.clone())).await;
        assert_eq!(got, expect(&|s, _| of(&s.attributes, &key)), "span.{key}");
        // Unscoped: the span's value where the span has the key, else the resource's.
        let got = values(AttributeRef::any(key.clone())).await;
        let want = expect(&|s, r| {
            if s.attributes.iter().any(|kv| kv.key == key) {
                of(&s.attributes, &key)
            } else {
                of(r, &key)
            }
        });
        assert_eq!(got, want, ".{key}");
    }
}
