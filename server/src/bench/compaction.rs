//! `sextant bench compaction`: writes `--blocks` small loadgen-shaped blocks (each repeating a
//! share of the previous block's traces, as re-flushes do), registers them in a throwaway
//! SQLite catalog, runs one compactor pass that merges them into one block (duplicate spans
//! dropped), and reports input MB per CPU-second of this process (MB/s per core: reading,
//! decoding, merging, encoding and writing, every thread counted) and bytes per span before and
//! after.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use sextant_model::{BlockCatalog, Limits, TenantDirectory, TenantId};
use sextant_store::{
    BlockId, BlockOptions, BlockPath, CompactionMetrics, Compactor, CompactorConfig,
    CompactorParts, write_block,
};
use sextant_tenancy::{Database, SqliteStore};

use crate::loadgen::cpu_time;

#[derive(Debug, clap::Args)]
pub(crate) struct CompactionArgs {
    /// Directory for the blocks (created; blocks go under `<dir>/<tenant>/blocks/`).
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value = "single-tenant")]
    tenant: String,
    /// Input blocks to write and merge.
    #[arg(long, default_value_t = 8)]
    blocks: usize,
    #[arg(long, default_value_t = 50_000)]
    spans_per_block: usize,
    /// Percent of each block's traces repeated in the next block (duplicate spans).
    #[arg(long, default_value_t = 10)]
    duplicate_percent: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

impl CompactionArgs {
    #[cfg(test)]
    pub(crate) fn for_test(dir: PathBuf) -> Self {
        Self {
            dir,
            tenant: "tn1".to_owned(),
            blocks: 3,
            spans_per_block: 300,
            duplicate_percent: 20,
            seed: 1,
        }
    }
}

/// What the run measured, for the caller to check.
#[derive(Debug)]
#[cfg_attr(not(test), expect(dead_code, reason = "read by the smoke test"))]
pub(crate) struct Outcome {
    pub(crate) input_spans: u64,
    pub(crate) output_spans: u64,
    pub(crate) duplicates: u64,
    pub(crate) output_blocks: usize,
}

struct KeepForever;

impl TenantDirectory for KeepForever {
    fn limits(&self, _tenant: &TenantId) -> Arc<Limits> {
        Arc::new(Limits {
            block_retention: Duration::ZERO,
            ..Limits::default()
        })
    }
}

pub(crate) async fn compaction(args: CompactionArgs) -> anyhow::Result<Outcome> {
    let tenant = TenantId::new(&args.tenant).context("bad tenant")?;
    std::fs::create_dir_all(&args.dir).with_context(|| format!("create {}", args.dir.display()))?;
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(&args.dir).context("open dir")?);
    let catalog = Arc::new(Database::Sqlite(
        SqliteStore::open_in_memory()
            .await
            .context("open a throwaway catalog")?,
    ));
    let (mut input_bytes, mut input_spans) = (0u64, 0u64);
    let mut previous = Vec::new();
    for n in 0..args.blocks {
        let mut traces = sextant_model::synth::traces(
            args.seed.wrapping_mul(1_000).wrapping_add(n as u64),
            args.spans_per_block,
            sextant_model::synth::MINUTE_START_SPREAD_NS,
        );
        let fresh = traces.clone();
        let repeat = previous.len() * args.duplicate_percent.min(100) / 100;
        traces.extend(previous.drain(..).take(repeat));
        previous = fresh;
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&0xbe4c_c0de_u64.to_be_bytes());
        id[8..].copy_from_slice(&(n as u64).to_be_bytes());
        let block = BlockId::from_bytes(id);
        let info = write_block(
            store.as_ref(),
            &BlockPath::block_prefix(&tenant, block),
            &block.to_string(),
            &tenant,
            traces,
            &BlockOptions::default(),
        )
        .await
        .with_context(|| format!("write block {block}"))?;
        input_bytes += info.total_bytes();
        input_spans += info.span_count;
        catalog.register(info.to_block_meta()?).await?;
    }
    let compactor = Compactor::new(CompactorParts {
        store: store.clone(),
        catalog: catalog.clone(),
        lease: catalog.clone(),
        tenants: Arc::new(KeepForever),
        holder: "bench".to_owned(),
        config: CompactorConfig {
            window: Duration::from_secs(86_400 * 365),
            max_inputs: args.blocks.max(2),
            max_block_bytes: u64::MAX / 2,
            grace_period: Duration::ZERO,
            ..CompactorConfig::default()
        },
        block_options: BlockOptions::default(),
        metrics: CompactionMetrics::unregistered(),
    });
    let (cpu0, wall0) = (cpu_time(), Instant::now());
    let report = compactor.run_once().await.context("compaction pass")?;
    let (cpu, wall) = (cpu_time() - cpu0, wall0.elapsed().as_secs_f64());
    anyhow::ensure!(report.failures == 0, "compaction failed: {report:?}");
    let live = catalog.live_blocks(&tenant).await?;
    let output_bytes: u64 = live.iter().map(|m| m.size_bytes).sum();
    let output_spans: u64 = live.iter().map(|m| m.span_count).sum();
    let mb = input_bytes as f64 / 1e6;
    println!(
        "input blocks: {}\ninput bytes: {input_bytes}\ninput spans: {input_spans}\nduplicate spans dropped: {}\noutput blocks: {}\noutput bytes: {output_bytes}\noutput spans: {output_spans}\nbytes/span before: {:.1}\nbytes/span after: {:.1}\nwall: {wall:.2}s\ncpu: {cpu:.2}s\ninput MB/s per core (input bytes / process CPU-seconds): {:.1}\ninput MB/s wall: {:.1}",
        args.blocks,
        report.duplicate_spans,
        live.len(),
        input_bytes as f64 / input_spans.max(1) as f64,
        output_bytes as f64 / output_spans.max(1) as f64,
        mb / cpu.max(1e-9),
        mb / wall.max(1e-9),
    );
    Ok(Outcome {
        input_spans,
        output_spans,
        duplicates: report.duplicate_spans,
        output_blocks: live.len(),
    })
}
