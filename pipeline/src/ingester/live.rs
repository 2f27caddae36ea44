//! In-memory traces of one tenant: live ones still receiving spans, and completed ones waiting to
//! be cut into a block.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sextant_model::{TimeRange, TraceId};
use sextant_store::WalPosition;

/// One request's spans of a trace: protobuf `TracesData` bytes and where the WAL holds them.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub(crate) data: Bytes,
    pub(crate) spans: u32,
    pub(crate) range: TimeRange,
    /// The WAL record holding this segment; released once the trace is in a block.
    #[expect(
        dead_code,
        reason = "the block flush releases WAL segments up to these positions"
    )]
    pub(crate) position: WalPosition,
}

/// Every segment of one trace held in memory.
#[derive(Debug, Clone)]
pub(crate) struct TraceEntry {
    pub(crate) segments: Vec<Segment>,
    pub(crate) spans: u64,
    pub(crate) bytes: u64,
    pub(crate) range: TimeRange,
    pub(crate) first_arrival: Instant,
    pub(crate) last_arrival: Instant,
}

impl TraceEntry {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            segments: Vec::new(),
            spans: 0,
            bytes: 0,
            range: TimeRange::new(u64::MAX, 0),
            first_arrival: now,
            last_arrival: now,
        }
    }

    pub(crate) fn push(&mut self, segment: Segment, now: Instant) {
        self.spans += u64::from(segment.spans);
        self.bytes += segment.data.len() as u64;
        self.range = self.range.union(&segment.range);
        self.last_arrival = now;
        self.segments.push(segment);
    }

    fn absorb(&mut self, other: TraceEntry) {
        self.spans += other.spans;
        self.bytes += other.bytes;
        self.range = self.range.union(&other.range);
        self.first_arrival = self.first_arrival.min(other.first_arrival);
        self.last_arrival = self.last_arrival.max(other.last_arrival);
        self.segments.extend(other.segments);
    }
}

/// One tenant's traces. Guarded by a mutex per tenant, never held across an `.await`.
#[derive(Debug, Default)]
pub(crate) struct TenantTraces {
    pub(crate) live: HashMap<TraceId, TraceEntry>,
    pub(crate) completed: HashMap<TraceId, TraceEntry>,
}

impl TenantTraces {
    /// Bytes of a trace held in memory, live and completed.
    pub(crate) fn trace_bytes(&self, id: &TraceId) -> u64 {
        self.live.get(id).map_or(0, |e| e.bytes) + self.completed.get(id).map_or(0, |e| e.bytes)
    }

    /// Adds a completed entry (from replay, or from a live trace that completed).
    pub(crate) fn add_completed(&mut self, id: TraceId, entry: TraceEntry) {
        match self.completed.get_mut(&id) {
            Some(existing) => existing.absorb(entry),
            None => {
                self.completed.insert(id, entry);
            }
        }
    }

    /// Moves traces idle for `idle` or live for `max_live` to the completed set; returns how
    /// many moved.
    pub(crate) fn complete(&mut self, now: Instant, idle: Duration, max_live: Duration) -> usize {
        let done: Vec<TraceId> = self
            .live
            .iter()
            .filter(|(_, e)| {
                now.saturating_duration_since(e.last_arrival) >= idle
                    || now.saturating_duration_since(e.first_arrival) >= max_live
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &done {
            if let Some(entry) = self.live.remove(id) {
                self.add_completed(*id, entry);
            }
        }
        done.len()
    }

    /// Segments of a trace overlapping `range` (all with `None`), completed ones first.
    pub(crate) fn segments(&self, id: &TraceId, range: Option<TimeRange>) -> Vec<Bytes> {
        [self.completed.get(id), self.live.get(id)]
            .into_iter()
            .flatten()
            .flat_map(|e| &e.segments)
            .filter(|s| range.is_none_or(|r| r.overlaps(&s.range)))
            .map(|s| s.data.clone())
            .collect()
    }
}
