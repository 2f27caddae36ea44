//! TraceQL metrics through the pipeline over memory and real blocks: every span counted once,
//! wherever it lives.

use std::collections::BTreeMap;

use sextant_model::otlp::{TracesData, any_value};
use sextant_model::{MetricsQuerier, MetricsRequest, MetricsResponse, NoProgress};

use super::read_path_tests::{
    BLOCKS, Fixture, HOUR, MINUTE, Noise, TRACES_PER_BLOCK, everything_searchable, push, tenant,
    trace_parts,
};

async fn query(
    f: &Fixture,
    q: &str,
    start: u64,
    end: u64,
    step: u64,
    instant: bool,
) -> MetricsResponse {
    f.pipeline
        .query_range(
            &tenant(),
            MetricsRequest {
                query: q.into(),
                start,
                end,
                step,
                instant,
                exemplars: 0,
                max_series: 0,
            },
            &NoProgress,
        )
        .await
        .unwrap()
}

/// The single value of each series of an instant answer, by its first label's string value.
fn values(answer: &MetricsResponse) -> BTreeMap<String, f64> {
    answer
        .series
        .iter()
        .map(|s| {
            let label = match s.labels.first().and_then(|l| l.value.as_ref()) {
                Some(v) => match &v.value {
                    Some(any_value::Value::StringValue(s)) => s.clone(),
                    other => format!("{other:?}"),
                },
                None => "nil".into(),
            };
            assert_eq!(s.samples.len(), 1, "instant: one sample per series");
            (label, s.samples[0].value)
        })
        .collect()
}

#[tokio::test]
async fn counts_over_blocks_match_what_was_pushed() {
    let (f, _blocks) = Fixture::with_blocks().await;
    let range = everything_searchable(&f);
    let traces = f64::from(u32::from(BLOCKS) * u32::from(TRACES_PER_BLOCK));
    let by_service = query(
        &f,
        "{ } | count_over_time() by (resource.service.name)",
        range.start,
        range.end,
        0,
        true,
    )
    .await;
    assert_eq!(
        values(&by_service),
        BTreeMap::from([
            ("cart".to_string(), 2.0 * traces),
            ("frontend".to_string(), traces),
            ("payments".to_string(), traces),
        ])
    );
    assert_eq!(by_service.metrics.total_blocks, u32::from(BLOCKS));
    assert_eq!(
        by_service.metrics.completed_jobs,
        by_service.metrics.total_jobs
    );
    // Every seventh trace's payments span failed.
    let errors = query(
        &f,
        "{ status = error } | count_over_time()",
        range.start,
        range.end,
        0,
        true,
    )
    .await;
    let per_block = f64::from(u32::from(TRACES_PER_BLOCK).div_ceil(7));
    assert_eq!(
        values(&errors),
        BTreeMap::from([("count_over_time".to_string(), f64::from(BLOCKS) * per_block)])
    );
    // A range over the last hour: the two recent blocks only, each within one 10-minute step.
    let step = 10 * MINUTE;
    let recent = query(
        &f,
        "{ } | count_over_time()",
        f.now - HOUR,
        f.now,
        step,
        false,
    )
    .await;
    assert_eq!(recent.series.len(), 1);
    let total: f64 = recent.series[0].samples.iter().map(|s| s.value).sum();
    assert_eq!(total, 2.0 * 4.0 * f64::from(TRACES_PER_BLOCK));
    let busy = recent.series[0]
        .samples
        .iter()
        .filter(|s| s.value > 0.0)
        .count();
    assert!((2..=4).contains(&busy), "{recent:?}");
    for s in &recent.series[0].samples {
        assert_eq!(
            (s.timestamp_ms as u64 * 1_000_000) % step,
            0,
            "{s:?} off the grid"
        );
    }
}

#[tokio::test]
async fn a_trace_in_a_block_and_in_memory_counts_each_span_once() {
    let f = Fixture::open().await;
    let mut noise = Noise(7);
    let first = TracesData {
        resource_spans: trace_parts(f.now, 3, 0, &[0, 1], &mut noise),
    };
    push(&f.pipeline, &first).await;
    f.wait_for_blocks(1).await;
    f.shutdown.cancel();
    let rest = TracesData {
        resource_spans: trace_parts(f.now, 3, 0, &[2, 3], &mut noise),
    };
    push(&f.pipeline, &rest).await;
    // The first part again (a retried push): in memory and in the block.
    push(&f.pipeline, &first).await;
    let range = everything_searchable(&f);
    let answer = query(
        &f,
        "{ } | count_over_time()",
        range.start,
        range.end,
        0,
        true,
    )
    .await;
    assert_eq!(
        values(&answer),
        BTreeMap::from([("count_over_time".to_string(), 4.0)])
    );
}

#[tokio::test]
async fn bad_queries_and_long_ranges_are_refused() {
    let f = Fixture::open().await;
    let range = everything_searchable(&f);
    for (q, start, end, want) in [
        ("{ } | rate(", range.start, range.end, "invalid TraceQL"),
        ("{ }", range.start, range.end, "not a metrics query"),
        (
            "{ } | rate()",
            f.now - 25 * HOUR,
            f.now,
            "metrics query time range exceeds the maximum allowed duration of 1day",
        ),
        ("{ } | rate()", f.now, f.now - 1, "end must be after start"),
    ] {
        let err = f
            .pipeline
            .query_range(
                &tenant(),
                MetricsRequest {
                    query: q.into(),
                    start,
                    end,
                    step: 0,
                    instant: false,
                    exemplars: 0,
                    max_series: 0,
                },
                &NoProgress,
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind, sextant_model::ErrorKind::BadRequest, "{q}");
        assert!(err.message.contains(want), "{q}: {}", err.message);
    }
}
