//! `sextant bench generator`: the metrics generator's throughput and what it costs ingest.
//!
//! 1. **Generator alone**: loadgen-shaped requests (several services, client/server pairs,
//!    errors) counted into span metrics and service graphs on one thread — decode, both
//!    processors, a collection and remote-write encoding every `--collect-every` requests — as
//!    spans per second on that one core.
//! 2. **Ingest with the generator off, then on**: the same requests pushed through the real
//!    pipeline (decode, validate, WAL append with fsync, memory) by `--concurrency` tasks,
//!    fresh trace IDs on every push; with it on, the tenant's series are remote-written to an
//!    in-process receiver. Reported: acknowledged spans per second (wall clock) and CPU seconds
//!    of this process per million spans, the generator's share included (the run waits until
//!    it has counted every span, or shed it).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::routing::post;
use bytes::Bytes;
use prometheus_client::registry::Registry;
use sextant_model::{
    GeneratorProcessor, GeneratorSettings, IngestSink, Limits, Payload, PayloadFormat,
    RemoteWriteTarget, TenantDirectory, TenantId,
};
use sextant_pipeline::{Generator, GeneratorConfig, Pipeline, PipelineConfig, count_requests};

use crate::loadgen::{cpu_time, generate};

const TENANT: &str = "bench";

#[derive(Debug, clap::Args)]
pub(crate) struct GeneratorArgs {
    /// Directory for the ingest runs' WALs (created; emptied first).
    #[arg(long)]
    dir: std::path::PathBuf,
    /// Distinct requests generated up front.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    #[arg(long, default_value_t = 500)]
    spans_per_request: usize,
    /// Times the generator-alone run goes over the requests.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Requests between two collections in the generator-alone run.
    #[arg(long, default_value_t = 100)]
    collect_every: usize,
    /// Requests pushed in each ingest run.
    #[arg(long, default_value_t = 2_000)]
    pushes: usize,
    /// Concurrent pushers in the ingest runs.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

impl GeneratorArgs {
    #[cfg(test)]
    pub(crate) fn for_test(dir: std::path::PathBuf) -> Self {
        Self {
            dir,
            requests: 4,
            spans_per_request: 50,
            rounds: 1,
            collect_every: 2,
            pushes: 8,
            concurrency: 2,
            seed: 1,
        }
    }
}

/// What the run measured, for the caller to check.
#[derive(Debug)]
#[cfg_attr(not(test), expect(dead_code, reason = "read by the smoke test"))]
pub(crate) struct Outcome {
    pub(crate) alone_spans: u64,
    pub(crate) series: usize,
    pub(crate) ingested_off: u64,
    pub(crate) ingested_on: u64,
    pub(crate) counted_on: u64,
    pub(crate) remote_writes: u64,
}

/// Every tenant gets generous limits; `bench` has both processors on when `settings` is set.
struct Directory {
    limits: Arc<Limits>,
    settings: Option<Arc<GeneratorSettings>>,
}

impl TenantDirectory for Directory {
    fn limits(&self, _tenant: &TenantId) -> Arc<Limits> {
        Arc::clone(&self.limits)
    }

    fn generator(&self, _tenant: &TenantId) -> Option<Arc<GeneratorSettings>> {
        self.settings.clone()
    }
}

fn settings(target: Option<String>) -> GeneratorSettings {
    GeneratorSettings {
        processors: vec![
            GeneratorProcessor::SpanMetrics,
            GeneratorProcessor::ServiceGraphs,
        ],
        remote_write: target.map(RemoteWriteTarget::new),
        ..GeneratorSettings::default()
    }
}

pub(crate) async fn generator(args: GeneratorArgs) -> anyhow::Result<Outcome> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let payloads: Vec<generate::Payload> = (0..args.requests)
        .map(|i| generate::payload(args.seed + i as u64, args.spans_per_request, Some(now)))
        .collect();
    let requests: Vec<Bytes> = payloads
        .iter()
        .map(|p| Bytes::from(p.bytes.clone()))
        .collect();
    let spans_per_round: usize = payloads.iter().map(|p| p.spans).sum();
    println!(
        "requests: {} x {} spans ({} bytes/span)",
        args.requests,
        args.spans_per_request,
        requests.iter().map(Bytes::len).sum::<usize>() / spans_per_round.max(1)
    );

    // 1. The generator alone, on this thread.
    let alone = settings(None);
    let mut all = Vec::with_capacity(requests.len() * args.rounds);
    for _ in 0..args.rounds {
        all.extend(requests.iter().cloned());
    }
    let (cpu, wall) = (cpu_time(), Instant::now());
    let counted = count_requests(&alone, &all, args.collect_every);
    let (cpu, wall) = (cpu_time() - cpu, wall.elapsed().as_secs_f64());
    println!(
        "generator alone: {} spans in {wall:.2} s (CPU {cpu:.2} s): {:.0} spans/s per core; \
         {} series, {} samples collected",
        counted.spans,
        counted.spans as f64 / cpu.max(1e-9),
        counted.series,
        counted.samples
    );

    // 2. Ingest with the generator off, then on.
    let received = Arc::new(AtomicU64::new(0));
    let sink = {
        let received = Arc::clone(&received);
        Router::new().route(
            "/api/v1/write",
            post(move || {
                received.fetch_add(1, Ordering::Relaxed);
                async { "" }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let target = format!("http://{}/api/v1/write", listener.local_addr()?);
    let receiver = tokio::spawn(async move { axum::serve(listener, sink).await });

    let off = ingest(&args, &payloads, None).await?;
    println!(
        "ingest, generator off: {} spans in {:.2} s: {:.0} spans/s, {:.2} CPU s per million spans",
        off.spans,
        off.wall,
        off.spans as f64 / off.wall,
        off.cpu / (off.spans as f64 / 1e6)
    );
    let on = ingest(&args, &payloads, Some(settings(Some(target)))).await?;
    println!(
        "ingest, generator on:  {} spans in {:.2} s: {:.0} spans/s, {:.2} CPU s per million spans \
         (generator counted {}, shed {}, drained after {:.2} s)",
        on.spans,
        on.wall,
        on.spans as f64 / on.wall,
        on.cpu / (on.spans as f64 / 1e6),
        on.counted,
        on.shed,
        on.drained
    );
    receiver.abort();
    Ok(Outcome {
        alone_spans: counted.spans,
        series: counted.series,
        ingested_off: off.spans,
        ingested_on: on.spans,
        counted_on: on.counted,
        remote_writes: received.load(Ordering::Relaxed),
    })
}

struct IngestRun {
    spans: u64,
    /// Seconds until every push was acknowledged.
    wall: f64,
    /// CPU seconds of the process until then and until the generator drained.
    cpu: f64,
    counted: u64,
    shed: u64,
    /// Seconds from the last acknowledgement until the generator had every span.
    drained: f64,
}

async fn ingest(
    args: &GeneratorArgs,
    payloads: &[generate::Payload],
    settings: Option<GeneratorSettings>,
) -> anyhow::Result<IngestRun> {
    let dir = args.dir.join(if settings.is_some() { "on" } else { "off" });
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("empty {}", dir.display()))?;
    }
    let limits = Limits {
        ingestion_rate_bytes: u64::MAX,
        ingestion_burst_bytes: u64::MAX,
        max_traces_per_tenant: u64::MAX,
        ..Limits::default()
    };
    let on = settings.is_some();
    let tenants: Arc<dyn TenantDirectory> = Arc::new(Directory {
        limits: Arc::new(limits),
        settings: settings.map(Arc::new),
    });
    let mut config = PipelineConfig::default();
    config.wal.dir = dir.clone();
    config.ingester.max_live_bytes = 16 << 30;
    let mut registry = Registry::default();
    let pipeline = Pipeline::open(config, Arc::clone(&tenants), None, &mut registry)?;
    let generator = Generator::start(
        GeneratorConfig {
            collection_interval: Duration::from_secs(1),
            ..GeneratorConfig::default()
        },
        tenants,
        &mut registry,
    )?;
    pipeline.feed_generator(generator.feed());
    let tenant = TenantId::new(TENANT)?;
    let next = Arc::new(AtomicU64::new(0));
    let (cpu, wall) = (cpu_time(), Instant::now());
    let mut tasks = tokio::task::JoinSet::new();
    let payloads = Arc::new(payloads.to_vec());
    for _ in 0..args.concurrency {
        let (pipeline, tenant, next) = (Arc::clone(&pipeline), tenant.clone(), Arc::clone(&next));
        let payloads = Arc::clone(&payloads);
        let pushes = args.pushes as u64;
        tasks.spawn(async move {
            let mut spans = 0u64;
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq >= pushes {
                    return Ok::<_, anyhow::Error>(spans);
                }
                // Trace IDs never repeat across pushes (a request holds far fewer traces).
                let body = payloads[seq as usize % payloads.len()]
                    .with_fresh_trace_ids(7, seq * 1_000_000);
                let payload = Payload {
                    format: PayloadFormat::OtlpProtobuf,
                    body,
                };
                spans += pipeline.push(&tenant, payload).await?.accepted_spans;
            }
        });
    }
    let mut spans = 0;
    while let Some(done) = tasks.join_next().await {
        spans += done??;
    }
    let elapsed = wall.elapsed().as_secs_f64();
    let acked = Instant::now();
    let value = |name: &str| {
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        let series = format!("{name}{{tenant=\"{TENANT}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(series.as_str())?.parse::<f64>().ok())
            .unwrap_or(0.0) as u64
    };
    let (mut counted, mut shed) = (0, 0);
    if on {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            counted = value("sextant_generator_spans_received_total");
            shed = value("sextant_generator_spans_shed_total");
            if counted + shed >= spans || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let drained = acked.elapsed().as_secs_f64();
    let cpu = cpu_time() - cpu;
    pipeline.close().await?;
    generator.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(IngestRun {
        spans,
        wall: elapsed,
        cpu,
        counted,
        shed,
        drained,
    })
}
