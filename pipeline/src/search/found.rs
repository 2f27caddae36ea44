//! The traces a search has found so far, merged across the places a trace lives.
//!
//! One trace can be found in several fragments: spans still in memory and spans already in a
//! block, spans in two blocks, and the same spans twice (a flush registers its block before the
//! traces leave memory; a client retries a push whose answer it lost). Spans are therefore
//! counted and listed by span ID, so each counts once in `serviceStats` and in a span set's
//! `matched`, whichever fragments it came in. Each fragment is evaluated on its own, as Tempo
//! evaluates each block on its own.

use std::collections::{BTreeMap, HashMap, HashSet};

use sextant_model::{ServiceStats, SpanSet, TraceId, TraceSummary};

/// A matching trace while results are being gathered.
#[derive(Debug, Clone)]
pub(super) struct Found {
    /// ID, start, duration and root; service stats and span sets live in the fields below
    /// until [`Found::summary`].
    pub(super) summary: TraceSummary,
    /// Latest span end.
    pub(super) end: u64,
    pub(super) has_root: bool,
    services: BTreeMap<String, ServiceSpans>,
    /// Each span set with the IDs of every span it matched (not only the listed ones).
    span_sets: Vec<(SpanSet, HashSet<Vec<u8>>)>,
}

/// The spans of one service, by span ID.
#[derive(Debug, Clone, Default)]
struct ServiceSpans {
    spans: HashSet<Vec<u8>>,
    errors: HashSet<Vec<u8>>,
}

impl Found {
    pub(super) fn new(summary: TraceSummary, end: u64, has_root: bool) -> Self {
        Self {
            summary,
            end,
            has_root,
            services: BTreeMap::new(),
            span_sets: Vec::new(),
        }
    }

    /// Counts one span of the trace in `service`'s stats (once, however often it is counted).
    pub(super) fn count_span(&mut self, service: &str, span_id: Vec<u8>, error: bool) {
        let entry = match self.services.get_mut(service) {
            Some(entry) => entry,
            None => self.services.entry(service.to_string()).or_default(),
        };
        if error {
            entry.errors.insert(span_id.clone());
        }
        entry.spans.insert(span_id);
    }

    /// Adds a span set of this fragment, with the IDs of all the spans it matched.
    pub(super) fn add_span_set(&mut self, set: SpanSet, matched: HashSet<Vec<u8>>) {
        self.span_sets.push((set, matched));
    }

    /// The trace as the answer shows it.
    pub(super) fn summary(&self) -> TraceSummary {
        let mut summary = self.summary.clone();
        summary.service_stats = self
            .services
            .iter()
            .map(|(service, s)| {
                let stats = ServiceStats {
                    span_count: s.spans.len() as u32,
                    error_count: s.errors.len() as u32,
                };
                (service.clone(), stats)
            })
            .collect();
        summary.span_sets = self
            .span_sets
            .iter()
            .map(|(set, matched)| SpanSet {
                matched: matched.len() as u32,
                ..set.clone()
            })
            .collect();
        summary
    }

    /// Takes in another fragment of the same trace. Span sets of the same group (equal
    /// attributes: the `by` values, none without `by`) become one, listing at most `spss` spans.
    fn merge(&mut self, other: Found, spss: usize) {
        let start = self
            .summary
            .start_time_unix_nano
            .min(other.summary.start_time_unix_nano);
        self.end = self.end.max(other.end);
        self.summary.start_time_unix_nano = start;
        self.summary.duration_nanos = self.end - start;
        if !self.has_root && other.has_root {
            self.summary.root_service_name = other.summary.root_service_name;
            self.summary.root_trace_name = other.summary.root_trace_name;
            self.has_root = true;
        }
        for (service, spans) in other.services {
            let entry = self.services.entry(service).or_default();
            entry.spans.extend(spans.spans);
            entry.errors.extend(spans.errors);
        }
        for (set, matched) in other.span_sets {
            let Some((existing, ids)) = self
                .span_sets
                .iter_mut()
                .find(|(s, _)| s.attributes == set.attributes)
            else {
                self.span_sets.push((set, matched));
                continue;
            };
            for span in set.spans {
                if existing.spans.len() >= spss {
                    break;
                }
                if !existing.spans.iter().any(|s| s.span_id == span.span_id) {
                    existing.spans.push(span);
                }
            }
            ids.extend(matched);
        }
    }
}

/// Adds newly found traces, merging ones already found elsewhere (another block, memory).
pub(super) fn merge_found(found: &mut HashMap<TraceId, Found>, traces: Vec<Found>, spss: usize) {
    for f in traces {
        match found.get_mut(&f.summary.trace_id) {
            None => {
                found.insert(f.summary.trace_id, f);
            }
            Some(existing) => existing.merge(f, spss),
        }
    }
}

/// Keeps memory bounded on broad queries: once far more than `limit` traces are known, only the
/// `limit` newest are kept (older ones can no longer make the answer). A trace split across
/// blocks whose older part was dropped comes back only with its newer spans; it then starts
/// later than it really does, which can only matter when it ties with the `limit`-th trace.
pub(super) fn trim_found(found: &mut HashMap<TraceId, Found>, limit: usize) {
    if found.len() <= limit.saturating_mul(2).saturating_add(1_000) {
        return;
    }
    let mut order: Vec<(u64, TraceId)> = found
        .values()
        .map(|f| (f.summary.start_time_unix_nano, f.summary.trace_id))
        .collect();
    order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.0.cmp(&b.1.0)));
    for (_, id) in order.into_iter().skip(limit) {
        found.remove(&id);
    }
}

/// The start time of the `n`-th newest trace found so far (`n` ≥ 1; 0 when fewer are found).
pub(super) fn nth_start(found: &HashMap<TraceId, Found>, n: usize) -> u64 {
    let mut starts: Vec<u64> = found
        .values()
        .map(|f| f.summary.start_time_unix_nano)
        .collect();
    starts.sort_unstable_by(|a, b| b.cmp(a));
    starts.get(n.saturating_sub(1)).copied().unwrap_or(0)
}

/// Newest first; ties by trace ID ascending.
pub(super) fn sort_traces(traces: &mut [TraceSummary]) {
    traces.sort_by(|a, b| {
        b.start_time_unix_nano
            .cmp(&a.start_time_unix_nano)
            .then(a.trace_id.0.cmp(&b.trace_id.0))
    });
}

/// Tells a streaming client which traces are settled: in the answer whatever the sources not
/// yet searched hold. Sources go newest first, so once every remaining source ends before a
/// trace's start, none of their traces can outrank it, and a trace ranked within `limit` now
/// stays there. Each trace is told once. (A trace with an older fragment in a remaining block
/// is told as known so far; its final copy in the full answer can list more spans.)
#[derive(Debug, Default)]
pub(super) struct Settled {
    told: HashSet<TraceId>,
}

impl Settled {
    /// The traces newly settled, given the latest end of the sources still to search (`None`:
    /// nothing remains, and the caller's final answer tells the rest).
    pub(super) fn take(
        &mut self,
        found: &HashMap<TraceId, Found>,
        limit: usize,
        remaining_end: Option<u64>,
    ) -> Vec<TraceSummary> {
        let Some(bound) = remaining_end else {
            return Vec::new();
        };
        let mut ranked: Vec<&Found> = found.values().collect();
        ranked.sort_by(|a, b| {
            b.summary
                .start_time_unix_nano
                .cmp(&a.summary.start_time_unix_nano)
                .then(a.summary.trace_id.0.cmp(&b.summary.trace_id.0))
        });
        ranked
            .into_iter()
            .take(limit)
            .take_while(|f| f.summary.start_time_unix_nano > bound)
            .filter(|f| self.told.insert(f.summary.trace_id))
            .map(Found::summary)
            .collect()
    }
}
