//! Building test traces from `sextant_model::otlp` types and comparing what was sent with what
//! was read back, span by span.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;
use sextant_model::otlp::{
    AnyValue, ArrayValue, Event, InstrumentationScope, KeyValue, Link, Resource, ResourceSpans,
    ScopeSpans, Span, SpanKind, Status, StatusCode, TracesData, any_value::Value,
};

/// A random, valid (non-zero) 16-byte trace ID.
pub fn random_trace_id() -> Vec<u8> {
    random_id(16)
}

/// A random, valid (non-zero) 8-byte span ID.
pub fn random_span_id() -> Vec<u8> {
    random_id(8)
}

fn random_id(len: usize) -> Vec<u8> {
    let mut rng = rand::rng();
    loop {
        let id: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if id.iter().any(|b| *b != 0) {
            return id;
        }
    }
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_nanos() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    u64::try_from(since.as_nanos()).expect("nanos fit u64")
}

/// A string attribute.
pub fn attr_str(key: &str, value: &str) -> KeyValue {
    kv(key, Value::StringValue(value.to_owned()))
}

/// An integer attribute.
pub fn attr_int(key: &str, value: i64) -> KeyValue {
    kv(key, Value::IntValue(value))
}

/// A key with any value.
pub fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

/// A span of `trace_id` with a fresh span ID, a 1 ms duration, kind SERVER and a few attributes
/// of each scalar type, one event and an array attribute.
pub fn span(trace_id: &[u8], parent: Option<&[u8]>, name: &str) -> Span {
    let start = now_nanos();
    Span {
        trace_id: trace_id.to_vec(),
        span_id: random_span_id(),
        parent_span_id: parent.map(<[u8]>::to_vec).unwrap_or_default(),
        name: name.to_owned(),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 1_000_000,
        attributes: vec![
            attr_str("http.route", "/api/items/{id}"),
            attr_int("http.status_code", 200),
            kv("sampled", Value::BoolValue(true)),
            kv("ratio", Value::DoubleValue(0.25)),
            kv(
                "tags",
                Value::ArrayValue(ArrayValue {
                    values: vec![
                        AnyValue {
                            value: Some(Value::StringValue("a".into())),
                        },
                        AnyValue {
                            value: Some(Value::IntValue(7)),
                        },
                    ],
                }),
            ),
        ],
        events: vec![Event {
            time_unix_nano: start + 500_000,
            name: "cache.miss".into(),
            attributes: vec![attr_str("key", "item:42")],
            dropped_attributes_count: 0,
        }],
        status: Some(Status {
            message: String::new(),
            code: StatusCode::Ok as i32,
        }),
        ..Default::default()
    }
}

/// A trace of `n` spans (a root and `n - 1` children) with a fresh trace ID.
pub fn trace(n: usize) -> (Vec<u8>, Vec<Span>) {
    assert!(n > 0, "a trace needs a span");
    let trace_id = random_trace_id();
    let root = span(&trace_id, None, "GET /api/items");
    let root_id = root.span_id.clone();
    let mut spans = vec![root];
    for i in 1..n {
        let mut child = span(&trace_id, Some(&root_id), &format!("db.query {i}"));
        child.kind = SpanKind::Client as i32;
        child.links.push(Link {
            trace_id: trace_id.clone(),
            span_id: root_id.clone(),
            attributes: vec![attr_str("link.kind", "retry")],
            ..Default::default()
        });
        spans.push(child);
    }
    (trace_id, spans)
}

/// One `ResourceSpans` for `service` holding `spans` under one scope.
pub fn resource_spans(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![
                attr_str("service.name", service),
                attr_str("deployment.environment", "e2e"),
            ],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: "sextant-e2e".into(),
                version: "1.0.0".into(),
                ..Default::default()
            }),
            spans,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

/// An export request with every span under one service.
pub fn request(service: &str, spans: Vec<Span>) -> TracesData {
    TracesData {
        resource_spans: vec![resource_spans(service, spans)],
    }
}

/// A span together with the resource and scope it was sent under, attributes sorted by key,
/// so that two traces compare equal whatever batches and groups they arrived in.
#[derive(Clone, Debug, PartialEq)]
pub struct FlatSpan {
    pub resource: Resource,
    pub resource_schema_url: String,
    pub scope: InstrumentationScope,
    pub scope_schema_url: String,
    pub span: Span,
}

/// Key of a span: (trace ID, span ID).
pub type SpanKey = (Vec<u8>, Vec<u8>);

/// Every span in `data`, keyed by (trace ID, span ID). Panics on a duplicate span (a read must
/// return each span once).
pub fn flatten(data: &TracesData) -> BTreeMap<SpanKey, FlatSpan> {
    let mut out = BTreeMap::new();
    for rs in &data.resource_spans {
        let mut resource = rs.resource.clone().unwrap_or_default();
        sort_attrs(&mut resource.attributes);
        for ss in &rs.scope_spans {
            let mut scope = ss.scope.clone().unwrap_or_default();
            sort_attrs(&mut scope.attributes);
            for span in &ss.spans {
                let mut span = span.clone();
                sort_attrs(&mut span.attributes);
                for e in &mut span.events {
                    sort_attrs(&mut e.attributes);
                }
                for l in &mut span.links {
                    sort_attrs(&mut l.attributes);
                }
                let key = (span.trace_id.clone(), span.span_id.clone());
                let flat = FlatSpan {
                    resource: resource.clone(),
                    resource_schema_url: rs.schema_url.clone(),
                    scope: scope.clone(),
                    scope_schema_url: ss.schema_url.clone(),
                    span,
                };
                if let Some(prev) = out.insert(key.clone(), flat) {
                    panic!(
                        "span {} of trace {} appears twice: {prev:?}",
                        hex::encode(&key.1),
                        hex::encode(&key.0)
                    );
                }
            }
        }
    }
    out
}

fn sort_attrs(attrs: &mut [KeyValue]) {
    attrs.sort_by(|a, b| a.key.cmp(&b.key));
}

/// The spans of `expected` that belong to `trace_id`.
pub fn spans_of(
    expected: &BTreeMap<SpanKey, FlatSpan>,
    trace_id: &[u8],
) -> BTreeMap<SpanKey, FlatSpan> {
    expected
        .iter()
        .filter(|((t, _), _)| t == trace_id)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Assert that `got` (a trace read back) holds exactly the spans in `want`, field for field.
pub fn assert_same_spans(what: &str, want: &BTreeMap<SpanKey, FlatSpan>, got: &TracesData) {
    let got = flatten(got);
    for (key, want_span) in want {
        match got.get(key) {
            None => panic!(
                "{what}: span {} of trace {} missing from the read-back trace (got {} spans)",
                hex::encode(&key.1),
                hex::encode(&key.0),
                got.len()
            ),
            Some(got_span) => assert_eq!(
                got_span,
                want_span,
                "{what}: span {} differs (left: read back, right: sent)",
                hex::encode(&key.1)
            ),
        }
    }
    let extra: Vec<String> = got
        .keys()
        .filter(|k| !want.contains_key(*k))
        .map(|(_, s)| hex::encode(s))
        .collect();
    assert!(
        extra.is_empty(),
        "{what}: unexpected spans in the read-back trace: {extra:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Vec<u8>, TracesData) {
        let (trace_id, spans) = trace(3);
        (trace_id, request("svc", spans))
    }

    #[test]
    fn same_spans_in_other_groups_compare_equal() {
        let (trace_id, data) = sample();
        let want = spans_of(&flatten(&data), &trace_id);
        // The same spans split over two resource groups, attributes reordered.
        let mut spans = data.resource_spans[0].scope_spans[0].spans.clone();
        spans[0].attributes.reverse();
        let last = spans.pop().expect("three spans");
        let regrouped = TracesData {
            resource_spans: vec![
                resource_spans("svc", spans),
                resource_spans("svc", vec![last]),
            ],
        };
        assert_same_spans("regrouped", &want, &regrouped);
    }

    #[test]
    #[should_panic(expected = "differs")]
    fn a_changed_event_attribute_is_caught() {
        let (trace_id, data) = sample();
        let want = spans_of(&flatten(&data), &trace_id);
        let mut got = data.clone();
        got.resource_spans[0].scope_spans[0].spans[1].events[0].attributes[0] =
            attr_str("key", "other");
        assert_same_spans("changed", &want, &got);
    }

    #[test]
    #[should_panic(expected = "missing")]
    fn a_missing_span_is_caught() {
        let (trace_id, data) = sample();
        let want = spans_of(&flatten(&data), &trace_id);
        let mut got = data.clone();
        got.resource_spans[0].scope_spans[0].spans.pop();
        assert_same_spans("missing", &want, &got);
    }

    #[test]
    #[should_panic(expected = "differs")]
    fn a_changed_resource_is_caught() {
        let (trace_id, data) = sample();
        let want = spans_of(&flatten(&data), &trace_id);
        let mut got = data.clone();
        got.resource_spans[0].schema_url = "x".into();
        assert_same_spans("resource", &want, &got);
    }
}
