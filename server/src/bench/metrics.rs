//! `sextant bench metrics`: TraceQL metrics queries through the real read path (catalog →
//! storage pre-filter → evaluation into series) over blocks written by `gen-blocks`, each over
//! the last `--range` of the blocks' time span. Reports latency and spans examined per second
//! of this process's CPU time (spans/s per core).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use sextant_model::{MetricsQuerier, MetricsRequest, NoProgress};

use super::search::BenchPipeline;
use crate::loadgen::cpu_time;

#[derive(Debug, clap::Args)]
pub(crate) struct MetricsArgs {
    /// A directory written by `sextant bench gen-blocks`.
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value = "single-tenant")]
    tenant: String,
    /// TraceQL metrics queries to time (repeat the flag for several).
    #[arg(long = "query", default_values_t = [
        "{ } | rate() by (resource.service.name)".to_string(),
    ])]
    queries: Vec<String>,
    /// The time range queried: the last stretch of this length of the blocks' span.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
    range: Duration,
    /// Step (0: Tempo's default for the range).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    step: Duration,
    /// Runs of each query; the first also warms the footer cache.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

impl MetricsArgs {
    /// One run of the default query over `dir`.
    #[cfg(test)]
    pub(crate) fn for_test(dir: PathBuf, tenant: &str) -> Self {
        Self {
            dir,
            tenant: tenant.to_owned(),
            queries: vec!["{ } | rate() by (resource.service.name)".to_owned()],
            range: Duration::from_secs(3600),
            step: Duration::ZERO,
            runs: 1,
        }
    }
}

/// Totals over every run, for the caller to check.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub(crate) spans: u64,
    pub(crate) series: usize,
}

pub(crate) async fn metrics(args: MetricsArgs) -> anyhow::Result<Totals> {
    let mut totals = Totals::default();
    let bench = BenchPipeline::open(&args.dir, &args.tenant, ".bench-metrics").await?;
    let end = bench.range.end;
    let start = end
        .saturating_sub(args.range.as_nanos() as u64)
        .max(bench.range.start);
    println!("query range: {} s", (end - start) / 1_000_000_000);
    println!(
        "| query | run | series | spans examined | inspected MB | wall s | CPU s | spans/s per core |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for query in &args.queries {
        for run in 1..=args.runs {
            let (cpu, wall) = (cpu_time(), Instant::now());
            let answer = bench
                .pipeline
                .query_range(
                    &bench.tenant,
                    MetricsRequest {
                        query: query.clone(),
                        start,
                        end,
                        step: args.step.as_nanos() as u64,
                        instant: false,
                        exemplars: 0,
                        max_series: 0,
                    },
                    &NoProgress,
                )
                .await
                .with_context(|| format!("metrics query {query}"))?;
            let (cpu, wall) = (cpu_time() - cpu, wall.elapsed().as_secs_f64());
            let spans = answer.metrics.inspected_spans;
            totals.spans += spans;
            totals.series += answer.series.len();
            println!(
                "| `{query}` | {run} | {} | {spans} | {:.1} | {wall:.2} | {cpu:.2} | {:.0} |",
                answer.series.len(),
                answer.metrics.inspected_bytes as f64 / 1e6,
                spans as f64 / cpu.max(1e-9)
            );
        }
    }
    Ok(totals)
}
