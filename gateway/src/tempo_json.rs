//! Tempo's protobuf-JSON dialect for traces (gogo `jsonpb` defaults, tempo-spec §3.2): lowerCamel
//! names, zero and empty fields omitted, 64-bit integers as strings, 32-bit as numbers, enums as
//! names, bytes (trace, span and parent ids, `bytesValue`) as base64, doubles as numbers (NaN and
//! infinities as strings). Fields are written in `.proto` declaration order.
//!
//! This is the query API's output format only; OTLP/JSON ingest (hex ids) is decoded elsewhere.

use base64::Engine as _;
use sextant_model::otlp::{
    AnyValue, EntityRef, Event, InstrumentationScope, KeyValue, Link, Resource, ResourceSpans,
    ScopeSpans, Span, SpanKind, Status, StatusCode, any_value,
};

/// `{"batches":[...]}`: the v1 trace-by-ID body.
pub(crate) fn trace_v1(resource_spans: &[ResourceSpans]) -> String {
    let mut out = String::new();
    let mut o = Obj::open(&mut out);
    o.list("batches", resource_spans, write_resource_spans);
    o.close();
    out
}

/// `{"trace":{"resourceSpans":[...]},"metrics":{...}}`: the v2 trace-by-ID body.
pub(crate) fn trace_v2(
    resource_spans: &[ResourceSpans],
    inspected_bytes: u64,
    partial_message: Option<&str>,
) -> String {
    let mut out = String::new();
    let mut o = Obj::open(&mut out);
    o.key("trace");
    {
        let mut t = Obj::open(o.out);
        t.list("resourceSpans", resource_spans, write_resource_spans);
        t.close();
    }
    o.key("metrics");
    {
        let mut m = Obj::open(o.out);
        m.u64_str("inspectedBytes", inspected_bytes);
        m.close();
    }
    if let Some(message) = partial_message {
        o.raw("status", "\"PARTIAL\"");
        o.string("message", message);
    }
    o.close();
    out
}

/// A JSON object being written; commas are handled by [`Obj::key`]. Shared with the search
/// responses ([`crate::search_json`]).
pub(crate) struct Obj<'a> {
    pub(crate) out: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    pub(crate) fn open(out: &'a mut String) -> Self {
        out.push('{');
        Self { out, first: true }
    }

    pub(crate) fn close(self) {
        self.out.push('}');
    }

    pub(crate) fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        push_json_string(self.out, key);
        self.out.push(':');
    }

    pub(crate) fn raw(&mut self, key: &str, value: &str) {
        self.key(key);
        self.out.push_str(value);
    }

    /// A proto3 string: omitted when empty.
    pub(crate) fn string(&mut self, key: &str, value: &str) {
        if !value.is_empty() {
            self.key(key);
            push_json_string(self.out, value);
        }
    }

    /// A 64-bit integer: a JSON string, omitted when zero.
    pub(crate) fn u64_str(&mut self, key: &str, value: u64) {
        if value != 0 {
            self.raw(key, &format!("\"{value}\""));
        }
    }

    /// A 32-bit integer: a JSON number, omitted when zero.
    pub(crate) fn u32_num(&mut self, key: &str, value: u32) {
        if value != 0 {
            self.raw(key, &value.to_string());
        }
    }

    /// A repeated field that is written even when empty (`[]`): for lists a client dereferences
    /// without a check.
    pub(crate) fn array<T>(&mut self, key: &str, items: &[T], write: fn(&mut String, &T)) {
        self.key(key);
        self.out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            write(self.out, item);
        }
        self.out.push(']');
    }

    /// `bytes`: base64, omitted when empty.
    fn bytes(&mut self, key: &str, value: &[u8]) {
        if !value.is_empty() {
            let encoded = base64::engine::general_purpose::STANDARD.encode(value);
            self.raw(key, &format!("\"{encoded}\""));
        }
    }

    /// A repeated field: omitted when empty.
    pub(crate) fn list<T>(&mut self, key: &str, items: &[T], write: fn(&mut String, &T)) {
        if !items.is_empty() {
            self.array(key, items, write);
        }
    }

    /// A message field: present when set, even if all its fields are empty.
    pub(crate) fn message<T>(&mut self, key: &str, value: Option<&T>, write: fn(&mut String, &T)) {
        if let Some(value) = value {
            self.key(key);
            write(self.out, value);
        }
    }
}

pub(crate) fn push_json_string(out: &mut String, s: &str) {
    out.push_str(&serde_json::Value::from(s).to_string());
}

fn write_resource_spans(out: &mut String, rs: &ResourceSpans) {
    let mut o = Obj::open(out);
    o.message("resource", rs.resource.as_ref(), write_resource);
    o.list("scopeSpans", &rs.scope_spans, write_scope_spans);
    o.string("schemaUrl", &rs.schema_url);
    o.close();
}

fn write_resource(out: &mut String, r: &Resource) {
    let mut o = Obj::open(out);
    o.list("attributes", &r.attributes, write_key_value);
    o.u32_num("droppedAttributesCount", r.dropped_attributes_count);
    o.list("entityRefs", &r.entity_refs, write_entity_ref);
    o.close();
}

fn write_entity_ref(out: &mut String, e: &EntityRef) {
    let mut o = Obj::open(out);
    o.string("schemaUrl", &e.schema_url);
    o.string("type", &e.r#type);
    o.list("idKeys", &e.id_keys, |out, k| push_json_string(out, k));
    o.list("descriptionKeys", &e.description_keys, |out, k| {
        push_json_string(out, k)
    });
    o.close();
}

fn write_scope_spans(out: &mut String, ss: &ScopeSpans) {
    let mut o = Obj::open(out);
    o.message("scope", ss.scope.as_ref(), write_scope);
    o.list("spans", &ss.spans, write_span);
    o.string("schemaUrl", &ss.schema_url);
    o.close();
}

fn write_scope(out: &mut String, s: &InstrumentationScope) {
    let mut o = Obj::open(out);
    o.string("name", &s.name);
    o.string("version", &s.version);
    o.list("attributes", &s.attributes, write_key_value);
    o.u32_num("droppedAttributesCount", s.dropped_attributes_count);
    o.close();
}

/// An enum: its name, or its number when unknown; omitted when zero.
fn enum_value(value: i32, name: Option<&'static str>) -> Option<String> {
    if value == 0 {
        return None;
    }
    Some(name.map_or_else(|| value.to_string(), |n| format!("\"{n}\"")))
}

fn write_span(out: &mut String, s: &Span) {
    let mut o = Obj::open(out);
    o.bytes("traceId", &s.trace_id);
    o.bytes("spanId", &s.span_id);
    o.string("traceState", &s.trace_state);
    o.bytes("parentSpanId", &s.parent_span_id);
    o.u32_num("flags", s.flags);
    o.string("name", &s.name);
    let kind = SpanKind::try_from(s.kind).ok().map(SpanKind::proto_name);
    if let Some(kind) = enum_value(s.kind, kind) {
        o.raw("kind", &kind);
    }
    o.u64_str("startTimeUnixNano", s.start_time_unix_nano);
    o.u64_str("endTimeUnixNano", s.end_time_unix_nano);
    o.list("attributes", &s.attributes, write_key_value);
    o.u32_num("droppedAttributesCount", s.dropped_attributes_count);
    o.list("events", &s.events, write_event);
    o.u32_num("droppedEventsCount", s.dropped_events_count);
    o.list("links", &s.links, write_link);
    o.u32_num("droppedLinksCount", s.dropped_links_count);
    o.message("status", s.status.as_ref(), write_status);
    o.close();
}

fn write_event(out: &mut String, e: &Event) {
    let mut o = Obj::open(out);
    o.u64_str("timeUnixNano", e.time_unix_nano);
    o.string("name", &e.name);
    o.list("attributes", &e.attributes, write_key_value);
    o.u32_num("droppedAttributesCount", e.dropped_attributes_count);
    o.close();
}

fn write_link(out: &mut String, l: &Link) {
    let mut o = Obj::open(out);
    o.bytes("traceId", &l.trace_id);
    o.bytes("spanId", &l.span_id);
    o.string("traceState", &l.trace_state);
    o.list("attributes", &l.attributes, write_key_value);
    o.u32_num("droppedAttributesCount", l.dropped_attributes_count);
    o.u32_num("flags", l.flags);
    o.close();
}

fn write_status(out: &mut String, s: &Status) {
    let mut o = Obj::open(out);
    o.string("message", &s.message);
    let code = StatusCode::try_from(s.code)
        .ok()
        .map(StatusCode::proto_name);
    if let Some(code) = enum_value(s.code, code) {
        o.raw("code", &code);
    }
    o.close();
}

pub(crate) fn write_key_value(out: &mut String, kv: &KeyValue) {
    let mut o = Obj::open(out);
    o.string("key", &kv.key);
    o.message("value", kv.value.as_ref(), write_any_value);
    o.close();
}

/// A oneof member is written whenever it is set, even with its zero value.
fn write_any_value(out: &mut String, v: &AnyValue) {
    use any_value::Value;
    let mut o = Obj::open(out);
    match &v.value {
        None => {}
        Some(Value::StringValue(s)) => {
            o.key("stringValue");
            push_json_string(o.out, s);
        }
        Some(Value::BoolValue(b)) => o.raw("boolValue", if *b { "true" } else { "false" }),
        Some(Value::IntValue(i)) => o.raw("intValue", &format!("\"{i}\"")),
        Some(Value::DoubleValue(d)) => o.raw("doubleValue", &double(*d)),
        Some(Value::ArrayValue(a)) => {
            o.key("arrayValue");
            let mut inner = Obj::open(o.out);
            inner.list("values", &a.values, write_any_value);
            inner.close();
        }
        Some(Value::KvlistValue(kv)) => {
            o.key("kvlistValue");
            let mut inner = Obj::open(o.out);
            inner.list("values", &kv.values, write_key_value);
            inner.close();
        }
        Some(Value::BytesValue(b)) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(b);
            o.raw("bytesValue", &format!("\"{encoded}\""));
        }
    }
    o.close();
}

/// A double as protobuf-JSON writes it: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub(crate) fn double(d: f64) -> String {
    if d.is_nan() {
        "\"NaN\"".to_owned()
    } else if d.is_infinite() {
        if d > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        }
        .to_owned()
    } else if d == 0.0 || (1e-6..1e21).contains(&d.abs()) {
        // Plain decimal notation, shortest round-trip digits (`2`, `1.5`, `0.001`).
        format!("{d}")
    } else {
        // Exponent notation for very large and very small magnitudes.
        serde_json::Number::from_f64(d).map_or_else(|| "0".to_owned(), |n| n.to_string())
    }
}

#[cfg(test)]
#[path = "tempo_json_tests.rs"]
mod tests;
