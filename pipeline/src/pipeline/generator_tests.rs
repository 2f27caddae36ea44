//! The pipeline feeds the metrics generator acknowledged requests only: the tenants with a
//! processor on, every accepted span once, nothing from the WAL replay.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes as Body;
use axum::extract::State;
use axum::routing::post;
use bytes::Bytes;
use parking_lot::Mutex;
use prometheus_client::registry::Registry;
use prost::Message;
use sextant_model::{
    GeneratorProcessor, GeneratorSettings, IngestSink, Limits, Payload, PayloadFormat,
    RemoteWriteTarget, TenantDirectory, TenantId,
};
use sextant_store::WalConfig;

use super::*;
use crate::generator::remote_write::WriteRequest;
use crate::generator::{Generator, GeneratorConfig};
use crate::testdata::{span, wrap};

/// Tenant `gen-on` has both processors on, writing to `target`; every other tenant has none.
struct Directory {
    limits: Arc<Limits>,
    on: Arc<GeneratorSettings>,
}

impl TenantDirectory for Directory {
    fn limits(&self, _tenant: &TenantId) -> Arc<Limits> {
        Arc::clone(&self.limits)
    }

    fn generator(&self, tenant: &TenantId) -> Option<Arc<GeneratorSettings>> {
        (tenant.as_str() == "gen-on").then(|| Arc::clone(&self.on))
    }
}

fn directory(target: String) -> Arc<dyn TenantDirectory> {
    Arc::new(Directory {
        limits: Arc::new(Limits::default()),
        on: Arc::new(GeneratorSettings {
            processors: vec![
                GeneratorProcessor::SpanMetrics,
                GeneratorProcessor::ServiceGraphs,
            ],
            remote_write: Some(RemoteWriteTarget::new(target)),
            ..GeneratorSettings::default()
        }),
    })
}

fn open(dir: &Path, tenants: Arc<dyn TenantDirectory>) -> (Arc<Pipeline>, Generator, Registry) {
    let mut registry = Registry::default();
    let config = PipelineConfig {
        wal: WalConfig {
            dir: dir.to_path_buf(),
            segment_bytes: 1 << 20,
            max_bytes: 1 << 30,
            fsync: true,
        },
        ..PipelineConfig::default()
    };
    let pipeline = Pipeline::open(config, Arc::clone(&tenants), None, &mut registry).unwrap();
    let generator = Generator::start(
        GeneratorConfig {
            collection_interval: Duration::from_millis(20),
            // The test spans are from 1970.
            ingestion_slack: Duration::ZERO,
            ..GeneratorConfig::default()
        },
        tenants,
        &mut registry,
    )
    .unwrap();
    pipeline.feed_generator(generator.feed());
    (pipeline, generator, registry)
}

/// One sample's value from the registry's text, 0 when the series is absent.
fn value(registry: &Registry, series: &str) -> f64 {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn push(p: &Pipeline, tenant: &str, trace: u8, spans: u8) {
    let data = wrap((1..=spans).map(|id| span(trace, id, 1_000)).collect());
    let payload = Payload {
        format: PayloadFormat::OtlpProtobuf,
        body: Bytes::from(data.encode_to_vec()),
    };
    p.push(&TenantId::new(tenant).unwrap(), payload)
        .await
        .unwrap();
}

async fn receive(State(got): State<Arc<Mutex<Vec<Body>>>>, body: Body) -> &'static str {
    got.lock().push(body);
    ""
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_spans_reach_the_generator_once_and_the_replay_counts_none() {
    let got = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/write", post(receive))
        .with_state(Arc::clone(&got));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/write", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();

    let (pipeline, generator, registry) = open(dir.path(), directory(target.clone()));
    push(&pipeline, "gen-on", 1, 3).await;
    push(&pipeline, "gen-on", 2, 2).await;
    push(&pipeline, "gen-off", 3, 4).await;
    let on = r#"sextant_generator_spans_received_total{tenant="gen-on"}"#;
    until("five spans counted", || value(&registry, on) == 5.0).await;
    assert_eq!(
        value(
            &registry,
            r#"sextant_generator_spans_received_total{tenant="gen-off"}"#
        ),
        0.0,
        "a tenant without a processor is not fed"
    );
    // The series reach the tenant's target: five calls of `svc`'s spans.
    let calls = || {
        got.lock().iter().rev().find_map(|body| {
            let raw = snap::raw::Decoder::new().decompress_vec(body).ok()?;
            let request = WriteRequest::decode(raw.as_slice()).ok()?;
            let total: f64 = request
                .timeseries
                .iter()
                .filter(|s| {
                    s.labels.iter().any(|l| {
                        l.name == "__name__" && l.value == "traces_spanmetrics_calls_total"
                    })
                })
                .map(|s| s.samples[0].value)
                .sum();
            (total > 0.0).then_some(total)
        })
    };
    until("calls remote-written", || calls() == Some(5.0)).await;
    pipeline.close().await.unwrap();
    drop(pipeline);
    generator.stop().await;

    // The WAL still holds those spans (no block backend): the replay must not count them.
    let (pipeline, generator, registry) = open(dir.path(), directory(target));
    assert!(
        pipeline.replay_stats().records >= 3,
        "the replay read the records"
    );
    let collections = "sextant_generator_collections_total";
    until("three collections", || value(&registry, collections) >= 3.0).await;
    assert_eq!(
        value(&registry, on),
        0.0,
        "replayed spans are not counted again"
    );
    push(&pipeline, "gen-on", 4, 1).await;
    until("the new span counted", || value(&registry, on) == 1.0).await;
    pipeline.close().await.unwrap();
    generator.stop().await;
}
