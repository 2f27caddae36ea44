//! `sextant bench`: read benchmarks over blocks written directly (not through ingest); never
//! run in CI.
//!
//! `gen-blocks` writes loadgen-shaped blocks under `<out-dir>/<tenant>/blocks/<id>/` and keeps a
//! sample of the trace IDs it wrote in `<out-dir>/<tenant>/bench-trace-ids.txt`;
//! `trace-by-id` looks random sampled IDs up across every block (bloom pre-filter, then one row
//! group) and prints latency percentiles; `search` times TraceQL searches and tag-values
//! queries through the real read path over the same blocks; `metrics` times TraceQL metrics
//! queries there; `compaction` writes its own small blocks and times merging them.

mod auth;
mod compaction;
mod generator;
mod metrics;
mod search;

use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use prost::Message;
use rand::Rng;
use sextant_model::otlp::{ResourceSpans, ScopeSpans, TracesData};
use sextant_model::{TenantId, TraceId};
use sextant_store::{BlockCaches, BlockOptions, find_trace, write_block};

use crate::loadgen::generate;

const TRACE_ID_FILE: &str = "bench-trace-ids.txt";
/// One trace ID in this many is kept in the sample file.
const SAMPLE_EVERY: usize = 50;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum BenchCommand {
    /// Write loadgen-shaped blocks straight to a directory.
    GenBlocks(GenBlocksArgs),
    /// Measure trace-by-ID latency over blocks written by `gen-blocks`.
    TraceById(TraceByIdArgs),
    /// Measure the cost of authenticating a key against the in-memory tenant snapshot.
    Auth(auth::AuthArgs),
    /// Measure TraceQL search throughput and tag-values latency over blocks written by
    /// `gen-blocks`.
    Search(search::SearchArgs),
    /// Measure TraceQL metrics latency and spans/s per core over blocks written by `gen-blocks`.
    Metrics(metrics::MetricsArgs),
    /// Write small blocks with some duplicated spans, compact them into one and report MB/s
    /// per core and bytes per span before and after.
    Compaction(compaction::CompactionArgs),
    /// Measure the metrics generator's spans/s per core, and ingest with it off and on.
    Generator(generator::GeneratorArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct GenBlocksArgs {
    #[arg(long)]
    out_dir: PathBuf,
    /// Stop after this many bytes of blocks (suffixes K, M, G accepted: 1G).
    #[arg(long, value_parser = parse_bytes)]
    bytes: u64,
    #[arg(long, default_value = "single-tenant")]
    tenant: String,
    #[arg(long, default_value_t = 200_000)]
    spans_per_block: usize,
    #[arg(long, default_value_t = BlockOptions::default().row_group_spans)]
    row_group_spans: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[derive(Debug, clap::Args)]
pub(crate) struct TraceByIdArgs {
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value = "single-tenant")]
    tenant: String,
    #[arg(long, default_value_t = 1_000)]
    lookups: usize,
}

fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => s.split_at(at),
        None => (s, ""),
    };
    let n: u64 = digits
        .parse()
        .map_err(|e| format!("bad byte count {s:?}: {e}"))?;
    let mult = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        other => return Err(format!("unknown byte unit {other:?}")),
    };
    Ok(n.saturating_mul(mult))
}

pub(crate) async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::GenBlocks(args) => gen_blocks(args).await,
        BenchCommand::TraceById(args) => trace_by_id(args).await,
        BenchCommand::Auth(args) => auth::auth(args).await,
        BenchCommand::Search(args) => search::search(args).await.map(|_| ()),
        BenchCommand::Metrics(args) => metrics::metrics(args).await.map(|_| ()),
        BenchCommand::Compaction(args) => compaction::compaction(args).await.map(|_| ()),
        BenchCommand::Generator(args) => generator::generator(args).await.map(|_| ()),
    }
}

/// Splits a payload into one `TracesData` per trace, keeping resources and scopes.
fn split_by_trace(data: TracesData) -> Vec<(TraceId, TracesData)> {
    let mut order: Vec<TraceId> = Vec::new();
    let mut traces: HashMap<TraceId, TracesData> = HashMap::new();
    for rs in data.resource_spans {
        for ss in rs.scope_spans {
            let mut by_trace: HashMap<TraceId, ScopeSpans> = HashMap::new();
            let mut local: Vec<TraceId> = Vec::new();
            for span in ss.spans {
                let Some(id) = TraceId::from_slice(&span.trace_id) else {
                    continue;
                };
                by_trace
                    .entry(id)
                    .or_insert_with(|| {
                        local.push(id);
                        ScopeSpans {
                            scope: ss.scope.clone(),
                            spans: Vec::new(),
                            schema_url: ss.schema_url.clone(),
                        }
                    })
                    .spans
                    .push(span);
            }
            for id in local {
                let scope_spans = by_trace.remove(&id).into_iter().collect();
                traces
                    .entry(id)
                    .or_insert_with(|| {
                        order.push(id);
                        TracesData::default()
                    })
                    .resource_spans
                    .push(ResourceSpans {
                        resource: rs.resource.clone(),
                        scope_spans,
                        schema_url: rs.schema_url.clone(),
                    });
            }
        }
    }
    order
        .into_iter()
        .filter_map(|id| traces.remove(&id).map(|t| (id, t)))
        .collect()
}

async fn gen_blocks(args: GenBlocksArgs) -> anyhow::Result<()> {
    let tenant = TenantId::new(&args.tenant).context("bad tenant")?;
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("create {}", args.out_dir.display()))?;
    let store = LocalFileSystem::new_with_prefix(&args.out_dir).context("open out dir")?;
    let options = BlockOptions {
        row_group_spans: args.row_group_spans,
        ..BlockOptions::default()
    };
    let mut sample = String::new();
    // One block's worth of distinct payloads, generated once: each block reuses them with fresh
    // trace IDs, so content never repeats inside a block (sizes stay realistic) while
    // generation, which is far slower than writing, happens only once.
    let per_block = args.spans_per_block.div_ceil(100);
    let pool: Vec<generate::Payload> = (0..per_block as u64)
        .map(|i| generate::payload(args.seed.wrapping_mul(1_000_000).wrapping_add(i), 100, None))
        .collect();
    let (mut blocks, mut bytes, mut spans) = (0u64, 0u64, 0u64);
    let mut seq = 0u64;
    let mut encode_time = Duration::ZERO;
    let started = Instant::now();
    while bytes < args.bytes {
        let mut traces = Vec::new();
        let mut block_spans = 0;
        for payload in &pool {
            if block_spans >= args.spans_per_block {
                break;
            }
            let body = payload.with_fresh_trace_ids(args.seed, seq);
            seq += payload.trace_offsets.len() as u64;
            let data = TracesData::decode(body).context("decode payload")?;
            block_spans += payload.spans;
            traces.extend(split_by_trace(data));
        }
        for (n, (id, _)) in traces.iter().enumerate() {
            if n % SAMPLE_EVERY == 0 {
                sample.push_str(&id.to_hex());
                sample.push('\n');
            }
        }
        // A real block ID (32 hex digits), so the read path accepts these blocks.
        let block_id = format!(
            "{:032x}",
            0xbe4c_0000_0000_0000_0000_0000_0000_0000u128 + u128::from(blocks)
        );
        let prefix = Path::from(format!("{}/blocks/{block_id}", tenant.as_str()));
        let t = Instant::now();
        let info = write_block(&store, &prefix, &block_id, &tenant, traces, &options)
            .await
            .with_context(|| format!("write block {block_id}"))?;
        encode_time += t.elapsed();
        blocks += 1;
        bytes += info.total_bytes();
        spans += info.span_count;
        eprintln!(
            "block {block_id}: {} spans, {} bytes, {:.1} bytes/span",
            info.span_count,
            info.total_bytes(),
            info.total_bytes() as f64 / info.span_count.max(1) as f64
        );
    }
    let ids_path = args.out_dir.join(tenant.as_str()).join(TRACE_ID_FILE);
    std::fs::write(&ids_path, sample).with_context(|| format!("write {}", ids_path.display()))?;
    println!(
        "blocks written: {blocks}\nbytes: {bytes}\nspans: {spans}\nbytes/span: {:.1}\nwrite (encode + put): {:.0} spans/s\nwall: {:.1}s",
        bytes as f64 / spans.max(1) as f64,
        spans as f64 / encode_time.as_secs_f64().max(1e-9),
        started.elapsed().as_secs_f64(),
    );
    Ok(())
}

fn block_prefixes(dir: &FsPath, tenant: &TenantId) -> anyhow::Result<Vec<Path>> {
    let blocks = dir.join(tenant.as_str()).join("blocks");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&blocks).with_context(|| format!("list {}", blocks.display()))? {
        let entry = entry?;
        if entry.path().join(sextant_store::META_FILE).exists() {
            out.push(Path::from(format!(
                "{}/blocks/{}",
                tenant.as_str(),
                entry.file_name().to_string_lossy()
            )));
        }
    }
    out.sort();
    Ok(out)
}

async fn trace_by_id(args: TraceByIdArgs) -> anyhow::Result<()> {
    let tenant = TenantId::new(&args.tenant).context("bad tenant")?;
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(&args.dir).context("open dir")?);
    let prefixes = block_prefixes(&args.dir, &tenant)?;
    let ids_path = args.dir.join(tenant.as_str()).join(TRACE_ID_FILE);
    let ids: Vec<TraceId> = std::fs::read_to_string(&ids_path)
        .with_context(|| format!("read {}", ids_path.display()))?
        .lines()
        .filter_map(|l| TraceId::parse_hex(l.trim()).ok())
        .collect();
    anyhow::ensure!(
        !ids.is_empty() && !prefixes.is_empty(),
        "no blocks or trace ids"
    );
    let caches = BlockCaches::default();
    let mut rng = rand::rng();
    let mut latencies = Vec::with_capacity(args.lookups);
    let (mut inspected, mut missing, mut first) = (0u64, 0usize, None);
    for _ in 0..args.lookups {
        let id = ids[rng.random_range(0..ids.len())];
        let started = Instant::now();
        let mut found = false;
        for prefix in &prefixes {
            if let Some((_, bytes)) = find_trace(store.as_ref(), prefix, id, &caches).await? {
                inspected += bytes;
                found = true;
            }
        }
        let took = started.elapsed();
        first.get_or_insert(took);
        latencies.push(took);
        missing += usize::from(!found);
    }
    latencies.sort();
    let pct = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    let (bloom_bytes, footer_bytes) = caches.held_bytes();
    println!(
        "blocks: {}\nlookups: {}\nnot found: {missing}\nfirst (cold caches): {:?}\np50: {:?}\np99: {:?}\nmax: {:?}\nbytes inspected per lookup: {}\ncached bloom bytes: {bloom_bytes}\ncached footer bytes: {footer_bytes}",
        prefixes.len(),
        latencies.len(),
        first.unwrap_or_default(),
        pct(50),
        pct(99),
        latencies[latencies.len() - 1],
        inspected / latencies.len().max(1) as u64,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_parse() {
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512M").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        assert!(parse_bytes("1X").is_err());
    }

    #[tokio::test]
    async fn generated_blocks_are_found_by_trace_by_id() {
        let dir = tempfile::tempdir().unwrap();
        gen_blocks(GenBlocksArgs {
            out_dir: dir.path().to_owned(),
            bytes: 1,
            tenant: "tn1".into(),
            spans_per_block: 500,
            row_group_spans: 100,
            seed: 1,
        })
        .await
        .unwrap();
        let tenant = TenantId::new("tn1").unwrap();
        let prefixes = block_prefixes(dir.path(), &tenant).unwrap();
        assert_eq!(prefixes.len(), 1);
        let ids = std::fs::read_to_string(dir.path().join("tn1").join(TRACE_ID_FILE)).unwrap();
        let store = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        let caches = BlockCaches::default();
        for line in ids.lines() {
            let id = TraceId::parse_hex(line).unwrap();
            let found = find_trace(&store, &prefixes[0], id, &caches).await.unwrap();
            assert!(found.is_some(), "trace {line} not found");
        }
    }

    #[tokio::test]
    async fn search_bench_runs_over_generated_blocks() {
        let dir = tempfile::tempdir().unwrap();
        gen_blocks(GenBlocksArgs {
            out_dir: dir.path().to_owned(),
            bytes: 1,
            tenant: "tn1".into(),
            spans_per_block: 500,
            row_group_spans: 100,
            seed: 1,
        })
        .await
        .unwrap();
        let parsed = <crate::cli::Cli as clap::Parser>::try_parse_from([
            "sextant",
            "bench",
            "search",
            "--dir",
            dir.path().to_str().unwrap(),
            "--tenant",
            "tn1",
            "--runs",
            "1",
        ]);
        assert!(parsed.is_ok(), "{parsed:?}");
        let args = search::SearchArgs::for_test(dir.path().to_owned(), "tn1");
        let found = search::search(args).await.unwrap();
        assert!(found.inspected_bytes > 0, "the searches examined nothing");
        assert!(
            found.traces > 0,
            "`{{ span.http.response.status_code = 500 }}` found nothing"
        );
        assert!(found.tag_values > 0, "tag values found nothing");
        assert!(
            !dir.path().join(".bench-search").exists(),
            "the throwaway catalog is left behind"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn compaction_bench_merges_its_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let parsed = <crate::cli::Cli as clap::Parser>::try_parse_from([
            "sextant",
            "bench",
            "compaction",
            "--dir",
            dir.path().to_str().unwrap(),
            "--blocks",
            "3",
        ]);
        assert!(parsed.is_ok(), "{parsed:?}");
        let args = compaction::CompactionArgs::for_test(dir.path().to_owned());
        let outcome = compaction::compaction(args).await.unwrap();
        assert_eq!(outcome.output_blocks, 1);
        assert!(outcome.duplicates > 0, "no duplicates were dropped");
        assert_eq!(
            outcome.output_spans + outcome.duplicates,
            outcome.input_spans
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn generator_bench_counts_every_span_with_the_generator_on() {
        let dir = tempfile::tempdir().unwrap();
        let args = generator::GeneratorArgs::for_test(dir.path().to_owned());
        let outcome = generator::generator(args).await.unwrap();
        assert_eq!(outcome.alone_spans, 200, "4 requests of 50 spans, once");
        assert!(outcome.series > 0);
        assert_eq!(outcome.ingested_off, 400, "8 pushes of 50 spans");
        assert_eq!(outcome.ingested_on, 400);
        assert_eq!(outcome.counted_on, 400, "the generator counted every span");
        assert!(outcome.remote_writes > 0, "series were remote-written");
    }

    #[tokio::test]
    async fn metrics_bench_runs_over_generated_blocks() {
        let dir = tempfile::tempdir().unwrap();
        gen_blocks(GenBlocksArgs {
            out_dir: dir.path().to_owned(),
            bytes: 1,
            tenant: "tn1".into(),
            spans_per_block: 500,
            row_group_spans: 100,
            seed: 1,
        })
        .await
        .unwrap();
        let parsed = <crate::cli::Cli as clap::Parser>::try_parse_from([
            "sextant",
            "bench",
            "metrics",
            "--dir",
            dir.path().to_str().unwrap(),
            "--tenant",
            "tn1",
            "--range",
            "30m",
        ]);
        assert!(parsed.is_ok(), "{parsed:?}");
        let args = metrics::MetricsArgs::for_test(dir.path().to_owned(), "tn1");
        let found = metrics::metrics(args).await.unwrap();
        assert!(found.spans > 0, "the query examined no spans");
        assert!(found.series > 0, "no series by service");
        assert!(
            !dir.path().join(".bench-metrics").exists(),
            "the throwaway catalog is left behind"
        );
    }
}
