//! The ingester's memory: per-tenant live and completed traces, the limits checked before a
//! request is appended to the WAL, completion, and rebuilding it all from the WAL on start.
//!
//! A push goes: [`Ingester::admit`] (limits, memory reservation, WAL record encoding; on a
//! blocking thread) → the WAL append (async, fsynced) → [`Ingester::commit`] (the segments
//! become readable). Per-tenant limits are checked at admission, so concurrent requests can
//! overshoot `max_traces_per_tenant` by the number of requests in flight, as Tempo's do; the
//! global memory bound is exact (an atomic reservation).
//!
//! Replay puts every trace found in the WAL into the completed set: the traces are old, so the
//! next block cut should take them; a span arriving later for one of them starts a live entry and
//! reads merge both.

mod live;
pub(crate) mod record;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use sextant_model::{DiscardReason, Limits, TenantId, TimeRange, TraceId};
use sextant_store::WalPosition;

use crate::distributor::TraceBatch;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
pub(crate) use live::TraceEntry;
use live::{Segment, TenantTraces};
use record::RecordTrace;

/// Live and completed traces of every tenant.
#[derive(Debug)]
pub(crate) struct Ingester {
    tenants: RwLock<HashMap<TenantId, Arc<Mutex<TenantTraces>>>>,
    memory_bytes: AtomicU64,
    max_live_bytes: u64,
    retry_after: Duration,
    metrics: Metrics,
}

/// A request that passed the limits: its WAL record and the memory it will take.
#[derive(Debug)]
pub(crate) struct Admitted {
    /// Empty when no span was accepted (nothing to append).
    pub(crate) record: Bytes,
    pub(crate) traces: Vec<RecordTrace>,
    pub(crate) accepted_spans: u64,
    pub(crate) rejected: Vec<(DiscardReason, u64)>,
    pub(crate) reservation: Reservation,
}

/// Memory reserved for an admitted request; given back on drop unless committed.
#[derive(Debug)]
pub(crate) struct Reservation {
    ingester: Arc<Ingester>,
    bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.ingester.release_memory(self.bytes);
        }
    }
}

impl Ingester {
    pub(crate) fn new(max_live_bytes: u64, retry_after: Duration, metrics: Metrics) -> Arc<Self> {
        Arc::new(Self {
            tenants: RwLock::new(HashMap::new()),
            memory_bytes: AtomicU64::new(0),
            max_live_bytes,
            retry_after,
            metrics,
        })
    }

    fn tenant(&self, tenant: &TenantId) -> Arc<Mutex<TenantTraces>> {
        if let Some(t) = self.tenants.read().get(tenant) {
            return Arc::clone(t);
        }
        Arc::clone(self.tenants.write().entry(tenant.clone()).or_default())
    }

    fn existing_tenant(&self, tenant: &TenantId) -> Option<Arc<Mutex<TenantTraces>>> {
        self.tenants.read().get(tenant).cloned()
    }

    fn release_memory(&self, bytes: u64) {
        let before = self.memory_bytes.fetch_sub(bytes, Ordering::AcqRel);
        self.set_memory_gauge(before.saturating_sub(bytes));
    }

    fn set_memory_gauge(&self, bytes: u64) {
        self.metrics
            .memory_trace_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    pub(crate) fn memory_bytes(&self) -> u64 {
        self.memory_bytes.load(Ordering::Acquire)
    }

    /// Applies the tenant's trace limits, reserves memory and encodes the WAL record. A request
    /// that would take memory over `max_live_bytes` is refused whole.
    pub(crate) fn admit(
        self: &Arc<Self>,
        tenant: &TenantId,
        limits: &Limits,
        batches: Vec<TraceBatch>,
    ) -> Result<Admitted> {
        let mut accepted = Vec::with_capacity(batches.len());
        let mut too_large = 0u64;
        let mut too_many = 0u64;
        let mut bytes = 0u64;
        {
            let state = self.tenant(tenant);
            let state = state.lock();
            let mut new_traces = 0u64;
            for batch in batches {
                let size = prost::Message::encoded_len(&batch.data) as u64;
                let is_new = !state.live.contains_key(&batch.trace_id);
                if is_new
                    && limits.max_traces_per_tenant > 0
                    && state.live.len() as u64 + new_traces >= limits.max_traces_per_tenant
                {
                    too_many += u64::from(batch.spans);
                    continue;
                }
                if limits.max_bytes_per_trace > 0
                    && state.trace_bytes(&batch.trace_id) + size > limits.max_bytes_per_trace
                {
                    too_large += u64::from(batch.spans);
                    continue;
                }
                new_traces += u64::from(is_new);
                bytes += size;
                accepted.push(batch);
            }
        }
        let before = self.memory_bytes.fetch_add(bytes, Ordering::AcqRel);
        let reservation = Reservation {
            ingester: Arc::clone(self),
            bytes,
        };
        if before.saturating_add(bytes) > self.max_live_bytes && bytes > 0 {
            return Err(Error::Overloaded {
                message: format!(
                    "ingester memory full: {before} bytes of traces held, limit {} bytes",
                    self.max_live_bytes
                ),
                retry_after: self.retry_after,
            });
        }
        let accepted_spans = accepted.iter().map(|b| u64::from(b.spans)).sum();
        let (record, traces) = if accepted.is_empty() {
            (Bytes::new(), Vec::new())
        } else {
            record::encode(tenant, &accepted)
        };
        Ok(Admitted {
            record,
            traces,
            accepted_spans,
            rejected: vec![
                (DiscardReason::LiveTracesExceeded, too_many),
                (DiscardReason::TraceTooLarge, too_large),
            ],
            reservation,
        })
    }

    /// Makes an appended request's traces readable.
    pub(crate) fn commit(
        &self,
        tenant: &TenantId,
        traces: Vec<RecordTrace>,
        position: WalPosition,
        mut reservation: Reservation,
    ) {
        let committed = std::mem::take(&mut reservation.bytes);
        let now = Instant::now();
        let state = self.tenant(tenant);
        let mut state = state.lock();
        for t in traces {
            state
                .live
                .entry(t.trace_id)
                .or_insert_with(|| TraceEntry::new(now))
                .push(segment(t, position), now);
        }
        self.metrics
            .set_trace_counts(tenant, state.live.len(), state.completed.len());
        drop(state);
        self.set_memory_gauge(self.memory_bytes());
        tracing::trace!(tenant = %tenant, bytes = committed, "committed push");
    }

    /// Rebuilds one WAL record into the completed set; returns the spans it held.
    pub(crate) fn replay(&self, position: WalPosition, data: Bytes) -> Result<u64, String> {
        let (tenant, traces) = record::decode(data)?;
        let now = Instant::now();
        let state = self.tenant(&tenant);
        let mut state = state.lock();
        let mut spans = 0;
        for t in traces {
            spans += u64::from(t.spans);
            self.memory_bytes
                .fetch_add(t.data.len() as u64, Ordering::AcqRel);
            let id = t.trace_id;
            let mut entry = TraceEntry::new(now);
            entry.push(segment(t, position), now);
            state.add_completed(id, entry);
        }
        self.metrics
            .set_trace_counts(&tenant, state.live.len(), state.completed.len());
        drop(state);
        self.set_memory_gauge(self.memory_bytes());
        Ok(spans)
    }

    /// Completes idle and old traces of every tenant; returns how many completed.
    pub(crate) fn sweep(&self, now: Instant, idle: Duration, max_live: Duration) -> usize {
        let tenants: Vec<(TenantId, Arc<Mutex<TenantTraces>>)> = self
            .tenants
            .read()
            .iter()
            .map(|(id, t)| (id.clone(), Arc::clone(t)))
            .collect();
        let mut total = 0;
        for (id, state) in tenants {
            let mut state = state.lock();
            let n = state.complete(now, idle, max_live);
            if n > 0 {
                self.metrics
                    .set_trace_counts(&id, state.live.len(), state.completed.len());
                total += n;
            }
        }
        total
    }

    /// Takes, per tenant whose completed set is due (or every tenant with completed traces when
    /// `force`, as at shutdown), up to about `max_bytes` of completed traces for a block. They
    /// stay readable until [`Ingester::flushed`] or go back with [`Ingester::flush_failed`].
    pub(crate) fn take_blocks(
        &self,
        now: Instant,
        max_bytes: u64,
        max_age: Duration,
        force: bool,
    ) -> Vec<(TenantId, Vec<(TraceId, TraceEntry)>)> {
        let tenants: Vec<(TenantId, Arc<Mutex<TenantTraces>>)> = self
            .tenants
            .read()
            .iter()
            .map(|(id, t)| (id.clone(), Arc::clone(t)))
            .collect();
        let mut blocks = Vec::new();
        for (id, state) in tenants {
            let mut state = state.lock();
            let due = if force {
                !state.completed.is_empty()
            } else {
                state.block_due(now, max_bytes, max_age)
            };
            if due {
                blocks.push((id, state.take_for_block(max_bytes)));
            }
        }
        blocks
    }

    /// The block holding these traces is registered: drop them from memory.
    pub(crate) fn flushed(&self, tenant: &TenantId, ids: &[TraceId]) {
        if let Some(state) = self.existing_tenant(tenant) {
            let mut state = state.lock();
            let freed = state.flushed(ids);
            self.metrics
                .set_trace_counts(tenant, state.live.len(), state.completed.len());
            drop(state);
            self.release_memory(freed);
        }
    }

    /// The block could not be written or registered: the traces wait for the next attempt.
    pub(crate) fn flush_failed(&self, tenant: &TenantId, ids: &[TraceId]) {
        if let Some(state) = self.existing_tenant(tenant) {
            state.lock().flush_failed(ids);
        }
    }

    /// The earliest WAL position still needed by a trace in memory, over every tenant.
    pub(crate) fn min_position(&self) -> Option<WalPosition> {
        self.tenants
            .read()
            .values()
            .filter_map(|t| t.lock().min_position())
            .min()
    }

    /// The protobuf segments held for a trace, overlapping `range` when given.
    pub(crate) fn segments(
        &self,
        tenant: &TenantId,
        id: &TraceId,
        range: Option<TimeRange>,
    ) -> Vec<Bytes> {
        self.existing_tenant(tenant)
            .map(|t| t.lock().segments(id, range))
            .unwrap_or_default()
    }

    /// Every trace of a tenant held in memory overlapping `range` (all with `None`).
    pub(crate) fn snapshot(
        &self,
        tenant: &TenantId,
        range: Option<TimeRange>,
    ) -> Vec<(TraceId, Vec<Bytes>)> {
        self.existing_tenant(tenant)
            .map(|t| t.lock().snapshot(range))
            .unwrap_or_default()
    }

    /// Live and completed trace counts of a tenant (for tests and debugging).
    #[cfg(test)]
    pub(crate) fn counts(&self, tenant: &TenantId) -> (usize, usize) {
        self.existing_tenant(tenant)
            .map(|t| {
                let t = t.lock();
                (t.live.len(), t.completed.len())
            })
            .unwrap_or_default()
    }
}

/// A one-span segment at `position`, for tests elsewhere in the crate.
#[cfg(test)]
pub(crate) fn test_segment(position: WalPosition) -> Segment {
    Segment {
        data: Bytes::new(),
        spans: 1,
        range: TimeRange::new(1, 2),
        position,
    }
}

fn segment(t: RecordTrace, position: WalPosition) -> Segment {
    Segment {
        data: t.data,
        spans: t.spans,
        range: t.range,
        position,
    }
}
