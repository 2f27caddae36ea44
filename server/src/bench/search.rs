//! `sextant bench search`: TraceQL search and tag-values queries through the real read path
//! (catalog → storage pre-filter → TraceQL evaluation) over blocks written by `gen-blocks`.
//!
//! The blocks are registered in a throwaway SQLite catalog under `<dir>/.bench-search/`, a
//! pipeline is opened on them as `serve` would (no live data), and each query runs `--runs`
//! times. Throughput is Tempo's measure: `inspectedBytes` (uncompressed OTLP bytes of the spans
//! examined) per second of this process's CPU time, so it reads as MB/s per core.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use prometheus_client::registry::Registry;
use sextant_model::{
    BlockCatalog, Limits, SearchQuery, SearchRequest, TagRef, TagValuesRequest, TenantDirectory,
    TenantId, TimeRange, TraceSearcher,
};
use sextant_pipeline::{BlockBackend, Pipeline, PipelineConfig};
use sextant_store::BlockInfo;
use sextant_tenancy::{Database, DatabaseOptions};

use crate::loadgen::cpu_time;

#[derive(Debug, clap::Args)]
pub(crate) struct SearchArgs {
    /// A directory written by `sextant bench gen-blocks`.
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value = "single-tenant")]
    tenant: String,
    /// TraceQL queries to time (repeat the flag for several).
    #[arg(long = "query", default_values_t = [
        r#"{ span.http.response.status_code = 500 }"#.to_string(),
        r#"{ resource.service.name = "checkout" && span.http.route = "/api/checkout" }"#.to_string(),
        r#"{ span.app.user_id = 1234567 }"#.to_string(),
        r#"{ span.http.route =~ "/api/cart.*" && duration > 30ms }"#.to_string(),
    ])]
    queries: Vec<String>,
    /// v2 tag-values identifiers to time (repeat the flag for several).
    #[arg(long = "tag-values", default_values_t = [
        "resource.service.name".to_string(),
        "span.http.route".to_string(),
    ])]
    tag_values: Vec<String>,
    /// Runs of each query; the first also warms the footer cache.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Traces returned per search.
    #[arg(long, default_value_t = 20)]
    limit: u32,
}

/// Every tenant gets limits that never stop a benchmark query.
struct Unlimited(Arc<Limits>);

impl TenantDirectory for Unlimited {
    fn limits(&self, _tenant: &TenantId) -> Arc<Limits> {
        Arc::clone(&self.0)
    }
}

impl SearchArgs {
    /// One run of the default queries over `dir`.
    #[cfg(test)]
    pub(crate) fn for_test(dir: PathBuf, tenant: &str) -> Self {
        Self {
            dir,
            tenant: tenant.to_owned(),
            queries: vec![r#"{ span.http.response.status_code = 500 }"#.to_owned()],
            tag_values: vec!["resource.service.name".to_owned()],
            runs: 1,
            limit: 20,
        }
    }
}

/// Totals over every run, for the caller to check.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub(crate) inspected_bytes: u64,
    pub(crate) traces: usize,
    pub(crate) tag_values: usize,
}

/// A pipeline opened as `serve` would (no live data) on the blocks of a `gen-blocks` directory,
/// registered in a throwaway SQLite catalog under `<dir>/<work>/` (removed on drop).
pub(crate) struct BenchPipeline {
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) tenant: TenantId,
    /// Every block's range together.
    pub(crate) range: TimeRange,
    work: PathBuf,
}

impl Drop for BenchPipeline {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.work).ok();
    }
}

impl BenchPipeline {
    pub(crate) async fn open(dir: &Path, tenant: &str, work: &str) -> anyhow::Result<Self> {
        let tenant = TenantId::new(tenant).context("bad tenant")?;
        let work = dir.join(work);
        if work.exists() {
            std::fs::remove_dir_all(&work).with_context(|| format!("clear {}", work.display()))?;
        }
        std::fs::create_dir_all(work.join("wal"))?;
        let db_url = format!("sqlite://{}", work.join("catalog.db").display());
        let db = Arc::new(
            Database::connect(
                &db_url,
                &DatabaseOptions {
                    migrate: true,
                    ..DatabaseOptions::default()
                },
            )
            .await
            .context("open the benchmark catalog")?,
        );
        let prefixes = super::block_prefixes(dir, &tenant)?;
        anyhow::ensure!(!prefixes.is_empty(), "no blocks under {}", dir.display());
        let (mut range, mut block_bytes) = (None::<TimeRange>, 0u64);
        for prefix in &prefixes {
            let path = dir.join(prefix.as_ref()).join(sextant_store::META_FILE);
            let info: BlockInfo = serde_json::from_slice(
                &std::fs::read(&path).with_context(|| format!("read {}", path.display()))?,
            )
            .with_context(|| format!("parse {}", path.display()))?;
            let meta = info.to_block_meta()?;
            block_bytes += meta.size_bytes;
            range = Some(match range {
                None => meta.range,
                Some(r) => TimeRange::new(r.start.min(meta.range.start), r.end.max(meta.range.end)),
            });
            db.register(meta).await?;
        }
        let range = range.context("no block ranges")?;
        let limits = Limits {
            max_search_duration: Duration::from_nanos(range.end - range.start + 1),
            max_metrics_duration: Duration::from_nanos(range.end - range.start + 1),
            max_search_bytes: 0,
            search_timeout: Duration::from_secs(3600),
            ..Limits::default()
        };
        let store: Arc<dyn ObjectStore> =
            Arc::new(LocalFileSystem::new_with_prefix(dir).context("open dir")?);
        let mut config = PipelineConfig::default();
        config.wal.dir = work.join("wal");
        let mut registry = Registry::default();
        let pipeline = Pipeline::open(
            config,
            Arc::new(Unlimited(Arc::new(limits))),
            Some(BlockBackend {
                store,
                catalog: db.clone() as Arc<dyn BlockCatalog>,
            }),
            &mut registry,
        )?;
        println!(
            "blocks: {}\nblock bytes: {block_bytes}\nrange: {} s",
            prefixes.len(),
            (range.end - range.start) / 1_000_000_000
        );
        Ok(Self {
            pipeline,
            tenant,
            range,
            work,
        })
    }
}

pub(crate) async fn search(args: SearchArgs) -> anyhow::Result<Totals> {
    let mut totals = Totals::default();
    let bench = BenchPipeline::open(&args.dir, &args.tenant, ".bench-search").await?;
    let (pipeline, tenant, range) = (&bench.pipeline, &bench.tenant, bench.range);
    println!("| query | run | traces | inspected MB | wall s | CPU s | MB/s per core |");
    println!("|---|---|---|---|---|---|---|");
    for query in &args.queries {
        for run in 1..=args.runs {
            let (cpu, wall) = (cpu_time(), Instant::now());
            let answer = pipeline
                .search(
                    tenant,
                    SearchRequest {
                        query: SearchQuery::TraceQl(query.clone()),
                        range: Some(range),
                        min_duration: None,
                        max_duration: None,
                        limit: args.limit,
                        spans_per_spanset: 3,
                    },
                )
                .await
                .with_context(|| format!("search {query}"))?;
            let (cpu, wall) = (cpu_time() - cpu, wall.elapsed().as_secs_f64());
            totals.inspected_bytes += answer.metrics.inspected_bytes;
            totals.traces += answer.traces.len();
            let mb = answer.metrics.inspected_bytes as f64 / 1e6;
            println!(
                "| `{query}` | {run} | {} | {mb:.1} | {wall:.2} | {cpu:.2} | {:.0} |",
                answer.traces.len(),
                mb / cpu.max(1e-9)
            );
        }
    }
    println!("\n| tag values | run | values | inspected MB | wall s | CPU s |");
    println!("|---|---|---|---|---|---|");
    for tag in &args.tag_values {
        for run in 1..=args.runs {
            let (cpu, wall) = (cpu_time(), Instant::now());
            let answer = pipeline
                .tag_values(
                    tenant,
                    TagValuesRequest {
                        tag: TagRef::Identifier(tag.clone()),
                        range: Some(range),
                        query: None,
                        limit: 0,
                    },
                )
                .await
                .with_context(|| format!("tag values of {tag}"))?;
            let (cpu, wall) = (cpu_time() - cpu, wall.elapsed().as_secs_f64());
            totals.tag_values += answer.values.len();
            println!(
                "| `{tag}` | {run} | {} | {:.1} | {wall:.2} | {cpu:.2} |",
                answer.values.len(),
                answer.metrics.inspected_bytes as f64 / 1e6
            );
        }
    }
    drop(bench);
    Ok(totals)
}
