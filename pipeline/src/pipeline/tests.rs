use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use prometheus_client::registry::Registry;
use prost::Message;
use sextant_model::otlp::TracesData;
use sextant_model::{
    ErrorKind, IngestSink, Limits, Payload, PayloadFormat, ReadinessProbe, TenantDirectory,
    TenantId, TimeRange, TraceId, TraceReader,
};
use sextant_store::{Wal, WalConfig, WalMetrics};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::testdata::{full_fidelity, kv, s, span, to_otlp_json, wrap};

struct FixedLimits(Arc<Limits>);

impl TenantDirectory for FixedLimits {
    fn limits(&self, _tenant: &TenantId) -> Arc<Limits> {
        Arc::clone(&self.0)
    }
}

fn config(dir: &Path) -> PipelineConfig {
    PipelineConfig {
        ingester: IngesterConfig {
            sweep_interval: Duration::from_millis(10),
            ..IngesterConfig::default()
        },
        wal: WalConfig {
            dir: dir.to_path_buf(),
            segment_bytes: 1 << 20,
            max_bytes: 1 << 30,
            fsync: true,
        },
        ..Default::default()
    }
}

fn open_with(config: PipelineConfig, limits: Limits) -> (Arc<Pipeline>, Registry) {
    let mut registry = Registry::default();
    let p = Pipeline::open(
        config,
        Arc::new(FixedLimits(Arc::new(limits))),
        None,
        &mut registry,
    )
    .unwrap();
    (p, registry)
}

fn open(dir: &Path) -> Arc<Pipeline> {
    open_with(config(dir), Limits::default()).0
}

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

async fn push_pb(p: &Pipeline, t: &str, data: &TracesData) -> sextant_model::Result<PushOutcome> {
    let payload = Payload {
        format: PayloadFormat::OtlpProtobuf,
        body: Bytes::from(data.encode_to_vec()),
    };
    p.push(&tenant(t), payload).await
}

async fn push_json(p: &Pipeline, t: &str, data: &TracesData) -> sextant_model::Result<PushOutcome> {
    let payload = Payload {
        format: PayloadFormat::OtlpJson,
        body: Bytes::from(to_otlp_json(data)),
    };
    p.push(&tenant(t), payload).await
}

async fn read(p: &Pipeline, t: &str, id: u8) -> Option<TracesData> {
    p.trace_by_id(&tenant(t), TraceId([id; 16]), None)
        .await
        .unwrap()
        .map(|l| l.trace)
}

fn span_count(d: &TracesData) -> usize {
    d.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

fn metrics_text(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry).unwrap();
    out
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn full_fidelity_round_trip_in_both_encodings() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path());
    let id = TraceId::from_slice(&(1..=16).collect::<Vec<u8>>()).unwrap();
    let out = push_pb(&p, "proto-tenant", &full_fidelity()).await.unwrap();
    assert_eq!(
        out,
        PushOutcome {
            accepted_spans: 1,
            ..Default::default()
        }
    );
    let out = push_json(&p, "json-tenant", &full_fidelity())
        .await
        .unwrap();
    assert_eq!(out.accepted_spans, 1);
    for t in ["proto-tenant", "json-tenant"] {
        let found = p.trace_by_id(&tenant(t), id, None).await.unwrap().unwrap();
        assert_eq!(found.trace, full_fidelity(), "{t}");
        assert_eq!(found.inspected_bytes, full_fidelity().encoded_len() as u64);
    }
}

#[tokio::test]
async fn invalid_spans_are_rejected_individually() {
    let dir = tempfile::tempdir().unwrap();
    let (p, registry) = open_with(config(dir.path()), Limits::default());
    let mut short_trace = span(1, 1, 0);
    short_trace.trace_id.truncate(15);
    let mut zero_span = span(1, 2, 0);
    zero_span.span_id = vec![0; 8];
    let data = wrap(vec![short_trace, zero_span, span(1, 3, 0)]);
    let out = push_pb(&p, "tenant-a", &data).await.unwrap();
    assert_eq!(out.accepted_spans, 1);
    assert_eq!(out.rejected_spans, 2);
    assert_eq!(
        out.message,
        "2 spans rejected: 1 invalid trace id, 1 invalid span id"
    );
    assert_eq!(span_count(&read(&p, "tenant-a", 1).await.unwrap()), 1);
    let text = metrics_text(&registry);
    for line in [
        r#"sextant_discarded_spans_total{tenant="tenant-a",reason="invalid_trace_id"} 1"#,
        r#"sextant_discarded_spans_total{tenant="tenant-a",reason="invalid_span_id"} 1"#,
        r#"sextant_received_spans_total{tenant="tenant-a"} 3"#,
        r#"sextant_live_traces{tenant="tenant-a"} 1"#,
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
}

#[tokio::test]
async fn empty_and_undecodable_requests() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path());
    let out = push_pb(&p, "tenant-a", &TracesData::default())
        .await
        .unwrap();
    assert_eq!(out, PushOutcome::default());
    let out = push_json(&p, "tenant-a", &TracesData::default())
        .await
        .unwrap();
    assert_eq!(out, PushOutcome::default());
    for format in [PayloadFormat::OtlpProtobuf, PayloadFormat::OtlpJson] {
        let payload = Payload {
            format,
            body: Bytes::from_static(b"\xff\xff{not otlp"),
        };
        let err = p.push(&tenant("tenant-a"), payload).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadRequest, "{format:?}");
        assert!(
            err.message.starts_with("failed to decode OTLP"),
            "{}",
            err.message
        );
    }
}

#[tokio::test]
async fn live_trace_and_trace_size_limits() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_traces_per_tenant: 2,
        max_bytes_per_trace: 600,
        ..Limits::default()
    };
    let (p, registry) = open_with(config(dir.path()), limits);
    push_pb(&p, "tenant-a", &wrap(vec![span(1, 1, 0)]))
        .await
        .unwrap();
    push_pb(&p, "tenant-a", &wrap(vec![span(2, 1, 0)]))
        .await
        .unwrap();
    let out = push_pb(&p, "tenant-a", &wrap(vec![span(3, 1, 0), span(1, 2, 0)]))
        .await
        .unwrap();
    assert_eq!((out.accepted_spans, out.rejected_spans), (1, 1));
    assert_eq!(out.message, "1 span rejected: 1 live traces exceeded");
    assert_eq!(out.discarded, vec![(DiscardReason::LiveTracesExceeded, 1)]);
    assert!(read(&p, "tenant-a", 3).await.is_none());
    assert_eq!(span_count(&read(&p, "tenant-a", 1).await.unwrap()), 2);
    // Another tenant has its own count.
    assert_eq!(
        push_pb(&p, "tenant-b", &wrap(vec![span(3, 1, 0)]))
            .await
            .unwrap()
            .rejected_spans,
        0
    );

    let mut big = span(2, 9, 0);
    big.attributes.push(kv("k", s(&"x".repeat(700))));
    let out = push_pb(&p, "tenant-a", &wrap(vec![big, span(1, 3, 0)]))
        .await
        .unwrap();
    assert_eq!((out.accepted_spans, out.rejected_spans), (1, 1));
    assert_eq!(out.message, "1 span rejected: 1 trace too large");
    assert_eq!(span_count(&read(&p, "tenant-a", 2).await.unwrap()), 1);
    let text = metrics_text(&registry);
    assert!(
        text.contains(r#"reason="live_traces_exceeded"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"reason="trace_too_large"} 1"#), "{text}");
}

#[tokio::test]
async fn attributes_are_truncated_to_the_tenant_limit() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_attribute_bytes: 5,
        ..Limits::default()
    };
    let (p, registry) = open_with(config(dir.path()), limits);
    let mut sp = span(1, 1, 0);
    sp.attributes.push(kv("k", s("ééééé")));
    push_json(&p, "tenant-a", &wrap(vec![sp])).await.unwrap();
    let got = read(&p, "tenant-a", 1).await.unwrap();
    let attr = &got.resource_spans[0].scope_spans[0].spans[0].attributes[0];
    assert_eq!(attr.value.as_ref().unwrap().value, Some(s("éé")));
    let resource = got.resource_spans[0].resource.as_ref().unwrap();
    assert_eq!(
        resource.attributes[0].key, "servi",
        "keys are truncated too"
    );
    let text = metrics_text(&registry);
    assert!(
        text.contains(r#"sextant_truncated_attributes_total{tenant="tenant-a"} 2"#),
        "{text}"
    );
}

#[tokio::test]
async fn traces_complete_when_idle() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.ingester.trace_idle = Duration::from_millis(30);
    let (p, _registry) = open_with(c, Limits::default());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(Arc::clone(&p).run(shutdown.clone()));
    let t = tenant("tenant-a");
    push_pb(&p, "tenant-a", &wrap(vec![span(1, 1, 0)]))
        .await
        .unwrap();
    wait_for("idle completion", || p.ingester().counts(&t) == (0, 1)).await;
    assert_eq!(span_count(&read(&p, "tenant-a", 1).await.unwrap()), 1);
    // A late span starts a new live entry; reads merge both.
    push_pb(&p, "tenant-a", &wrap(vec![span(1, 2, 5)]))
        .await
        .unwrap();
    assert_eq!(p.ingester().counts(&t), (1, 1));
    assert_eq!(span_count(&read(&p, "tenant-a", 1).await.unwrap()), 2);
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn traces_complete_at_max_age_while_still_busy() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.ingester.trace_idle = Duration::from_secs(3600);
    c.ingester.trace_max_live = Duration::from_millis(50);
    let (p, _registry) = open_with(c, Limits::default());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(Arc::clone(&p).run(shutdown.clone()));
    let t = tenant("tenant-a");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut id = 1u8;
    while p.ingester().counts(&t).1 == 0 {
        assert!(Instant::now() < deadline, "trace never completed by age");
        push_pb(&p, "tenant-a", &wrap(vec![span(1, id, 0)]))
            .await
            .unwrap();
        id = id.wrapping_add(1).max(1);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn acknowledged_spans_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    {
        let p = open(dir.path());
        push_pb(&p, "tenant-a", &wrap(vec![span(1, 1, 10), span(2, 1, 20)]))
            .await
            .unwrap();
        push_json(&p, "tenant-a", &wrap(vec![span(1, 2, 30)]))
            .await
            .unwrap();
        push_pb(&p, "tenant-b", &full_fidelity()).await.unwrap();
        // Dropped without close: only the fsync before the acknowledgement protects the data.
    }
    let (p, registry) = open_with(config(dir.path()), Limits::default());
    assert_eq!(p.replay_stats().records, 3);
    assert_eq!(span_count(&read(&p, "tenant-a", 1).await.unwrap()), 2);
    assert_eq!(span_count(&read(&p, "tenant-a", 2).await.unwrap()), 1);
    let id = TraceId::from_slice(&(1..=16).collect::<Vec<u8>>()).unwrap();
    let got = p
        .trace_by_id(&tenant("tenant-b"), id, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.trace, full_fidelity());
    assert_eq!(
        p.ingester().counts(&tenant("tenant-a")),
        (0, 2),
        "replayed traces are completed"
    );
    let text = metrics_text(&registry);
    assert!(text.contains("sextant_wal_replay_spans_total 4"), "{text}");
    assert!(
        !text.contains(r#"sextant_received_spans_total{"#),
        "replay is not received: {text}"
    );
}

#[tokio::test]
async fn undecodable_wal_records_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    {
        let p = open(dir.path());
        push_pb(&p, "tenant-a", &wrap(vec![span(1, 1, 10)]))
            .await
            .unwrap();
        p.close().await.unwrap();
    }
    {
        let (wal, _) = Wal::open(
            config(dir.path()).wal,
            WalMetrics::unregistered(),
            |_, _| {},
        )
        .unwrap();
        wal.append(Bytes::from_static(b"\x01\x03abc not a record"))
            .await
            .unwrap();
        wal.close().await.unwrap();
    }
    let (p, registry) = open_with(config(dir.path()), Limits::default());
    assert_eq!(p.replay_stats().records, 2);
    assert!(read(&p, "tenant-a", 1).await.is_some());
    assert!(metrics_text(&registry).contains("sextant_wal_replay_failed_records_total 1"));
}

#[tokio::test]
async fn duplicate_pushes_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path());
    let data = wrap(vec![span(1, 1, 30), span(1, 2, 10)]);
    push_pb(&p, "tenant-a", &data).await.unwrap();
    push_json(&p, "tenant-a", &data).await.unwrap();
    let got = read(&p, "tenant-a", 1).await.unwrap();
    assert_eq!(got.resource_spans.len(), 1);
    let spans = &got.resource_spans[0].scope_spans[0].spans;
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0].start_time_unix_nano, 10, "ordered by start time");
}

#[tokio::test]
async fn tenants_are_isolated_and_ranges_filter() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path());
    push_pb(&p, "tenant-a", &wrap(vec![span(1, 1, 100)]))
        .await
        .unwrap();
    assert!(read(&p, "tenant-b", 1).await.is_none());
    assert!(read(&p, "tenant-a", 2).await.is_none());
    let id = TraceId([1; 16]);
    let a = tenant("tenant-a");
    assert!(
        p.trace_by_id(&a, id, Some(TimeRange::new(0, 99)))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        p.trace_by_id(&a, id, Some(TimeRange::new(105, 200)))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn overload_is_unavailable_with_a_retry_hint() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.ingester.max_inflight_bytes = 10;
    let (p, _r) = open_with(c, Limits::default());
    let err = push_pb(&p, "tenant-a", &full_fidelity()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unavailable);
    assert_eq!(err.retry_after, Some(Duration::from_secs(1)));
    drop(p);

    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.ingester.max_live_bytes = 200;
    let (p, _r) = open_with(c, Limits::default());
    push_pb(&p, "tenant-a", &wrap(vec![span(1, 1, 0)]))
        .await
        .unwrap();
    let err = push_pb(&p, "tenant-a", &full_fidelity()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unavailable);
    assert!(err.retry_after.is_some());
    assert!(err.message.contains("memory"), "{}", err.message);
    let id = TraceId::from_slice(&(1..=16).collect::<Vec<u8>>()).unwrap();
    assert!(
        p.trace_by_id(&tenant("tenant-a"), id, None)
            .await
            .unwrap()
            .is_none()
    );
    // The refused request gave its reservation back.
    push_pb(&p, "tenant-a", &wrap(vec![span(2, 1, 0)]))
        .await
        .unwrap();
}

#[tokio::test]
async fn closed_pipeline_refuses_pushes() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path());
    assert_eq!(p.readiness(), Ok(()));
    p.close().await.unwrap();
    let err = push_pb(&p, "tenant-a", &wrap(vec![span(1, 1, 0)]))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unavailable);
}

#[tokio::test]
async fn not_ready_while_the_wal_is_over_its_cap() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.wal.segment_bytes = 1024;
    c.wal.max_bytes = 2048;
    let (p, _r) = open_with(c, Limits::default());
    assert_eq!(p.readiness(), Ok(()));
    let mut refused = None;
    for i in 1..=100u8 {
        match push_pb(&p, "tenant-a", &wrap(vec![span(i, 1, 0)])).await {
            Ok(_) => {}
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let err = refused.expect("the wal never reached its cap");
    assert_eq!(err.kind, ErrorKind::Unavailable);
    assert!(err.retry_after.is_some());
    let reason = p.readiness().unwrap_err();
    assert!(reason.contains("cap 2048 bytes"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pushes_are_all_readable() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path());
    let mut tasks = Vec::new();
    for worker in 0..8u8 {
        let p = Arc::clone(&p);
        tasks.push(tokio::spawn(async move {
            for i in 0..10u8 {
                let data = wrap(vec![
                    span(1 + worker, 1 + i, u64::from(i)),
                    span(100, 1 + worker * 10 + i, 0),
                ]);
                push_pb(&p, "tenant-a", &data).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for worker in 0..8u8 {
        assert_eq!(
            span_count(&read(&p, "tenant-a", 1 + worker).await.unwrap()),
            10
        );
    }
    assert_eq!(span_count(&read(&p, "tenant-a", 100).await.unwrap()), 80);
}
