//! `TraceSelect::Projected`: the parts asked for read back exactly, the rest empty and unread.

use std::collections::BTreeSet;

use object_store::memory::InMemory;
use object_store::path::Path;
use proptest::prelude::*;
use sextant_model::otlp::{Link, Span, SpanKind, TracesData};
use sextant_model::{AttributeRef, Condition, FetchOp, FetchRequest, Intrinsic, Static, TraceId};

use super::search_tests::{
    ALL, Block, Keep, View, block_of, int_attr, metered, naive, read_bytes, request,
};
use super::testgen::{realistic, trace};
use super::tests::{canonical, runtime, tenant};
use super::*;

/// Every combination of parts.
fn projections() -> Vec<Projection> {
    (0..32u8)
        .map(|bits| Projection {
            span_attributes: bits & 1 != 0,
            events: bits & 2 != 0,
            links: bits & 4 != 0,
            status_message: bits & 8 != 0,
            trace_state: bits & 16 != 0,
        })
        .collect()
}

fn spans_mut(data: &mut TracesData) -> impl Iterator<Item = &mut Span> {
    data.resource_spans
        .iter_mut()
        .flat_map(|r| r.scope_spans.iter_mut())
        .flat_map(|s| s.spans.iter_mut())
}

/// `data` as a search projected by `p` should return it: the parts left out emptied.
fn strip(data: &TracesData, p: Projection) -> TracesData {
    let mut data = data.clone();
    for span in spans_mut(&mut data) {
        if !p.span_attributes {
            span.attributes.clear();
            span.dropped_attributes_count = 0;
        }
        if !p.events {
            span.events.clear();
            span.dropped_events_count = 0;
        }
        if !p.links {
            span.links.clear();
            span.dropped_links_count = 0;
        }
        if !p.status_message
            && let Some(status) = &mut span.status
        {
            status.message.clear();
        }
        if !p.trace_state {
            span.trace_state.clear();
        }
    }
    data
}

/// Loadgen-shaped traces with every optional part present somewhere: a link, a trace state and
/// dropped counts on every fourth span (the generator gives attributes, events and error
/// messages).
fn decorated(seed: u64, spans: usize) -> Vec<(TraceId, TracesData)> {
    let mut traces = realistic(seed, spans);
    let mut n = 0u32;
    for (id, data) in &mut traces {
        for span in spans_mut(data) {
            n += 1;
            if n.is_multiple_of(4) {
                span.links.push(Link {
                    trace_id: id.0.to_vec(),
                    span_id: n.to_le_bytes().repeat(2),
                    trace_state: format!("vendor=l{n}"),
                    ..Link::default()
                });
                span.trace_state = format!("vendor=s{n}");
                span.dropped_attributes_count = 1;
                span.dropped_events_count = 2;
                span.dropped_links_count = 3;
            }
        }
    }
    traces
}

async fn select(b: &Block, request: &FetchRequest, select: &TraceSelect) -> BlockSearchResult {
    let caches = BlockCaches::default();
    search_block_select(
        b.store.as_ref(),
        &b.prefix,
        &b.meta,
        request,
        &caches,
        select,
    )
    .await
    .unwrap()
}

fn original<'a>(b: &'a Block, id: &TraceId) -> &'a TracesData {
    &b.traces.iter().find(|(t, _)| t == id).unwrap().1
}

#[tokio::test]
async fn every_projection_returns_all_but_the_parts_left_out() {
    let b = block_of(decorated(31, 3_000), 400).await;
    let everything = FetchRequest::all(ALL);
    let all = select(&b, &everything, &TraceSelect::All).await;
    assert_eq!(all.traces.len(), b.traces.len());
    // Each part is somewhere in the block, so emptying it is seen.
    for p in projections().into_iter().filter(|p| *p != Projection::ALL) {
        assert!(
            b.traces
                .iter()
                .any(|(_, d)| canonical(&strip(d, p)) != canonical(d)),
            "{p:?} leaves every trace as it is"
        );
    }
    // Ids, times, names, kinds, status codes, resources and scopes as written, whatever the
    // projection; the parts it names too.
    for p in projections() {
        let found = select(&b, &everything, &TraceSelect::Projected(p)).await;
        let ids = |r: &BlockSearchResult| r.traces.iter().map(|(id, _)| *id).collect::<Vec<_>>();
        assert_eq!(ids(&found), ids(&all), "{p:?}: traces");
        assert_eq!(
            found.matched_spans, all.matched_spans,
            "{p:?}: matched spans"
        );
        assert!(found.skipped.is_empty(), "{p:?}");
        assert_eq!(found.row_groups_fetched, all.row_groups_fetched, "{p:?}");
        assert_eq!(found.examined_otlp_bytes, all.examined_otlp_bytes, "{p:?}");
        for (id, data) in &found.traces {
            assert_eq!(
                canonical(data),
                canonical(&strip(original(&b, id), p)),
                "{p:?}: trace {id:?}"
            );
        }
        if p == Projection::ALL {
            // The same search, field for field.
            assert_eq!(found.traces, all.traces);
            assert_eq!(found.fetched_bytes, all.fetched_bytes);
            assert_eq!(found.inspected_bytes, all.inspected_bytes);
            assert_eq!(found.row_groups_read, all.row_groups_read);
            assert_eq!(found.row_groups_skipped, all.row_groups_skipped);
        } else {
            assert!(
                found.fetched_bytes < all.fetched_bytes,
                "{p:?}: fetched {} of {}",
                found.fetched_bytes,
                all.fetched_bytes
            );
            assert!(found.inspected_bytes < all.inspected_bytes, "{p:?}");
        }
    }
}

#[tokio::test]
async fn leaving_out_attributes_and_events_fetches_far_fewer_bytes() {
    let b = block_of(decorated(32, 10_000), 1_000).await;
    let everything = FetchRequest::all(ALL);
    let metrics_like = Projection {
        status_message: true,
        ..Projection::default()
    };
    let mut fetched = Vec::new();
    for selected in [TraceSelect::All, TraceSelect::Projected(metrics_like)] {
        let (store, metrics) = metered(&b);
        let caches = BlockCaches::default();
        // Footer cached first, as a querier holds it.
        search_block_select(&store, &b.prefix, &b.meta, &everything, &caches, &selected)
            .await
            .unwrap();
        let before = read_bytes(&metrics);
        let found =
            search_block_select(&store, &b.prefix, &b.meta, &everything, &caches, &selected)
                .await
                .unwrap();
        let read = read_bytes(&metrics) - before;
        assert_eq!(read, found.fetched_bytes, "{selected:?}: fetched bytes");
        assert_eq!(found.traces.len(), b.traces.len());
        eprintln!(
            "{selected:?}: fetched {read} of {} bytes, inspected {}",
            b.info.data_bytes, found.inspected_bytes
        );
        fetched.push((read, found.inspected_bytes));
    }
    let [(all, all_inspected), (projected, projected_inspected)] = fetched[..] else {
        unreachable!()
    };
    assert!(
        projected * 2 < all,
        "projected fetched {projected}, all {all}"
    );
    assert!(projected_inspected * 2 < all_inspected);
}

#[tokio::test]
async fn span_attribute_conditions_filter_when_attributes_are_left_out() {
    let b = block_of(decorated(33, 4_000), 500).await;
    let error = |v: &View<'_>| {
        int_attr(&v.span.attributes, "http.response.status_code").is_some_and(|c| c >= 500)
    };
    let cases: Vec<(&str, FetchRequest, Keep)> = vec![
        (
            "status code attribute",
            request(
                true,
                vec![Condition::new(
                    AttributeRef::span("http.response.status_code"),
                    FetchOp::Ge,
                    vec![Static::Int(500)],
                )],
            ),
            Box::new(error),
        ),
        (
            "attribute and kind",
            request(
                true,
                vec![
                    Condition::exists(AttributeRef::span("db.system")),
                    Condition::eq(
                        AttributeRef::Intrinsic(Intrinsic::Kind),
                        Static::Kind(SpanKind::Client),
                    ),
                ],
            ),
            Box::new(|v| {
                v.span.attributes.iter().any(|kv| kv.key == "db.system")
                    && v.span.kind == SpanKind::Client as i32
            }),
        ),
    ];
    let none = Projection::default();
    for (name, request, keep) in cases {
        let expected = naive(&b.traces, &keep);
        assert!(!expected.is_empty(), "{name}: matches something");
        assert!(expected.len() < 4_000 / 2, "{name}: filters something");
        let found = select(&b, &request, &TraceSelect::Projected(none)).await;
        let got: BTreeSet<(TraceId, Vec<u8>)> = found.matched_spans.iter().cloned().collect();
        assert_eq!(got, expected, "{name}: spans passing");
        let want_traces: BTreeSet<TraceId> = expected.iter().map(|(t, _)| *t).collect();
        let got_traces: Vec<TraceId> = found.traces.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            got_traces,
            want_traces.into_iter().collect::<Vec<_>>(),
            "{name}: traces"
        );
        for (id, data) in &found.traces {
            assert_eq!(
                canonical(data),
                canonical(&strip(original(&b, id), none)),
                "{name}: trace {id:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Arbitrary content (null statuses, odd span trace IDs, any values) under any projection.
    #[test]
    fn any_trace_reads_back_projected(
        traces in prop::collection::vec(trace(), 1..6),
        rg in 1usize..8,
        bits in 0u8..32,
    ) {
        let p = projections()[usize::from(bits)];
        runtime().block_on(async {
            let store = InMemory::new();
            let prefix = Path::from("acme/blocks/p1");
            let options = BlockOptions { row_group_spans: rg, ..BlockOptions::default() };
            let info = write_block(&store, &prefix, "p1", &tenant(), traces.clone(), &options)
                .await
                .unwrap();
            let meta = info.to_block_meta().unwrap();
            let caches = BlockCaches::default();
            let found = search_block_select(
                &store,
                &prefix,
                &meta,
                &FetchRequest::all(ALL),
                &caches,
                &TraceSelect::Projected(p),
            )
            .await
            .unwrap();
            prop_assert_eq!(found.traces.len(), traces.len());
            for (id, data) in &found.traces {
                let written = &traces.iter().find(|(t, _)| t == id).unwrap().1;
                prop_assert_eq!(canonical(data), canonical(&strip(written, p)));
            }
            Ok(())
        })?;
    }
}
