//! Merging the traces of several blocks into one set, each span once.

use std::collections::{BTreeMap, HashSet};

use sextant_model::TraceId;
use sextant_model::otlp::TracesData;

/// The merged traces in trace-ID order, and how many duplicate spans were dropped.
pub(crate) struct Merged {
    pub(crate) traces: Vec<(TraceId, TracesData)>,
    pub(crate) duplicates: u64,
}

/// Merges the traces of every input (in the order given) by trace ID. A span whose ID was
/// already seen in its trace is dropped, so the first copy is kept; resource and scope groups
/// left without spans are dropped too (the block writer regroups spans by resource and scope).
pub(crate) fn merge(inputs: Vec<Vec<(TraceId, TracesData)>>) -> Merged {
    let mut traces: BTreeMap<TraceId, (TracesData, HashSet<Vec<u8>>)> = BTreeMap::new();
    let mut duplicates = 0u64;
    for block in inputs {
        for (id, data) in block {
            let (out, seen) = traces.entry(id).or_default();
            for mut rs in data.resource_spans {
                for ss in &mut rs.scope_spans {
                    let before = ss.spans.len();
                    ss.spans.retain(|span| seen.insert(span.span_id.clone()));
                    duplicates += (before - ss.spans.len()) as u64;
                }
                rs.scope_spans.retain(|ss| !ss.spans.is_empty());
                if !rs.scope_spans.is_empty() {
                    out.resource_spans.push(rs);
                }
            }
        }
    }
    Merged {
        traces: traces
            .into_iter()
            .filter(|(_, (data, _))| !data.resource_spans.is_empty())
            .map(|(id, (data, _))| (id, data))
            .collect(),
        duplicates,
    }
}
