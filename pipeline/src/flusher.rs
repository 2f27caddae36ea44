//! The block flusher: completed traces leave memory (and the WAL) for immutable blocks on
//! object storage, and the read path over those blocks.
//!
//! One flush of a tenant: take its completed traces (they stay readable, in the ingester's
//! flushing set) → merge each trace's segments → write the block's objects → register the
//! block in the catalog → only then drop the traces from memory → release the WAL segments no
//! trace in memory needs any more. A failure at any step gives the traces back and the next
//! attempt waits with exponential backoff; the WAL keeps the data throughout. A crash at any
//! step leaves the data in the WAL, so the restart replays and flushes it again; the block ID
//! is derived from exactly the WAL records a block holds, so an identical re-flush overwrites
//! the same objects and registers idempotently, and readers de-duplicate spans.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use sextant_model::otlp::TracesData;
use sextant_model::{
    BlockCatalog, BlockMeta, FetchRequest, TenantDirectory, TenantId, TimeRange, TraceId,
};
use sextant_store::object_store::ObjectStore;
use sextant_store::{BlockCaches, BlockId, BlockPath, BlockSearchResult, TraceSelect, WalPosition};

use crate::config::BlockConfig;
use crate::error::{Error, Result};
use crate::ingester::{Ingester, TraceEntry};
use crate::metrics::{Metrics, ResultLabel, tenant as tenant_label};
use crate::querier;

/// Where blocks go and where they are registered.
#[derive(Clone)]
pub struct BlockBackend {
    pub store: Arc<dyn ObjectStore>,
    pub catalog: Arc<dyn BlockCatalog>,
}

impl std::fmt::Debug for BlockBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockBackend")
            .field("store", &self.store.to_string())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    next_attempt: Option<Instant>,
}

/// What one flush round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FlushReport {
    pub(crate) blocks: usize,
    pub(crate) failures: usize,
}

#[derive(Debug)]
pub(crate) struct Flusher {
    backend: BlockBackend,
    config: BlockConfig,
    caches: BlockCaches,
    backoff: Mutex<Backoff>,
    metrics: Metrics,
}

impl Flusher {
    pub(crate) fn new(backend: BlockBackend, config: BlockConfig, metrics: Metrics) -> Self {
        Self {
            caches: BlockCaches::new(config.cache_bytes, config.cache_bytes),
            backend,
            config,
            backoff: Mutex::new(Backoff::default()),
            metrics,
        }
    }

    /// Whether a flush may be attempted now (not inside a backoff wait).
    pub(crate) fn may_attempt(&self, now: Instant) -> bool {
        self.backoff.lock().next_attempt.is_none_or(|at| now >= at)
    }

    /// Writes and registers every due block (every block with completed traces when `force`).
    /// Traces of a tenant being deleted are dropped (and their WAL released) instead.
    pub(crate) async fn flush(
        &self,
        ingester: &Ingester,
        tenants: &dyn TenantDirectory,
        force: bool,
    ) -> FlushReport {
        let cut = ingester.take_blocks(
            Instant::now(),
            self.config.max_block_bytes,
            self.config.max_block_age,
            force,
        );
        let mut report = FlushReport::default();
        for (tenant, traces) in cut {
            let ids: Vec<TraceId> = traces.iter().map(|(id, _)| *id).collect();
            if tenants.is_deleting(&tenant) {
                ingester.flushed(&tenant, &ids);
                tracing::info!(tenant = %tenant, traces = ids.len(),
                    "tenant is being deleted: its completed traces are dropped, not written");
                continue;
            }
            let started = Instant::now();
            match self.write_and_register(&tenant, traces).await {
                Ok(None) => {
                    // A replayed re-flush of a block compaction (or retention) already
                    // replaced and deleted: its spans live on in the compacted block.
                    ingester.flushed(&tenant, &ids);
                    tracing::info!(tenant = %tenant, traces = ids.len(),
                        "re-flush of an already compacted block dropped");
                }
                Ok(Some(meta)) => {
                    ingester.flushed(&tenant, &ids);
                    self.record_success(&tenant, &meta, started.elapsed());
                    report.blocks += 1;
                }
                Err(error) => {
                    ingester.flush_failed(&tenant, &ids);
                    let wait = self.record_failure();
                    tracing::warn!(tenant = %tenant, traces = ids.len(), %error, retry_in = ?wait,
                        "block flush failed; the traces stay in memory and the wal");
                    report.failures += 1;
                    // The store or catalog is failing: leave the other tenants for the retry.
                    break;
                }
            }
        }
        report
    }

    /// Writes and registers the block of `traces`; `None` when its ID was forgotten (the same
    /// block was flushed before, then compacted or expired and deleted).
    async fn write_and_register(
        &self,
        tenant: &TenantId,
        traces: Vec<(TraceId, TraceEntry)>,
    ) -> Result<Option<BlockMeta>> {
        let block = BlockId::derive(
            tenant,
            first_position(&traces),
            positions_fingerprint(&traces),
        );
        if self
            .backend
            .catalog
            .is_forgotten(tenant, &block.to_string())
            .await
            .map_err(Error::Blocks)?
        {
            return Ok(None);
        }
        let merged = tokio::task::spawn_blocking(move || {
            traces
                .into_iter()
                .filter_map(|(id, entry)| {
                    let segments: Vec<Bytes> = entry.segments.into_iter().map(|s| s.data).collect();
                    querier::merge(segments).map(|found| (id, found.trace))
                })
                .collect::<Vec<(TraceId, TracesData)>>()
        })
        .await
        .map_err(|e| Error::Internal(format!("block merge task failed: {e}")))?;
        let prefix = BlockPath::block_prefix(tenant, block);
        let info = sextant_store::write_block(
            self.backend.store.as_ref(),
            &prefix,
            &block.to_string(),
            tenant,
            merged,
            &self.config.options(),
        )
        .await
        .map_err(|e| Error::Blocks(e.into()))?;
        crate::failpoint::hit("flush.after_objects");
        let meta = info.to_block_meta().map_err(|e| Error::Blocks(e.into()))?;
        self.backend
            .catalog
            .register(meta.clone())
            .await
            .map_err(Error::Blocks)?;
        crate::failpoint::hit("flush.after_register");
        Ok(Some(meta))
    }

    fn record_success(&self, tenant: &TenantId, meta: &BlockMeta, took: Duration) {
        *self.backoff.lock() = Backoff::default();
        let m = &self.metrics;
        m.flushes.get_or_create(&ResultLabel { result: "ok" }).inc();
        m.flush_duration.observe(took.as_secs_f64());
        let label = tenant_label(tenant);
        m.blocks_written.get_or_create(&label).inc();
        m.block_bytes_written
            .get_or_create(&label)
            .inc_by(meta.size_bytes);
        m.backend_bytes
            .get_or_create(&label)
            .inc_by(i64::try_from(meta.size_bytes).unwrap_or(i64::MAX));
        m.backend_blocks.get_or_create(&label).inc();
        tracing::info!(tenant = %tenant, block = %meta.block_id, spans = meta.span_count,
            traces = meta.trace_count, bytes = meta.size_bytes, took_ms = took.as_millis() as u64,
            "block flushed");
    }

    /// Counts a failure and schedules the next attempt; returns the wait.
    fn record_failure(&self) -> Duration {
        self.metrics
            .flushes
            .get_or_create(&ResultLabel { result: "error" })
            .inc();
        let mut backoff = self.backoff.lock();
        backoff.failures = backoff.failures.saturating_add(1);
        let exponent = (backoff.failures - 1).min(16);
        let wait = self
            .config
            .flush_retry_min
            .saturating_mul(1 << exponent)
            .min(self.config.flush_retry_max);
        backoff.next_attempt = Some(Instant::now() + wait);
        wait
    }

    /// The trace's spans in every registered block overlapping `range`, each with the bytes
    /// read to find it.
    pub(crate) async fn find(
        &self,
        tenant: &TenantId,
        id: TraceId,
        range: Option<TimeRange>,
    ) -> Result<Vec<(TracesData, u64)>> {
        let range = range.unwrap_or(TimeRange::new(0, u64::MAX));
        let candidates = self
            .backend
            .catalog
            .candidates(tenant, range)
            .await
            .map_err(Error::Blocks)?;
        let mut found = Vec::new();
        for meta in candidates {
            let block = BlockId::parse(&meta.block_id).map_err(|e| Error::Blocks(e.into()))?;
            let prefix = BlockPath::block_prefix(tenant, block);
            let hit =
                sextant_store::find_trace(self.backend.store.as_ref(), &prefix, id, &self.caches)
                    .await;
            match hit {
                Ok(hit) => found.extend(hit),
                // A registered block whose objects are gone must not fail every lookup of
                // the tenant; `sextant store repair` reports and removes it.
                Err(error) if error.kind() == sextant_model::ErrorKind::NotFound => {
                    tracing::warn!(tenant = %tenant, block = %meta.block_id, %error,
                        "registered block has no objects; skipped (run `sextant store repair`)");
                }
                Err(error) => return Err(Error::Blocks(error.into())),
            }
        }
        Ok(found)
    }

    /// Live blocks of a tenant overlapping `range`.
    pub(crate) async fn candidates(
        &self,
        tenant: &TenantId,
        range: TimeRange,
    ) -> Result<Vec<BlockMeta>> {
        self.backend
            .catalog
            .candidates(tenant, range)
            .await
            .map_err(Error::Blocks)
    }

    /// Runs a storage pre-filter over one block. A registered block whose objects are gone
    /// answers nothing (logged), as in [`Flusher::find`].
    pub(crate) async fn search_block(
        &self,
        meta: &BlockMeta,
        request: &FetchRequest,
        select: &TraceSelect,
    ) -> Result<BlockSearchResult> {
        let block = BlockId::parse(&meta.block_id).map_err(|e| Error::Blocks(e.into()))?;
        let prefix = BlockPath::block_prefix(&meta.tenant, block);
        match sextant_store::search_block_select(
            self.backend.store.as_ref(),
            &prefix,
            meta,
            request,
            &self.caches,
            select,
        )
        .await
        {
            Ok(result) => Ok(result),
            Err(error) if error.kind() == sextant_model::ErrorKind::NotFound => {
                tracing::warn!(tenant = %meta.tenant, block = %meta.block_id, %error,
                    "registered block has no objects; skipped (run `sextant store repair`)");
                Ok(BlockSearchResult::default())
            }
            Err(error) => Err(Error::Blocks(error.into())),
        }
    }
}

/// The earliest WAL record of the traces in a block.
fn first_position(traces: &[(TraceId, TraceEntry)]) -> WalPosition {
    traces
        .iter()
        .flat_map(|(_, e)| &e.segments)
        .map(|s| s.position)
        .min()
        .unwrap_or(WalPosition {
            segment: 0,
            offset: 0,
        })
}

/// A stable fingerprint (FNV-1a, 64 bits) of every (trace, WAL record) a block holds, so the
/// block ID names exactly its content: the same traces from the same records give the same ID,
/// any other set a different one.
fn positions_fingerprint(traces: &[(TraceId, TraceEntry)]) -> u64 {
    let mut items: Vec<(TraceId, WalPosition)> = traces
        .iter()
        .flat_map(|(id, e)| e.segments.iter().map(move |s| (*id, s.position)))
        .collect();
    items.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for (id, position) in items {
        eat(&id.0);
        eat(&position.segment.to_be_bytes());
        eat(&position.offset.to_be_bytes());
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry_at(offsets: &[u64]) -> TraceEntry {
        let now = Instant::now();
        let mut e = TraceEntry::new(now);
        for &offset in offsets {
            e.push(
                crate::ingester::test_segment(WalPosition { segment: 3, offset }),
                now,
            );
        }
        e
    }

    #[test]
    fn the_fingerprint_names_the_content_not_the_order() {
        let a = vec![
            (TraceId([1; 16]), entry_at(&[10, 30])),
            (TraceId([2; 16]), entry_at(&[20])),
        ];
        let b = vec![
            (TraceId([2; 16]), entry_at(&[20])),
            (TraceId([1; 16]), entry_at(&[30, 10])),
        ];
        assert_eq!(positions_fingerprint(&a), positions_fingerprint(&b));
        assert_eq!(first_position(&a).offset, 10);
        let fewer = vec![(TraceId([1; 16]), entry_at(&[10, 30]))];
        assert_ne!(positions_fingerprint(&a), positions_fingerprint(&fewer));
    }
}
