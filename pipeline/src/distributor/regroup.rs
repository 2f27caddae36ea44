//! Splitting a request into one `TracesData` per trace, keeping resource and scope grouping.

use std::collections::HashMap;

use sextant_model::otlp::{ResourceSpans, ScopeSpans, Span, TracesData};
use sextant_model::{TimeRange, TraceId};

/// The spans of one trace from one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TraceBatch {
    pub(crate) trace_id: TraceId,
    pub(crate) spans: u32,
    /// Smallest start and largest end time of the spans.
    pub(crate) range: TimeRange,
    pub(crate) data: TracesData,
}

impl TraceBatch {
    fn new(trace_id: TraceId) -> Self {
        Self {
            trace_id,
            spans: 0,
            range: TimeRange::new(u64::MAX, 0),
            data: TracesData::default(),
        }
    }

    fn add(&mut self, span: &Span) {
        self.spans = self.spans.saturating_add(1);
        self.range.start = self.range.start.min(span.start_time_unix_nano);
        self.range.end = self
            .range
            .end
            .max(span.end_time_unix_nano.max(span.start_time_unix_nano));
    }
}

/// Groups validated spans (every trace id is 16 bytes) by trace, in order of first appearance.
/// A request holding a single trace is moved whole, without copying resources or scopes.
pub(crate) fn regroup(data: TracesData) -> Vec<TraceBatch> {
    let mut ids = data
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .filter_map(|s| TraceId::from_slice(&s.trace_id));
    let Some(first) = ids.next() else {
        return Vec::new();
    };
    if ids.all(|id| id == first) {
        let mut batch = TraceBatch::new(first);
        for span in data
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
        {
            batch.add(span);
        }
        batch.data = data;
        return vec![batch];
    }

    struct Building {
        batch: TraceBatch,
        /// Index of the input resource and scope group the trace's last group came from.
        last_rs: Option<usize>,
        last_ss: Option<usize>,
    }
    let mut index: HashMap<TraceId, usize> = HashMap::new();
    let mut out: Vec<Building> = Vec::new();
    for (rs_i, mut rs) in data.resource_spans.into_iter().enumerate() {
        let scope_spans = std::mem::take(&mut rs.scope_spans);
        for (ss_i, mut ss) in scope_spans.into_iter().enumerate() {
            let spans = std::mem::take(&mut ss.spans);
            for span in spans {
                let Some(id) = TraceId::from_slice(&span.trace_id) else {
                    continue;
                };
                let slot = *index.entry(id).or_insert_with(|| {
                    out.push(Building {
                        batch: TraceBatch::new(id),
                        last_rs: None,
                        last_ss: None,
                    });
                    out.len() - 1
                });
                let Some(b) = out.get_mut(slot) else { continue };
                b.batch.add(&span);
                if b.last_rs != Some(rs_i) {
                    b.batch.data.resource_spans.push(ResourceSpans {
                        resource: rs.resource.clone(),
                        scope_spans: Vec::new(),
                        schema_url: rs.schema_url.clone(),
                    });
                    b.last_rs = Some(rs_i);
                    b.last_ss = None;
                }
                let Some(out_rs) = b.batch.data.resource_spans.last_mut() else {
                    continue;
                };
                if b.last_ss != Some(ss_i) {
                    out_rs.scope_spans.push(ScopeSpans {
                        scope: ss.scope.clone(),
                        spans: Vec::new(),
                        schema_url: ss.schema_url.clone(),
                    });
                    b.last_ss = Some(ss_i);
                }
                if let Some(out_ss) = out_rs.scope_spans.last_mut() {
                    out_ss.spans.push(span);
                }
            }
        }
    }
    out.into_iter().map(|b| b.batch).collect()
}
