//! Compaction and retention of a tenant's blocks, and deletion of retired blocks.
//!
//! One pass ([`Compactor::run_once`]) visits every tenant with blocks, under the lease
//! `compaction/<tenant>` (one lease for retention, compaction and deletion of a tenant, so one
//! worker at a time changes a tenant's blocks):
//!
//! 1. Retention: live blocks whose newest span is older than now − the tenant's
//!    `block_retention` are retired (invisible at once; a zero retention keeps blocks forever).
//! 2. Compaction: per time window (by block start), the oldest small live blocks are read
//!    whole, their traces merged with duplicate spans dropped, and written as one block whose
//!    ID derives from the tenant and the input IDs. The lease is renewed, then one catalog
//!    transaction ([`BlockCatalog::swap`]) makes the output live and the inputs retired.
//! 3. Deletion: blocks retired longer than the grace period ago (so in-flight queries that
//!    listed them have finished) lose their objects (`meta.json` first), then their rows.
//!
//! Crash safety: before the swap, the inputs are live and the output is an unregistered
//! object set that a rerun of the same inputs overwrites; after it, the output is live and the
//! inputs are retired, their objects kept through the grace period; deletion removes objects
//! before rows, so an interrupted deletion is finished by the next pass. At no point is a span
//! visible in two live blocks, or in none. A test injects a failure at every [`Step`].

mod merge;
mod metrics;
mod plan;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use sextant_model::{BlockCatalog, BlockMeta, Lease, LeaseGuard, TenantDirectory, TenantId};

pub use self::metrics::CompactionMetrics;
use self::metrics::DeleteReason;
use self::plan::{PlanLimits, output_id, plan};
use crate::block::{BlockOptions, read_block_traces, write_block_from};
use crate::error::{Error, Result};
use crate::object::{BlockFile, BlockId, BlockPath};

/// How the compactor runs; `compactor:` in the server's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompactorConfig {
    /// Whether `serve` runs the compactor loop.
    pub enabled: bool,
    /// Time between passes.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Blocks are compacted only with blocks starting in the same window of this length.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Most input blocks of one compaction (at least 2).
    pub max_inputs: usize,
    /// Inputs are taken while their combined size stays at or under this.
    pub max_block_bytes: u64,
    /// Blocks whose newest span is younger than this are not compacted yet.
    #[serde(with = "humantime_serde")]
    pub min_block_age: Duration,
    /// How long a retired block's objects are kept, so queries that listed it finish.
    #[serde(with = "humantime_serde")]
    pub grace_period: Duration,
    /// Time to live of the per-tenant lease; renewed between steps.
    #[serde(with = "humantime_serde")]
    pub lease_ttl: Duration,
}

impl Default for CompactorConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(30),
            window: Duration::from_secs(3600),
            max_inputs: 8,
            max_block_bytes: 512 << 20,
            min_block_age: Duration::ZERO,
            grace_period: Duration::from_secs(300),
            lease_ttl: Duration::from_secs(60),
        }
    }
}

impl CompactorConfig {
    /// Every problem with the settings, prefixed with `prefix` (e.g. `compactor.`).
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (name, value) in [
            ("interval", self.interval),
            ("window", self.window),
            ("lease_ttl", self.lease_ttl),
        ] {
            if value.is_zero() {
                out.push(format!("{prefix}{name}: must be greater than zero"));
            }
        }
        if self.max_inputs < 2 {
            out.push(format!("{prefix}max_inputs: must be at least 2"));
        }
        if self.max_block_bytes == 0 {
            out.push(format!(
                "{prefix}max_block_bytes: must be greater than zero"
            ));
        }
        out
    }
}

/// The points of a pass at which a test can inject a failure (a crash there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Retention retired the expired blocks.
    AfterRetire,
    /// Compaction read every input.
    AfterRead,
    /// The output block's objects are written, not registered.
    AfterWriteOutput,
    /// Right before the catalog swap (after the lease check).
    BeforeSwap,
    /// The swap committed: output live, inputs retired.
    AfterSwap,
    /// A retired block past the grace period is about to lose its objects.
    BeforeDeleteObjects,
    /// Its objects are deleted, its row is still there.
    AfterDeleteObjects,
    /// Its row is removed.
    AfterForget,
}

impl Step {
    /// Every step, in the order a pass meets them.
    pub const ALL: [Step; 8] = [
        Step::AfterRetire,
        Step::AfterRead,
        Step::AfterWriteOutput,
        Step::BeforeSwap,
        Step::AfterSwap,
        Step::BeforeDeleteObjects,
        Step::AfterDeleteObjects,
        Step::AfterForget,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::AfterRetire => "after-retire",
            Step::AfterRead => "after-read",
            Step::AfterWriteOutput => "after-write-output",
            Step::BeforeSwap => "before-swap",
            Step::AfterSwap => "after-swap",
            Step::BeforeDeleteObjects => "before-delete-objects",
            Step::AfterDeleteObjects => "after-delete-objects",
            Step::AfterForget => "after-forget",
        }
    }
}

/// Fault injection: called at every [`Step`]; an error stops the pass there as a crash would
/// (nothing is cleaned up). Production uses [`NoFaults`].
pub trait Faults: Send + Sync + 'static {
    fn hit(&self, step: Step) -> Result<()>;
}

/// No faults.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFaults;

impl Faults for NoFaults {
    fn hit(&self, _step: Step) -> Result<()> {
        Ok(())
    }
}

/// What one pass did, summed over tenants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Tenants whose lease another worker held.
    pub tenants_skipped: usize,
    /// Compactions that swapped their output in.
    pub compactions: usize,
    /// Input blocks those replaced.
    pub compacted_blocks: usize,
    /// Duplicate spans dropped by those compactions.
    pub duplicate_spans: u64,
    /// Blocks retired by retention.
    pub retired_blocks: u64,
    /// Retired blocks whose objects and rows were deleted.
    pub deleted_blocks: usize,
    /// Tenants whose pass stopped on an error (logged).
    pub failures: usize,
}

/// Compaction, retention and deletion of retired blocks, through the catalog and lease ports.
pub struct Compactor {
    store: Arc<dyn ObjectStore>,
    catalog: Arc<dyn BlockCatalog>,
    lease: Arc<dyn Lease>,
    tenants: Arc<dyn TenantDirectory>,
    holder: String,
    config: CompactorConfig,
    block_options: BlockOptions,
    metrics: CompactionMetrics,
    faults: Arc<dyn Faults>,
}

impl std::fmt::Debug for Compactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compactor")
            .field("holder", &self.holder)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The ports and settings a [`Compactor`] works with.
pub struct CompactorParts {
    pub store: Arc<dyn ObjectStore>,
    pub catalog: Arc<dyn BlockCatalog>,
    pub lease: Arc<dyn Lease>,
    pub tenants: Arc<dyn TenantDirectory>,
    /// This worker's lease holder name, unique per process (host, pid, random).
    pub holder: String,
    pub config: CompactorConfig,
    /// How output blocks are written.
    pub block_options: BlockOptions,
    pub metrics: CompactionMetrics,
}

impl std::fmt::Debug for CompactorParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompactorParts")
            .field("holder", &self.holder)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Compactor {
    pub fn new(parts: CompactorParts) -> Self {
        Self {
            store: parts.store,
            catalog: parts.catalog,
            lease: parts.lease,
            tenants: parts.tenants,
            holder: parts.holder,
            config: parts.config,
            block_options: parts.block_options,
            metrics: parts.metrics,
            faults: Arc::new(NoFaults),
        }
    }

    /// The same compactor with failures injected by `faults` (tests).
    pub fn with_faults(mut self, faults: Arc<dyn Faults>) -> Self {
        self.faults = faults;
        self
    }

    /// One pass over every tenant with blocks: retention, compaction, deletion of retired
    /// blocks past the grace period. A tenant's failure is logged and counted; the others
    /// still run. Fails only when the catalog cannot list tenants.
    pub async fn run_once(&self) -> Result<PassReport> {
        let tenants = self
            .catalog
            .tenants_with_blocks()
            .await
            .map_err(Error::port("list tenants with blocks"))?;
        let mut report = PassReport::default();
        for tenant in tenants {
            // Its data is about to be removed whole (the server's tenant deletion, under the
            // same lease): merging it would only write objects to delete.
            if self.tenants.is_deleting(&tenant) {
                continue;
            }
            if let Err(error) = self.run_tenant(&tenant, &mut report).await {
                report.failures += 1;
                tracing::warn!(tenant = %tenant, %error, "compaction pass of a tenant failed; the next pass retries");
            }
        }
        Ok(report)
    }

    /// Runs passes every `interval` until `shutdown` resolves.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let mut ticker = tokio::time::interval(self.config.interval.max(Duration::from_millis(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = ticker.tick() => {}
            }
            // A pass in progress is abandoned at shutdown: every step is safe to stop at.
            tokio::select! {
                _ = &mut shutdown => return,
                result = self.run_once() => match result {
                    Ok(report) if report != PassReport::default() => {
                        tracing::info!(?report, "compaction pass");
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "compaction pass failed"),
                },
            }
        }
    }

    async fn run_tenant(&self, tenant: &TenantId, report: &mut PassReport) -> Result<()> {
        let name = format!("compaction/{tenant}");
        let guard = self
            .lease
            .acquire(&name, &self.holder, self.config.lease_ttl)
            .await
            .map_err(Error::port("acquire lease"))?;
        let Some(guard) = guard else {
            report.tenants_skipped += 1;
            tracing::debug!(tenant = %tenant, lease = name, "lease held elsewhere; tenant skipped");
            return Ok(());
        };
        let result = self.work(tenant, &guard, report).await;
        if let Err(error) = self.lease.release(&guard).await {
            // It expires on its own.
            tracing::warn!(lease = name, %error, "cannot release the compaction lease");
        }
        result
    }

    async fn work(
        &self,
        tenant: &TenantId,
        guard: &LeaseGuard,
        report: &mut PassReport,
    ) -> Result<()> {
        let now = SystemTime::now();
        let retention = self.tenants.limits(tenant).block_retention;
        let retention_cutoff = if retention.is_zero() {
            0
        } else {
            unix_nanos(now).saturating_sub(nanos(retention))
        };
        self.retention(tenant, retention_cutoff, report).await?;

        let live = self
            .catalog
            .live_blocks(tenant)
            .await
            .map_err(Error::port("list live blocks"))?;
        let limits = PlanLimits {
            window: self.config.window,
            max_inputs: self.config.max_inputs,
            max_block_bytes: self.config.max_block_bytes,
            newest_end: unix_nanos(now).saturating_sub(nanos(self.config.min_block_age)),
        };
        for inputs in plan(&live, limits) {
            self.renew(guard).await?;
            let started = Instant::now();
            let result = self.compact(tenant, guard, inputs).await;
            let outcome = match &result {
                Ok(_) => "ok",
                Err(Error::LeaseLost { .. }) => "lease_lost",
                Err(_) => "error",
            };
            self.metrics
                .run(tenant, outcome, started.elapsed().as_secs_f64());
            let (inputs, duplicates) = result?;
            report.compactions += 1;
            report.compacted_blocks += inputs;
            report.duplicate_spans += duplicates;
        }

        self.delete_retired(tenant, guard, retention_cutoff, report)
            .await
    }

    async fn retention(
        &self,
        tenant: &TenantId,
        cutoff: u64,
        report: &mut PassReport,
    ) -> Result<()> {
        let live = self
            .catalog
            .live_blocks(tenant)
            .await
            .map_err(Error::port("list live blocks"))?;
        let expired: Vec<&BlockMeta> = live.iter().filter(|m| m.range.end < cutoff).collect();
        if expired.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = expired.iter().map(|m| m.block_id.clone()).collect();
        let retired = self
            .catalog
            .retire(tenant, &ids)
            .await
            .map_err(Error::port("retire expired blocks"))?;
        let bytes = expired.iter().map(|m| m.size_bytes).sum();
        self.metrics.retention_marked(tenant, retired, bytes);
        report.retired_blocks += retired;
        tracing::info!(tenant = %tenant, blocks = retired, bytes, "blocks past retention retired");
        self.faults.hit(Step::AfterRetire)
    }

    /// Compacts one group; returns the number of inputs and of duplicate spans dropped.
    async fn compact(
        &self,
        tenant: &TenantId,
        guard: &LeaseGuard,
        inputs: Vec<BlockMeta>,
    ) -> Result<(usize, u64)> {
        let mut ids: Vec<String> = inputs.iter().map(|m| m.block_id.clone()).collect();
        ids.sort();
        let mut read = Vec::with_capacity(ids.len());
        let mut bytes_read = 0u64;
        for id in &ids {
            let prefix = BlockPath::block_prefix(tenant, BlockId::parse(id)?);
            let (traces, bytes) = read_block_traces(self.store.as_ref(), &prefix).await?;
            bytes_read += bytes;
            read.push(traces);
        }
        self.faults.hit(Step::AfterRead)?;
        let merged = tokio::task::spawn_blocking(move || merge::merge(read))
            .await
            .map_err(|_| Error::Task {
                context: "merge blocks",
            })?;
        let output = output_id(tenant, &ids);
        let prefix = BlockPath::block_prefix(tenant, output);
        let info = write_block_from(
            self.store.as_ref(),
            &prefix,
            &output.to_string(),
            tenant,
            merged.traces,
            &self.block_options,
            ids.clone(),
        )
        .await?;
        self.faults.hit(Step::AfterWriteOutput)?;
        let mut meta = info.to_block_meta()?;
        meta.compaction_level = inputs
            .iter()
            .map(|m| m.compaction_level)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        // Fencing: a worker whose lease lapsed (another may hold it now) must not swap.
        self.renew(guard).await?;
        self.faults.hit(Step::BeforeSwap)?;
        self.catalog
            .swap(tenant, &ids, vec![meta.clone()])
            .await
            .map_err(Error::port("swap compacted blocks"))?;
        self.faults.hit(Step::AfterSwap)?;
        self.metrics.compacted(tenant, ids.len() as u64, bytes_read);
        let input_spans: u64 = inputs.iter().map(|m| m.span_count).sum();
        tracing::info!(tenant = %tenant, output = %meta.block_id, inputs = ids.len(),
            input_spans, spans = meta.span_count, duplicates = merged.duplicates,
            bytes_read, bytes = meta.size_bytes, level = meta.compaction_level, "blocks compacted");
        Ok((ids.len(), merged.duplicates))
    }

    async fn delete_retired(
        &self,
        tenant: &TenantId,
        guard: &LeaseGuard,
        retention_cutoff: u64,
        report: &mut PassReport,
    ) -> Result<()> {
        // Now, not the pass's start: with a zero grace period, blocks this pass retired go too.
        let before = SystemTime::now()
            .checked_sub(self.config.grace_period)
            .unwrap_or(UNIX_EPOCH);
        let due = self
            .catalog
            .retired(tenant, before)
            .await
            .map_err(Error::port("list retired blocks"))?;
        for meta in due {
            self.renew(guard).await?;
            self.faults.hit(Step::BeforeDeleteObjects)?;
            let block = BlockId::parse(&meta.block_id)?;
            delete_block_objects(self.store.as_ref(), tenant, block).await?;
            self.faults.hit(Step::AfterDeleteObjects)?;
            self.catalog
                .forget(tenant, &meta.block_id)
                .await
                .map_err(Error::port("forget deleted block"))?;
            self.faults.hit(Step::AfterForget)?;
            // The catalog does not record why a block was retired; a block past retention is
            // counted as retention, any other as replaced by compaction.
            let reason = if meta.range.end < retention_cutoff {
                DeleteReason::Retention
            } else {
                DeleteReason::Compacted
            };
            self.metrics.deleted(tenant, reason, meta.size_bytes);
            report.deleted_blocks += 1;
            tracing::debug!(tenant = %tenant, block = %meta.block_id, "retired block deleted");
        }
        Ok(())
    }

    async fn renew(&self, guard: &LeaseGuard) -> Result<()> {
        let held = self
            .lease
            .renew(guard, self.config.lease_ttl)
            .await
            .map_err(Error::port("renew lease"))?;
        if held {
            Ok(())
        } else {
            Err(Error::LeaseLost {
                lease: guard.name.clone(),
            })
        }
    }
}

/// Deletes the objects of one block, `meta.json` first so a half-deleted block never looks
/// complete; an object already gone is fine.
pub async fn delete_block_objects(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    block: BlockId,
) -> Result<()> {
    for file in [BlockFile::Meta, BlockFile::Bloom, BlockFile::Data] {
        let path = BlockPath::new(tenant.clone(), block, file).to_path();
        match store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(Error::object_store(format!("delete {path}"), e)),
        }
    }
    Ok(())
}

/// Deletes every object under a tenant's prefix (tenant deletion); returns how many. Lists the
/// bucket, which is allowed here alone besides repair. Another tenant's objects are never
/// touched, even one whose ID starts with this one's (`ab` and `abc`): listing is by whole
/// path segments.
pub async fn delete_tenant_objects(store: &dyn ObjectStore, tenant: &TenantId) -> Result<u64> {
    let prefix = BlockPath::tenant_prefix(tenant);
    let objects: Vec<object_store::ObjectMeta> = store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| Error::object_store(format!("list {prefix}"), e))?;
    let mut deleted = 0u64;
    for object in objects {
        // Belt and braces: only keys whose first segment is exactly the tenant.
        if object
            .location
            .parts()
            .next()
            .map(|p| p.as_ref().to_owned())
            != Some(tenant.as_str().to_owned())
        {
            continue;
        }
        match store.delete(&object.location).await {
            Ok(()) => deleted += 1,
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => {
                return Err(Error::object_store(
                    format!("delete {}", object.location),
                    e,
                ));
            }
        }
    }
    tracing::info!(tenant = %tenant, objects = deleted, "tenant objects deleted");
    Ok(deleted)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn unix_nanos(t: SystemTime) -> u64 {
    nanos(t.duration_since(UNIX_EPOCH).unwrap_or_default())
}
