//! Search and tag answers in Tempo's protobuf-JSON dialect (tempo-spec §3.2, §3.4, §3.5), with
//! Grafana's strict decoder in mind: 64-bit integers as strings, 32-bit as numbers, zero and
//! empty fields omitted, fields in `tempo.proto` order. Exceptions to omission, for clients that
//! dereference without a check: the top-level lists (`traces`, `tagNames`, `scopes`,
//! `tagValues`) and `metrics` are always written.
//!
//! Messages: `SearchResponse{traces=1, metrics=2}`, `TraceSearchMetadata{traceID=1,
//! rootServiceName=2, rootTraceName=3, startTimeUnixNano=4, durationMs=5, spanSet=6, spanSets=7,
//! serviceStats=8}`, `SpanSet{spans=1, matched=2, attributes=3}`, `Span{spanID=1, name=2,
//! startTimeUnixNano=3, durationNanos=4, attributes=5}`, `ServiceStats{spanCount=1,
//! errorCount=2}`, `SearchMetrics{inspectedTraces=1, inspectedBytes=2, totalBlocks=3,
//! completedJobs=4, totalJobs=5, totalBlockBytes=6, inspectedSpans=7, backendReads=8,
//! backendBytes=9}` and, for tags, `MetadataMetrics{inspectedBytes=1, totalJobs=2,
//! completedJobs=3, totalBlocks=4, totalBlockBytes=5, backendReads=6, backendBytes=7}`.

use std::collections::BTreeMap;

use sextant_model::{
    SearchMetrics, SearchResponse, ServiceStats, SpanSet, SpanSummary, TagScope, TagValue, TraceId,
    TraceSummary,
};

use crate::tempo_json::{Obj, push_json_string, write_key_value};

/// `traceID` in search answers: lower-case hex without leading zeros, at least one digit.
pub(crate) fn search_trace_id(id: &TraceId) -> String {
    let hex = id.to_hex();
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// `spanID`: 16 lower-case hex digits, zero-padded on the left.
pub(crate) fn span_id_hex(id: &[u8]) -> String {
    format!("{:0>16}", hex::encode(id))
}

/// `durationMs`: whole milliseconds, saturating at `u32::MAX`.
pub(crate) fn duration_ms(nanos: u64) -> u32 {
    u32::try_from(nanos / 1_000_000).unwrap_or(u32::MAX)
}

/// `SearchResponse`.
pub(crate) fn search(response: &SearchResponse) -> String {
    let mut out = String::new();
    let mut o = Obj::open(&mut out);
    o.array("traces", &response.traces, write_trace);
    o.key("metrics");
    write_search_metrics(o.out, &response.metrics);
    o.close();
    out
}

fn write_trace(out: &mut String, t: &TraceSummary) {
    let mut o = Obj::open(out);
    o.string("traceID", &search_trace_id(&t.trace_id));
    o.string("rootServiceName", &t.root_service_name);
    o.string("rootTraceName", &t.root_trace_name);
    o.u64_str("startTimeUnixNano", t.start_time_unix_nano);
    o.u32_num("durationMs", duration_ms(t.duration_nanos));
    o.message("spanSet", t.span_sets.first(), write_span_set);
    o.list("spanSets", &t.span_sets, write_span_set);
    if !t.service_stats.is_empty() {
        o.key("serviceStats");
        write_service_stats(o.out, &t.service_stats);
    }
    o.close();
}

fn write_span_set(out: &mut String, s: &SpanSet) {
    let mut o = Obj::open(out);
    o.list("spans", &s.spans, write_span);
    o.u32_num("matched", s.matched);
    o.list("attributes", &s.attributes, write_key_value);
    o.close();
}

fn write_span(out: &mut String, s: &SpanSummary) {
    let mut o = Obj::open(out);
    o.string("spanID", &span_id_hex(&s.span_id));
    o.string("name", &s.name);
    o.u64_str("startTimeUnixNano", s.start_time_unix_nano);
    o.u64_str("durationNanos", s.duration_nanos);
    o.list("attributes", &s.attributes, write_key_value);
    o.close();
}

/// A proto map: keys in sorted order (the map is a `BTreeMap`), each value a message.
fn write_service_stats(out: &mut String, stats: &BTreeMap<String, ServiceStats>) {
    let mut o = Obj::open(out);
    for (service, s) in stats {
        o.key(service);
        let mut v = Obj::open(o.out);
        v.u32_num("spanCount", s.span_count);
        v.u32_num("errorCount", s.error_count);
        v.close();
    }
    o.close();
}

fn write_search_metrics(out: &mut String, m: &SearchMetrics) {
    let mut o = Obj::open(out);
    search_metrics_fields(&mut o, m);
    o.u64_str("backendReads", m.backend_reads);
    o.u64_str("backendBytes", m.backend_bytes);
    o.close();
}

/// The seven `SearchMetrics` fields every Tempo proto version declares (the metrics routes
/// write only these; search adds the backend fields).
pub(crate) fn search_metrics_fields(o: &mut Obj<'_>, m: &SearchMetrics) {
    o.u32_num("inspectedTraces", m.inspected_traces);
    o.u64_str("inspectedBytes", m.inspected_bytes);
    o.u32_num("totalBlocks", m.total_blocks);
    o.u32_num("completedJobs", m.completed_jobs);
    o.u32_num("totalJobs", m.total_jobs);
    o.u64_str("totalBlockBytes", m.total_block_bytes);
    o.u64_str("inspectedSpans", m.inspected_spans);
}

/// Tempo's `MetadataMetrics`, the tag routes' `metrics`.
fn write_metadata_metrics(out: &mut String, m: &SearchMetrics) {
    let mut o = Obj::open(out);
    o.u64_str("inspectedBytes", m.inspected_bytes);
    o.u32_num("totalJobs", m.total_jobs);
    o.u32_num("completedJobs", m.completed_jobs);
    o.u32_num("totalBlocks", m.total_blocks);
    o.u64_str("totalBlockBytes", m.total_block_bytes);
    o.u64_str("backendReads", m.backend_reads);
    o.u64_str("backendBytes", m.backend_bytes);
    o.close();
}

/// v1 tag names: `{"tagNames":[...],"metrics":{...}}`.
pub(crate) fn tag_names_v1(names: &[String], metrics: &SearchMetrics) -> String {
    let mut out = String::new();
    let mut o = Obj::open(&mut out);
    o.array("tagNames", names, |out, s| push_json_string(out, s));
    o.key("metrics");
    write_metadata_metrics(o.out, metrics);
    o.close();
    out
}

/// v2 tag names: `{"scopes":[{"name":"resource","tags":[...]},...],"metrics":{...}}`; a scope
/// without tags is left out.
pub(crate) fn tag_names_v2(scopes: &[(TagScope, Vec<String>)], metrics: &SearchMetrics) -> String {
    let with_tags: Vec<&(TagScope, Vec<String>)> =
        scopes.iter().filter(|(_, tags)| !tags.is_empty()).collect();
    let mut out = String::new();
    let mut o = Obj::open(&mut out);
    o.array("scopes", &with_tags, |out, (scope, tags)| {
        let mut s = Obj::open(out);
        s.string("name", scope.as_str());
        s.list("tags", tags, |out, s| push_json_string(out, s));
        s.close();
    });
    o.key("metrics");
    write_metadata_metrics(o.out, metrics);
    o.close();
    out
}

/// v1 tag values: `{"tagValues":["a","b"],"metrics":{...}}`.
pub(crate) fn tag_values_v1(values: &[String], metrics: &SearchMetrics) -> String {
    let mut out = String::new();
    let mut o = Obj::open(&mut out);
    o.array("tagValues", values, |out, s| push_json_string(out, s));
    o.key("metrics");
    write_metadata_metrics(o.out, metrics);
    o.close();
    out
}

/// v2 tag values: `{"tagValues":[{"type":"string","value":"x"},...],"metrics":{...}}`.
pub(crate) fn tag_values_v2(values: &[TagValue], metrics: &SearchMetrics) -> String {
    let mut out = String::new();
    let mut o = Obj::open(&mut out);
    o.array("tagValues", values, |out, v| {
        let mut t = Obj::open(out);
        t.string("type", v.value_type.as_str());
        t.string("value", &v.value);
        t.close();
    });
    o.key("metrics");
    write_metadata_metrics(o.out, metrics);
    o.close();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_durations() {
        let mut id = [0u8; 16];
        assert_eq!(search_trace_id(&TraceId(id)), "0");
        id[15] = 0x0a;
        assert_eq!(search_trace_id(&TraceId(id)), "a");
        id[7] = 0x10;
        assert_eq!(search_trace_id(&TraceId(id)), "10000000000000000a");
        assert_eq!(span_id_hex(&[0, 0, 0, 0, 0, 0, 1, 2]), "0000000000000102");
        assert_eq!(span_id_hex(&[1, 2]), "0000000000000102");
        assert_eq!(duration_ms(999_999), 0);
        assert_eq!(duration_ms(1_500_000), 1);
        assert_eq!(duration_ms(u64::MAX), u32::MAX);
    }

    #[test]
    fn empty_answers_keep_their_lists_and_metrics() {
        let metrics = SearchMetrics::default();
        assert_eq!(
            search(&SearchResponse::default()),
            r#"{"traces":[],"metrics":{}}"#
        );
        assert_eq!(
            tag_names_v1(&[], &metrics),
            r#"{"tagNames":[],"metrics":{}}"#
        );
        assert_eq!(
            tag_names_v2(&[(TagScope::Span, vec![])], &metrics),
            r#"{"scopes":[],"metrics":{}}"#
        );
        assert_eq!(
            tag_values_v1(&[], &metrics),
            r#"{"tagValues":[],"metrics":{}}"#
        );
        assert_eq!(
            tag_values_v2(&[], &metrics),
            r#"{"tagValues":[],"metrics":{}}"#
        );
    }
}
