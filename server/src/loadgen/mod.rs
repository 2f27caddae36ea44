//! `sextant loadgen`: sends realistic traces (several services, parent/child spans, events,
//! about 500 bytes per span) at a target rate or flat out, over OTLP gRPC or HTTP, and reports
//! sent, acknowledged and rejected spans, rates, its own CPU use, and the rate at which one core
//! decodes the same payloads with prost (the baseline DESIGN.md §10's ratio is taken against).
//!
//! Payloads are generated and encoded once; each send copies one and overwrites its trace IDs in
//! place, so the generator costs almost nothing next to the server it measures.

pub(crate) mod generate;
mod send;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use prost::Message;
use sextant_model::otlp::TracesData;

use generate::Payload;
use send::{Outcome, Sender};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Protocol {
    Grpc,
    Http,
}

/// What to send, where, how fast and for how long.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct LoadgenArgs {
    /// Base URL: `http://127.0.0.1:4317` for gRPC, `http://127.0.0.1:4318` for HTTP.
    #[arg(long)]
    pub(crate) endpoint: Option<String>,
    #[arg(long, value_enum, default_value = "grpc")]
    pub(crate) protocol: Protocol,
    /// Sent as `X-Scope-OrgID`.
    #[arg(long)]
    pub(crate) tenant: Option<String>,
    /// Extra request header `Name: value` (repeatable), e.g. an Authorization header.
    #[arg(long = "header")]
    pub(crate) headers: Vec<String>,
    /// Target spans per second; 0 sends flat out.
    #[arg(long, default_value_t = 0)]
    pub(crate) rate: u64,
    /// How long to send.
    #[arg(long, default_value = "10s")]
    pub(crate) duration: humantime::Duration,
    /// Stop after this many spans (whichever of duration and count comes first).
    #[arg(long)]
    pub(crate) count: Option<u64>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub(crate) concurrency: usize,
    #[arg(long, default_value_t = 100)]
    pub(crate) spans_per_request: usize,
    /// Distinct pre-encoded payloads to cycle through.
    #[arg(long, default_value_t = 32)]
    pub(crate) payloads: usize,
    /// Compress requests with gzip.
    #[arg(long)]
    pub(crate) gzip: bool,
    /// Skip the single-core prost decode baseline.
    #[arg(long)]
    pub(crate) no_baseline: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
    /// Seed for the generated data.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    sent_spans: AtomicU64,
    acked_spans: AtomicU64,
    rejected_spans: AtomicU64,
    failed_requests: AtomicU64,
    failed_spans: AtomicU64,
    bytes: AtomicU64,
    trace_seq: AtomicU64,
}

pub(crate) async fn run(args: LoadgenArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    anyhow::ensure!(
        args.spans_per_request > 0,
        "--spans-per-request must be at least 1"
    );
    // Sent traces start now (a minute back, so none is in the future on a skewed clock).
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .saturating_sub(60_000_000_000);
    let payloads: Arc<Vec<Payload>> = Arc::new(
        (0..args.payloads.max(1))
            .map(|i| {
                generate::payload(
                    args.seed.wrapping_add(i as u64),
                    args.spans_per_request,
                    Some(start),
                )
            })
            .collect(),
    );
    let avg_span_bytes = payloads.iter().map(|p| p.bytes.len()).sum::<usize>() as f64
        / payloads.iter().map(|p| p.spans).sum::<usize>() as f64;
    let sender = Sender::new(&args)
        .await
        .context("cannot reach the endpoint")?;
    let counters = Arc::new(Counters::default());
    // Trace IDs are unique per run: a random run prefix plus a counter.
    let run_prefix: u64 = rand::random();
    let start = Instant::now();
    let deadline = start + Duration::from(args.duration);
    let request_interval_ns = if args.rate > 0 {
        (1e9 * args.spans_per_request as f64 / args.rate as f64) as u64
    } else {
        0
    };
    let next_slot = Arc::new(AtomicU64::new(0));
    let cpu_before = cpu_time();

    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..args.concurrency {
        let (sender, counters, payloads, next_slot) = (
            sender.clone(),
            counters.clone(),
            payloads.clone(),
            next_slot.clone(),
        );
        let (count, spans_per_request) = (args.count, args.spans_per_request as u64);
        workers.spawn(async move {
            let mut i = worker;
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                if let Some(limit) = count {
                    let claimed = counters
                        .sent_spans
                        .fetch_add(spans_per_request, Ordering::Relaxed);
                    if claimed >= limit {
                        counters
                            .sent_spans
                            .fetch_sub(spans_per_request, Ordering::Relaxed);
                        break;
                    }
                } else {
                    counters
                        .sent_spans
                        .fetch_add(spans_per_request, Ordering::Relaxed);
                }
                if request_interval_ns > 0 {
                    let slot = next_slot.fetch_add(request_interval_ns, Ordering::Relaxed);
                    let at = start + Duration::from_nanos(slot);
                    if at >= deadline {
                        counters
                            .sent_spans
                            .fetch_sub(spans_per_request, Ordering::Relaxed);
                        break;
                    }
                    tokio::time::sleep_until(at.into()).await;
                }
                let payload = &payloads[i % payloads.len()];
                i += 1;
                let seq = counters
                    .trace_seq
                    .fetch_add(payload.trace_offsets.len() as u64, Ordering::Relaxed);
                let body = payload.with_fresh_trace_ids(run_prefix, seq);
                counters
                    .bytes
                    .fetch_add(body.len() as u64, Ordering::Relaxed);
                counters.requests.fetch_add(1, Ordering::Relaxed);
                let spans = payload.spans as u64;
                match sender.send(body).await {
                    Outcome::Accepted { rejected } => {
                        counters
                            .acked_spans
                            .fetch_add(spans - rejected.min(spans), Ordering::Relaxed);
                        counters
                            .rejected_spans
                            .fetch_add(rejected.min(spans), Ordering::Relaxed);
                    }
                    Outcome::Failed(reason) => {
                        counters.failed_requests.fetch_add(1, Ordering::Relaxed);
                        counters.failed_spans.fetch_add(spans, Ordering::Relaxed);
                        tracing::debug!(%reason, "request failed");
                        if counters.failed_requests.load(Ordering::Relaxed) <= 3 {
                            eprintln!("request failed: {reason}");
                        }
                    }
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_time() - cpu_before;

    let baseline = if args.no_baseline {
        None
    } else {
        Some(decode_baseline(&payloads))
    };
    let acked = counters.acked_spans.load(Ordering::Relaxed);
    let summary = serde_json::json!({
        "protocol": format!("{:?}", args.protocol).to_lowercase(),
        "seconds": elapsed,
        "requests": counters.requests.load(Ordering::Relaxed),
        "sent_spans": counters.sent_spans.load(Ordering::Relaxed),
        "acknowledged_spans": acked,
        "rejected_spans": counters.rejected_spans.load(Ordering::Relaxed),
        "failed_requests": counters.failed_requests.load(Ordering::Relaxed),
        "failed_spans": counters.failed_spans.load(Ordering::Relaxed),
        "acknowledged_spans_per_second": acked as f64 / elapsed,
        "payload_megabytes_per_second": counters.bytes.load(Ordering::Relaxed) as f64 / elapsed / 1e6,
        "average_span_bytes": avg_span_bytes,
        "loadgen_cpu_cores": cpu / elapsed,
        "prost_decode_spans_per_second_one_core": baseline,
        "ratio_to_prost_decode": baseline.map(|b| acked as f64 / elapsed / b),
    });
    if args.json {
        println!("{summary}");
    } else {
        println!("loadgen summary ({:?}, {:.1} s)", args.protocol, elapsed);
        if let serde_json::Value::Object(map) = &summary {
            for (k, v) in map {
                println!("  {k:<40} {v}");
            }
        }
    }
    Ok(())
}

/// Spans per second one core decodes the same payloads into the span model with prost.
fn decode_baseline(payloads: &[Payload]) -> f64 {
    let start = Instant::now();
    let mut spans = 0usize;
    while start.elapsed() < Duration::from_secs(2) {
        for payload in payloads {
            let decoded =
                TracesData::decode(payload.bytes.as_slice()).expect("own payload decodes");
            spans += decoded
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum::<usize>();
        }
    }
    spans as f64 / start.elapsed().as_secs_f64()
}

/// User + system CPU seconds of this process.
pub(crate) fn cpu_time() -> f64 {
    let usage = rusage();
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

#[expect(unsafe_code, reason = "getrusage is the way to read our own CPU time")]
fn rusage() -> libc::rusage {
    // SAFETY: getrusage writes a plain struct through a valid pointer.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    }
}
