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
    /// When the trace joined the completed set (block age counts from the oldest of these).
    pub(crate) completed_at: Option<Instant>,
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
            completed_at: None,
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
        self.completed_at = match (self.completed_at, other.completed_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.segments.extend(other.segments);
    }
}

/// One tenant's traces. Guarded by a mutex per tenant, never held across an `.await`.
#[derive(Debug, Default)]
pub(crate) struct TenantTraces {
    pub(crate) live: HashMap<TraceId, TraceEntry>,
    pub(crate) completed: HashMap<TraceId, TraceEntry>,
    /// Completed traces being written to a block: still readable until the block is
    /// registered, then dropped; given back to `completed` if the flush fails.
    pub(crate) flushing: HashMap<TraceId, TraceEntry>,
}

impl TenantTraces {
    /// Bytes of a trace held in memory, live and completed.
    pub(crate) fn trace_bytes(&self, id: &TraceId) -> u64 {
        self.live.get(id).map_or(0, |e| e.bytes) + self.completed.get(id).map_or(0, |e| e.bytes)
    }

    /// Adds a completed entry (from replay, or from a live trace that completed).
    pub(crate) fn add_completed(&mut self, id: TraceId, mut entry: TraceEntry) {
        entry.completed_at.get_or_insert_with(Instant::now);
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
            if let Some(mut entry) = self.live.remove(id) {
                entry.completed_at = Some(now);
                self.add_completed(*id, entry);
            }
        }
        done.len()
    }

    /// Whether the completed set is due to become a block: `max_bytes` of it, or its oldest
    /// trace completed `max_age` ago.
    pub(crate) fn block_due(&self, now: Instant, max_bytes: u64, max_age: Duration) -> bool {
        let bytes: u64 = self.completed.values().map(|e| e.bytes).sum();
        let oldest = self.completed.values().filter_map(|e| e.completed_at).min();
        bytes >= max_bytes || oldest.is_some_and(|at| now.saturating_duration_since(at) >= max_age)
    }

    /// Moves completed traces, oldest completion first, up to about `max_bytes` (at least one),
    /// into the flushing set and returns copies of them for the block writer.
    pub(crate) fn take_for_block(&mut self, max_bytes: u64) -> Vec<(TraceId, TraceEntry)> {
        let mut order: Vec<(Option<Instant>, TraceId)> = self
            .completed
            .iter()
            .map(|(id, e)| (e.completed_at, *id))
            .collect();
        order.sort();
        let mut taken = Vec::new();
        let mut bytes = 0u64;
        for (_, id) in order {
            if bytes >= max_bytes && !taken.is_empty() {
                break;
            }
            if let Some(entry) = self.completed.remove(&id) {
                bytes += entry.bytes;
                taken.push((id, entry.clone()));
                self.flushing.insert(id, entry);
            }
        }
        taken
    }

    /// Drops flushed traces (their block is registered); returns the bytes freed.
    pub(crate) fn flushed(&mut self, ids: &[TraceId]) -> u64 {
        ids.iter()
            .filter_map(|id| self.flushing.remove(id))
            .map(|e| e.bytes)
            .sum()
    }

    /// Gives traces whose flush failed back to the completed set.
    pub(crate) fn flush_failed(&mut self, ids: &[TraceId]) {
        for id in ids {
            if let Some(entry) = self.flushing.remove(id) {
                self.add_completed(*id, entry);
            }
        }
    }

    /// The earliest WAL position any trace in memory still needs.
    pub(crate) fn min_position(&self) -> Option<WalPosition> {
        [&self.live, &self.completed, &self.flushing]
            .into_iter()
            .flat_map(|m| m.values())
            .flat_map(|e| &e.segments)
            .map(|s| s.position)
            .min()
    }

    /// Every trace held in memory whose spans overlap `range` (all with `None`): its segments,
    /// completed ones first. For search; the bytes are shared, not copied.
    pub(crate) fn snapshot(&self, range: Option<TimeRange>) -> Vec<(TraceId, Vec<Bytes>)> {
        let mut out: HashMap<TraceId, Vec<Bytes>> = HashMap::new();
        for map in [&self.flushing, &self.completed, &self.live] {
            for (id, entry) in map {
                if range.is_some_and(|r| !r.overlaps(&entry.range)) {
                    continue;
                }
                out.entry(*id)
                    .or_default()
                    .extend(entry.segments.iter().map(|s| s.data.clone()));
            }
        }
        out.into_iter().collect()
    }

    /// Segments of a trace overlapping `range` (all with `None`), completed ones first.
    pub(crate) fn segments(&self, id: &TraceId, range: Option<TimeRange>) -> Vec<Bytes> {
        [
            self.flushing.get(id),
            self.completed.get(id),
            self.live.get(id),
        ]
        .into_iter()
        .flatten()
        .flat_map(|e| &e.segments)
        .filter(|s| range.is_none_or(|r| r.overlaps(&s.range)))
        .map(|s| s.data.clone())
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(bytes: usize, position: u64, now: Instant) -> TraceEntry {
        let mut e = TraceEntry::new(now);
        e.push(
            Segment {
                data: Bytes::from(vec![0u8; bytes]),
                spans: 1,
                range: TimeRange::new(1, 2),
                position: WalPosition {
                    segment: 1,
                    offset: position,
                },
            },
            now,
        );
        e
    }

    fn id(n: u8) -> TraceId {
        TraceId([n; 16])
    }

    #[test]
    fn a_block_is_due_by_bytes_or_by_age() {
        let now = Instant::now();
        let mut t = TenantTraces::default();
        assert!(!t.block_due(now, 100, Duration::from_secs(30)));
        t.live.insert(id(1), entry(10, 1, now));
        t.complete(now, Duration::ZERO, Duration::from_secs(30));
        assert!(!t.block_due(now, 100, Duration::from_secs(30)));
        assert!(t.block_due(now, 10, Duration::from_secs(30)), "by bytes");
        let later = now + Duration::from_secs(31);
        assert!(t.block_due(later, 100, Duration::from_secs(30)), "by age");
    }

    #[test]
    fn flushing_traces_stay_readable_until_flushed_and_come_back_on_failure() {
        let now = Instant::now();
        let mut t = TenantTraces::default();
        for n in 1..=3 {
            t.add_completed(id(n), entry(10, u64::from(n), now));
        }
        let taken = t.take_for_block(15);
        assert_eq!(taken.len(), 2, "stops once max bytes are reached");
        assert_eq!(t.completed.len() + t.flushing.len(), 3);
        for (trace, _) in &taken {
            assert_eq!(
                t.segments(trace, None).len(),
                1,
                "still readable while flushing"
            );
        }
        let ids: Vec<TraceId> = taken.iter().map(|(i, _)| *i).collect();
        t.flush_failed(&ids[..1]);
        assert_eq!(t.completed.len(), 2);
        assert_eq!(t.flushed(&ids[1..]), 10);
        assert!(
            t.segments(&ids[1], None).is_empty(),
            "gone once its block is registered"
        );
        assert_eq!(t.flushing.len(), 0);
    }

    #[test]
    fn the_minimum_position_covers_every_set() {
        let now = Instant::now();
        let mut t = TenantTraces::default();
        assert_eq!(t.min_position(), None);
        t.live.insert(id(1), entry(1, 30, now));
        t.add_completed(id(2), entry(1, 20, now));
        t.flushing.insert(id(3), entry(1, 10, now));
        assert_eq!(t.min_position().map(|p| p.offset), Some(10));
        t.flushed(&[id(3)]);
        assert_eq!(t.min_position().map(|p| p.offset), Some(20));
    }
}
