//! Test fixtures: a span using every OTLP field, and an OTLP/JSON writer to send it as JSON.

use base64::Engine as _;
use serde_json::{Value, json};
use sextant_model::otlp::*;

pub(crate) fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

pub(crate) fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

/// A plain span of trace `t` with span id `id`.
pub(crate) fn span(t: u8, id: u8, start: u64) -> Span {
    Span {
        trace_id: vec![t; 16],
        span_id: vec![id; 8],
        name: format!("op-{id}"),
        start_time_unix_nano: start,
        end_time_unix_nano: start + 10,
        ..Default::default()
    }
}

pub(crate) fn wrap(spans: Vec<Span>) -> TracesData {
    TracesData {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s("svc"))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "lib".into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// One trace, one span, every field and every `AnyValue` type set.
pub(crate) fn full_fidelity() -> TracesData {
    use any_value::Value as V;
    let every_value = vec![
        kv("str", s("héllo")),
        kv("bool", V::BoolValue(true)),
        kv("int", V::IntValue(-9_007_199_254_740_993)),
        kv("double", V::DoubleValue(3.25)),
        kv(
            "array",
            V::ArrayValue(ArrayValue {
                values: vec![
                    AnyValue {
                        value: Some(s("a")),
                    },
                    AnyValue {
                        value: Some(V::IntValue(7)),
                    },
                ],
            }),
        ),
        kv(
            "kvlist",
            V::KvlistValue(KeyValueList {
                values: vec![kv("nested", V::BoolValue(false))],
            }),
        ),
        kv("bytes", V::BytesValue(vec![0, 1, 2, 254, 255])),
    ];
    TracesData {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s("checkout")), kv("host", s("h1"))],
                dropped_attributes_count: 1,
                entity_refs: vec![EntityRef {
                    schema_url: "https://e".into(),
                    r#type: "service".into(),
                    id_keys: vec!["service.name".into()],
                    description_keys: vec!["host".into()],
                }],
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "io.lib".into(),
                    version: "1.2.3".into(),
                    attributes: vec![kv("scope.attr", s("x"))],
                    dropped_attributes_count: 2,
                }),
                spans: vec![Span {
                    trace_id: (1..=16).collect(),
                    span_id: (1..=8).collect(),
                    trace_state: "vendor=a".into(),
                    parent_span_id: (11..=18).collect(),
                    flags: 0x301,
                    name: "GET /cart".into(),
                    kind: SpanKind::Server as i32,
                    start_time_unix_nano: 1_700_000_000_123_456_789,
                    end_time_unix_nano: 1_700_000_000_223_456_789,
                    attributes: every_value,
                    dropped_attributes_count: 3,
                    events: vec![Event {
                        time_unix_nano: 1_700_000_000_150_000_000,
                        name: "exception".into(),
                        attributes: vec![kv("exception.message", s("boom"))],
                        dropped_attributes_count: 4,
                    }],
                    dropped_events_count: 5,
                    links: vec![Link {
                        trace_id: vec![9; 16],
                        span_id: vec![8; 8],
                        trace_state: "k=v".into(),
                        attributes: vec![kv("link.attr", V::IntValue(1))],
                        dropped_attributes_count: 6,
                        flags: 0x100,
                    }],
                    dropped_links_count: 7,
                    status: Some(Status {
                        message: "failed".into(),
                        code: StatusCode::Error as i32,
                    }),
                }],
                schema_url: "https://scope".into(),
            }],
            schema_url: "https://resource".into(),
        }],
    }
}

/// Writes OTLP/JSON as the OpenTelemetry SDKs do (lowerCamelCase, hex ids, 64-bit integers as
/// strings, enums as integers).
pub(crate) fn to_otlp_json(data: &TracesData) -> Vec<u8> {
    let rs: Vec<Value> = data
        .resource_spans
        .iter()
        .map(|rs| {
            json!({
                "resource": rs.resource.as_ref().map(|r| json!({
                    "attributes": kvs(&r.attributes),
                    "droppedAttributesCount": r.dropped_attributes_count,
                    "entityRefs": r.entity_refs.iter().map(|e| json!({
                        "schemaUrl": e.schema_url, "type": e.r#type,
                        "idKeys": e.id_keys, "descriptionKeys": e.description_keys,
                    })).collect::<Vec<_>>(),
                })),
                "schemaUrl": rs.schema_url,
                "scopeSpans": rs.scope_spans.iter().map(|ss| json!({
                    "scope": ss.scope.as_ref().map(|sc| json!({
                        "name": sc.name, "version": sc.version,
                        "attributes": kvs(&sc.attributes),
                        "droppedAttributesCount": sc.dropped_attributes_count,
                    })),
                    "schemaUrl": ss.schema_url,
                    "spans": ss.spans.iter().map(span_json).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::to_vec(&json!({ "resourceSpans": rs })).unwrap()
}

fn span_json(sp: &Span) -> Value {
    json!({
        "traceId": hex::encode(&sp.trace_id),
        "spanId": hex::encode(&sp.span_id),
        "parentSpanId": hex::encode(&sp.parent_span_id),
        "traceState": sp.trace_state,
        "flags": sp.flags,
        "name": sp.name,
        "kind": sp.kind,
        "startTimeUnixNano": sp.start_time_unix_nano.to_string(),
        "endTimeUnixNano": sp.end_time_unix_nano.to_string(),
        "attributes": kvs(&sp.attributes),
        "droppedAttributesCount": sp.dropped_attributes_count,
        "events": sp.events.iter().map(|e| json!({
            "timeUnixNano": e.time_unix_nano.to_string(),
            "name": e.name,
            "attributes": kvs(&e.attributes),
            "droppedAttributesCount": e.dropped_attributes_count,
        })).collect::<Vec<_>>(),
        "droppedEventsCount": sp.dropped_events_count,
        "links": sp.links.iter().map(|l| json!({
            "traceId": hex::encode(&l.trace_id),
            "spanId": hex::encode(&l.span_id),
            "traceState": l.trace_state,
            "attributes": kvs(&l.attributes),
            "droppedAttributesCount": l.dropped_attributes_count,
            "flags": l.flags,
        })).collect::<Vec<_>>(),
        "droppedLinksCount": sp.dropped_links_count,
        "status": sp.status.as_ref().map(|st| json!({"message": st.message, "code": st.code})),
    })
}

fn kvs(kvs: &[KeyValue]) -> Value {
    Value::Array(
        kvs.iter()
            .map(|kv| json!({"key": kv.key, "value": kv.value.as_ref().map(any_json)}))
            .collect(),
    )
}

fn any_json(v: &AnyValue) -> Value {
    use any_value::Value as V;
    match &v.value {
        None => json!({}),
        Some(V::StringValue(s)) => json!({ "stringValue": s }),
        Some(V::BoolValue(b)) => json!({ "boolValue": b }),
        Some(V::IntValue(i)) => json!({ "intValue": i.to_string() }),
        Some(V::DoubleValue(d)) if d.is_nan() => json!({ "doubleValue": "NaN" }),
        Some(V::DoubleValue(d)) if d.is_infinite() => {
            json!({ "doubleValue": if *d > 0.0 { "Infinity" } else { "-Infinity" } })
        }
        Some(V::DoubleValue(d)) => json!({ "doubleValue": d }),
        Some(V::ArrayValue(a)) => {
            json!({ "arrayValue": { "values": a.values.iter().map(any_json).collect::<Vec<_>>() } })
        }
        Some(V::KvlistValue(l)) => json!({ "kvlistValue": { "values": kvs(&l.values) } }),
        Some(V::BytesValue(b)) => {
            json!({ "bytesValue": base64::engine::general_purpose::STANDARD.encode(b) })
        }
    }
}
