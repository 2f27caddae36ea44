//! Per-span checks and attribute truncation, done in place on the decoded request.

use sextant_model::DiscardReason;
use sextant_model::otlp::{AnyValue, KeyValue, Span, TracesData, any_value};

/// What validation found in one request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Checked {
    /// Spans in the request as received.
    pub(crate) received: u64,
    pub(crate) invalid_trace_id: u64,
    pub(crate) invalid_span_id: u64,
    /// Attribute keys and values shortened.
    pub(crate) truncated: u64,
}

impl Checked {
    pub(crate) fn rejections(&self) -> [(DiscardReason, u64); 2] {
        [
            (DiscardReason::InvalidTraceId, self.invalid_trace_id),
            (DiscardReason::InvalidSpanId, self.invalid_span_id),
        ]
    }
}

/// Removes spans with an invalid trace or span id (counting why), clears all-zero parent ids and
/// truncates attribute keys and string values over `max_attribute_bytes` (0 disables) at every
/// level. Resource and scope groups left without spans are dropped.
pub(crate) fn validate_and_truncate(data: &mut TracesData, max_attribute_bytes: u64) -> Checked {
    let max = usize::try_from(max_attribute_bytes).unwrap_or(usize::MAX);
    let mut checked = Checked::default();
    for rs in &mut data.resource_spans {
        for ss in &mut rs.scope_spans {
            checked.received += ss.spans.len() as u64;
            ss.spans.retain_mut(|span| match check_ids(span) {
                Some(DiscardReason::InvalidTraceId) => {
                    checked.invalid_trace_id += 1;
                    false
                }
                Some(_) => {
                    checked.invalid_span_id += 1;
                    false
                }
                None => {
                    // Grafana shows a span as a root only when its parent id is empty; some
                    // clients send eight zero bytes for "no parent", which means the same.
                    if !span.parent_span_id.is_empty()
                        && span.parent_span_id.iter().all(|b| *b == 0)
                    {
                        span.parent_span_id.clear();
                    }
                    if max > 0 {
                        checked.truncated += truncate_span(span, max);
                    }
                    true
                }
            });
        }
        rs.scope_spans.retain(|ss| !ss.spans.is_empty());
        if max > 0 && !rs.scope_spans.is_empty() {
            if let Some(resource) = &mut rs.resource {
                checked.truncated += truncate_kvs(&mut resource.attributes, max);
            }
            for ss in &mut rs.scope_spans {
                if let Some(scope) = &mut ss.scope {
                    checked.truncated += truncate_kvs(&mut scope.attributes, max);
                }
            }
        }
    }
    data.resource_spans.retain(|rs| !rs.scope_spans.is_empty());
    checked
}

fn check_ids(span: &Span) -> Option<DiscardReason> {
    if span.trace_id.len() != 16 || span.trace_id.iter().all(|b| *b == 0) {
        return Some(DiscardReason::InvalidTraceId);
    }
    if span.span_id.len() != 8 || span.span_id.iter().all(|b| *b == 0) {
        return Some(DiscardReason::InvalidSpanId);
    }
    None
}

fn truncate_span(span: &mut Span, max: usize) -> u64 {
    let mut n = truncate_kvs(&mut span.attributes, max);
    for e in &mut span.events {
        n += truncate_kvs(&mut e.attributes, max);
    }
    for l in &mut span.links {
        n += truncate_kvs(&mut l.attributes, max);
    }
    n
}

/// Truncates in place; nothing is copied when nothing is too long.
fn truncate_kvs(kvs: &mut [KeyValue], max: usize) -> u64 {
    let mut n = 0;
    for kv in kvs {
        if truncate_str(&mut kv.key, max) {
            n += 1;
        }
        if let Some(v) = &mut kv.value {
            n += truncate_value(v, max);
        }
    }
    n
}

/// String values are truncated inside arrays and kvlists too, so no value escapes the limit by
/// nesting. Depth is bounded by the decoders (prost: 100, JSON: 64).
fn truncate_value(v: &mut AnyValue, max: usize) -> u64 {
    match &mut v.value {
        Some(any_value::Value::StringValue(s)) => u64::from(truncate_str(s, max)),
        Some(any_value::Value::ArrayValue(a)) => {
            a.values.iter_mut().map(|v| truncate_value(v, max)).sum()
        }
        Some(any_value::Value::KvlistValue(l)) => truncate_kvs(&mut l.values, max),
        _ => 0,
    }
}

/// Shortens `s` to at most `max` bytes, cutting on a UTF-8 character boundary.
pub(crate) fn truncate_str(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    true
}
