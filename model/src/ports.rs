//! The ports: traits through which the edge, the pipeline, storage and the control plane talk.
//! In one process they are called directly; in a scaled deployment gRPC clients implement them.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

use crate::otlp::TracesData;
use crate::{Limits, Result, TenantId, TimeRange, TraceId};

/// How an ingest payload is encoded. The edge has already decompressed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    /// OTLP protobuf (`ExportTraceServiceRequest`), from gRPC or `application/x-protobuf`.
    OtlpProtobuf,
    /// OTLP/JSON (`application/json`, hex ids).
    OtlpJson,
}

/// One decompressed ingest request body.
#[derive(Debug, Clone)]
pub struct Payload {
    pub format: PayloadFormat,
    pub body: Bytes,
}

/// What became of an accepted request: spans rejected individually are reported through OTLP's
/// `partial_success`, the rest are durable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushOutcome {
    pub accepted_spans: u64,
    pub rejected_spans: u64,
    /// Why spans were rejected; empty when none were.
    pub message: String,
    /// The rejected spans by reason (for usage metering); sums to `rejected_spans`.
    pub discarded: Vec<(crate::DiscardReason, u64)>,
}

/// Receives spans. A success answer means every accepted span is durable (in the WAL, fsynced).
#[async_trait]
pub trait IngestSink: Send + Sync + 'static {
    async fn push(&self, tenant: &TenantId, payload: Payload) -> Result<PushOutcome>;
}

/// A trace found by ID, merged from every place it lives and de-duplicated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TraceLookup {
    pub trace: TracesData,
    /// Uncompressed OTLP protobuf bytes examined to answer.
    pub inspected_bytes: u64,
}

/// Reads traces back.
#[async_trait]
pub trait TraceReader: Send + Sync + 'static {
    /// The trace with this ID, or `None` when no span of it is known. With a range, only data
    /// overlapping it is consulted (as Tempo's `start`/`end`).
    async fn trace_by_id(
        &self,
        tenant: &TenantId,
        id: TraceId,
        range: Option<TimeRange>,
    ) -> Result<Option<TraceLookup>>;
}

/// Whether a component is ready to serve, and if not, why.
pub trait ReadinessProbe: Send + Sync + 'static {
    /// `Ok(())` when ready; otherwise the reason, shown on `/ready`.
    fn readiness(&self) -> std::result::Result<(), String>;
}

/// The tenants the control plane knows, served from an in-memory snapshot.
pub trait TenantDirectory: Send + Sync + 'static {
    /// The limits in force for a tenant: the defaults overridden field by field.
    fn limits(&self, tenant: &TenantId) -> Arc<Limits>;

    /// Whether a tenant is being deleted: its data still in memory is dropped instead of being
    /// written to blocks, so nothing of it comes back after its storage was removed.
    fn is_deleting(&self, _tenant: &TenantId) -> bool {
        false
    }

    /// A tenant's metrics-generator settings when at least one processor is on; `None` means
    /// its spans need not reach the generator.
    fn generator(&self, _tenant: &TenantId) -> Option<Arc<crate::GeneratorSettings>> {
        None
    }
}

/// Whether a block is visible to queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockState {
    /// Registered and served.
    Live,
    /// Replaced by compaction or past retention; about to be deleted.
    Retired,
}

/// A block as the catalog records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockMeta {
    pub tenant: TenantId,
    /// Deterministic (derived from tenant and WAL position) so a re-flush overwrites.
    pub block_id: String,
    pub range: TimeRange,
    pub size_bytes: u64,
    pub span_count: u64,
    pub trace_count: u64,
    pub compaction_level: u32,
    pub format_version: u32,
    pub state: BlockState,
}

/// The block catalog: which blocks exist, so queries never list a bucket.
#[async_trait]
pub trait BlockCatalog: Send + Sync + 'static {
    /// Makes a block visible. Idempotent for the same block ID.
    async fn register(&self, block: BlockMeta) -> Result<()>;
    /// Live blocks of a tenant overlapping a range.
    async fn candidates(&self, tenant: &TenantId, range: TimeRange) -> Result<Vec<BlockMeta>>;
    /// Replaces `inputs` by `outputs` in one transaction (compaction): every input must be
    /// live (else a conflict and nothing changes); inputs become retired, their retirement time
    /// recorded by the catalog's clock; outputs become live.
    async fn swap(
        &self,
        tenant: &TenantId,
        inputs: &[String],
        outputs: Vec<BlockMeta>,
    ) -> Result<()>;
    /// Every live block of a tenant, ordered by start time then block ID (compaction's and
    /// retention's candidates).
    async fn live_blocks(&self, tenant: &TenantId) -> Result<Vec<BlockMeta>>;
    /// Retires the listed blocks that are live (retention): invisible at once, the retirement
    /// time recorded by the catalog's clock. Blocks not live (retired already, unknown) are
    /// left as they are. Returns how many were retired.
    async fn retire(&self, tenant: &TenantId, ids: &[String]) -> Result<u64>;
    /// The retired blocks of a tenant retired at or before `before` (due for deletion once a
    /// grace period has passed), oldest retirement first.
    async fn retired(&self, tenant: &TenantId, before: SystemTime) -> Result<Vec<BlockMeta>>;
    /// Removes a retired block's row once its objects are deleted, remembering its ID for a
    /// while (see [`BlockCatalog::is_forgotten`]). A live block is never removed (false); so
    /// is an unknown one. True when a row was removed.
    async fn forget(&self, tenant: &TenantId, block_id: &str) -> Result<bool>;
    /// Whether a block was forgotten (its spans now live in a compacted block, or expired):
    /// a re-flush of it after a WAL replay must be dropped, not registered again.
    async fn is_forgotten(&self, tenant: &TenantId, block_id: &str) -> Result<bool>;
    /// The tenants with at least one block, live or retired, in order.
    async fn tenants_with_blocks(&self) -> Result<Vec<TenantId>>;
}

/// Proof of holding a lease until it expires or is released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseGuard {
    pub name: String,
    pub holder: String,
    pub token: u64,
}

/// Leases: one worker per named job (compaction or retention of a tenant) at a time.
#[async_trait]
pub trait Lease: Send + Sync + 'static {
    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<LeaseGuard>>;
    async fn renew(&self, guard: &LeaseGuard, ttl: Duration) -> Result<bool>;
    async fn release(&self, guard: &LeaseGuard) -> Result<()>;
}
