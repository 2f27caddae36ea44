//! Streaming progress of a search over memory and real blocks: what the pipeline reports after
//! each unit of work, checked against the final answer.

use std::collections::HashSet;

use parking_lot::Mutex;
use sextant_model::{
    Progress, SearchMetrics, SearchQuery, SearchRequest, TraceId, TraceSearcher, TraceSummary,
};

use super::read_path_tests::{
    BLOCKS, Fixture, Noise, TRACES_PER_BLOCK, everything_searchable, push, tenant, trace_id,
    trace_parts,
};

/// Every report, in order.
#[derive(Default)]
struct Recorder(Mutex<Vec<(SearchMetrics, Vec<TraceSummary>)>>);

impl Progress for Recorder {
    fn report(&self, metrics: &SearchMetrics, settled: Vec<TraceSummary>) {
        self.0.lock().push((*metrics, settled));
    }
}

async fn search_recorded(
    f: &Fixture,
    limit: u32,
) -> (
    sextant_model::SearchResponse,
    Vec<(SearchMetrics, Vec<TraceSummary>)>,
) {
    let recorder = Recorder::default();
    let answer = f
        .pipeline
        .search_with_progress(
            &tenant(),
            SearchRequest {
                query: SearchQuery::TraceQl("{}".into()),
                range: Some(everything_searchable(f)),
                min_duration: None,
                max_duration: None,
                limit,
                spans_per_spanset: 3,
            },
            &recorder,
        )
        .await
        .unwrap();
    (answer, recorder.0.into_inner())
}

/// Settled traces are in the final answer, each reported once, equal to the final copy; one
/// report per unit of work with the work counted so far.
#[tokio::test]
async fn settled_traces_are_reported_once_as_blocks_complete_and_belong_to_the_answer() {
    let (f, _blocks) = Fixture::with_blocks().await;
    // More than one block holds: the newest block settles first, the next one adds the rest.
    let limit = u32::from(TRACES_PER_BLOCK) + 100;
    let (answer, reports) = search_recorded(&f, limit).await;
    assert_eq!(answer.traces.len(), limit as usize);
    let jobs = 1 + u32::from(BLOCKS);
    assert_eq!(reports.len(), jobs as usize, "one report per unit of work");
    for (i, (m, _)) in reports.iter().enumerate() {
        assert_eq!(m.completed_jobs, i as u32 + 1);
        assert_eq!(m.total_jobs, jobs);
        assert_eq!(m.total_blocks, u32::from(BLOCKS));
    }
    let finals: std::collections::HashMap<TraceId, &TraceSummary> =
        answer.traces.iter().map(|t| (t.trace_id, t)).collect();
    let mut told = HashSet::new();
    for (_, settled) in &reports {
        for t in settled {
            assert!(told.insert(t.trace_id), "{:?} reported twice", t.trace_id);
            assert_eq!(Some(&t), finals.get(&t.trace_id), "settled copy differs");
        }
    }
    // Memory is empty; the newest block settles all of its traces, the next one the rest.
    assert!(reports[0].1.is_empty());
    assert_eq!(reports[1].1.len(), usize::from(TRACES_PER_BLOCK));
    assert_eq!(reports[2].1.len(), 100);
    assert_eq!(told.len(), answer.traces.len());
}

/// Live traces newer than every block settle as soon as memory is searched; a live trace older
/// than a block settles only once no block left to search ends after it starts.
#[tokio::test]
async fn live_traces_settle_only_when_no_remaining_block_can_outrank_them() {
    let (f, _blocks) = Fixture::with_blocks().await;
    f.shutdown.cancel();
    let mut noise = Noise(11);
    // "Block 4" was never cut: these traces start after every block's (see `trace_start`);
    // trace 950 of block 0 lies among the oldest block's traces but is only in memory.
    let new: Vec<TraceId> = (0..5u16).map(|i| trace_id(4, i)).collect();
    let old = trace_id(0, 950);
    let mut resource_spans: Vec<_> = (0..5u16)
        .flat_map(|i| trace_parts(f.now, 4, i, &[0, 1], &mut noise))
        .collect();
    resource_spans.extend(trace_parts(f.now, 0, 950, &[0, 1], &mut noise));
    push(
        &f.pipeline,
        &sextant_model::otlp::TracesData { resource_spans },
    )
    .await;
    let limit = 4 * u32::from(TRACES_PER_BLOCK) + 100;
    let (answer, reports) = search_recorded(&f, limit).await;
    assert_eq!(answer.traces.len(), 4 * usize::from(TRACES_PER_BLOCK) + 6);
    assert!(answer.traces.iter().any(|t| t.trace_id == old));
    let mut first: Vec<TraceId> = reports[0].1.iter().map(|t| t.trace_id).collect();
    first.sort_by_key(|id| id.0);
    let mut expected = new.clone();
    expected.sort_by_key(|id| id.0);
    assert_eq!(first, expected, "after memory only the newer traces settle");
    // Blocks go 3, 2, 1, 0: the old trace is newer than all of block 0 (its index is past the
    // block's), so it settles once block 1 is done, and not before.
    let told_at = reports
        .iter()
        .position(|(_, s)| s.iter().any(|t| t.trace_id == old));
    assert_eq!(
        told_at,
        Some(3),
        "the old live trace settled at the wrong time"
    );
}
