//! Reading a trace back: the segments from every place it lives merged into one `TracesData`,
//! spans de-duplicated by span id.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use prost::Message;
use sextant_model::TraceLookup;
use sextant_model::otlp::{ResourceSpans, ScopeSpans, TracesData};

/// Merges protobuf `TracesData` segments of one trace. Resource groups with the same resource
/// and schema URL become one, as do scope groups with the same scope and schema URL inside them
/// (compared by their protobuf encoding, so NaN attributes compare equal to themselves). A span
/// id seen before is dropped: a client retry's identical copy appears once. Groups keep the
/// order in which they were first seen; spans in a scope are ordered by start time, stably.
/// `None` when the segments hold no span; a segment that fails to decode is logged and skipped.
pub(crate) fn merge(segments: Vec<Bytes>) -> Option<TraceLookup> {
    let mut inspected = 0u64;
    let mut out = TracesData::default();
    let mut resources: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut scopes: HashMap<(usize, Vec<u8>), usize> = HashMap::new();
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    for bytes in segments {
        inspected += bytes.len() as u64;
        let data = match TracesData::decode(bytes) {
            Ok(d) => d,
            Err(error) => {
                tracing::warn!(%error, "skipping undecodable trace segment");
                continue;
            }
        };
        for rs in data.resource_spans {
            let ResourceSpans {
                resource,
                scope_spans,
                schema_url,
            } = rs;
            let mut key = resource
                .as_ref()
                .map(Message::encode_to_vec)
                .unwrap_or_default();
            key.extend_from_slice(schema_url.as_bytes());
            key.extend_from_slice(&(schema_url.len() as u64).to_le_bytes());
            let ri = *resources.entry(key).or_insert_with(|| {
                out.resource_spans.push(ResourceSpans {
                    resource,
                    scope_spans: Vec::new(),
                    schema_url,
                });
                out.resource_spans.len() - 1
            });
            for ss in scope_spans {
                let ScopeSpans {
                    scope,
                    spans,
                    schema_url,
                } = ss;
                let mut key = scope
                    .as_ref()
                    .map(Message::encode_to_vec)
                    .unwrap_or_default();
                key.extend_from_slice(schema_url.as_bytes());
                key.extend_from_slice(&(schema_url.len() as u64).to_le_bytes());
                let Some(out_rs) = out.resource_spans.get_mut(ri) else {
                    continue;
                };
                let si = *scopes.entry((ri, key)).or_insert_with(|| {
                    out_rs.scope_spans.push(ScopeSpans {
                        scope,
                        spans: Vec::new(),
                        schema_url,
                    });
                    out_rs.scope_spans.len() - 1
                });
                let Some(out_ss) = out_rs.scope_spans.get_mut(si) else {
                    continue;
                };
                for span in spans {
                    if seen.insert(span.span_id.clone()) {
                        out_ss.spans.push(span);
                    }
                }
            }
        }
    }
    if seen.is_empty() {
        return None;
    }
    for rs in &mut out.resource_spans {
        rs.scope_spans.retain(|ss| !ss.spans.is_empty());
        for ss in &mut rs.scope_spans {
            ss.spans.sort_by_key(|s| s.start_time_unix_nano);
        }
    }
    out.resource_spans.retain(|rs| !rs.scope_spans.is_empty());
    Some(TraceLookup {
        trace: out,
        inspected_bytes: inspected,
    })
}
