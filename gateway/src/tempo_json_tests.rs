//! Tempo protobuf-JSON: a hand-checked golden string and snapshots.

use sextant_model::otlp::{
    AnyValue, ArrayValue, Event, InstrumentationScope, KeyValue, KeyValueList, Link, Resource,
    ResourceSpans, ScopeSpans, Span, SpanKind, Status, StatusCode, any_value::Value,
};

use super::*;

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

/// Every field kind once: ids as base64, 64-bit as strings, 32-bit as numbers, enum names.
#[test]
fn golden_span() {
    let rs = ResourceSpans {
        resource: Some(Resource {
            attributes: vec![kv("service.name", Value::StringValue("svc".into()))],
            dropped_attributes_count: 0,
            entity_refs: vec![],
        }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: "lib".into(),
                ..Default::default()
            }),
            spans: vec![Span {
                trace_id: vec![0; 15].into_iter().chain([1]).collect(),
                span_id: vec![0xff; 8],
                parent_span_id: vec![],
                flags: 256,
                name: "op".into(),
                kind: SpanKind::Client as i32,
                start_time_unix_nano: 1,
                end_time_unix_nano: 18_446_744_073_709_551_615,
                attributes: vec![
                    kv("i", Value::IntValue(-5)),
                    kv("d", Value::DoubleValue(1.5)),
                    kv("b", Value::BoolValue(false)),
                    kv("x", Value::BytesValue(vec![1, 2, 3])),
                ],
                dropped_attributes_count: 2,
                events: vec![Event {
                    time_unix_nano: 3,
                    name: "e".into(),
                    ..Default::default()
                }],
                links: vec![Link {
                    trace_id: vec![0xab; 16],
                    span_id: vec![0x01; 8],
                    ..Default::default()
                }],
                status: Some(Status {
                    message: "boom".into(),
                    code: StatusCode::Error as i32,
                }),
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
        schema_url: "s".into(),
    };
    // Checked by hand: AAAAAAAAAAAAAAAAAAAAAQ== is 15 zero bytes then 0x01; //////////8= is eight
    // 0xff; AQID is [1,2,3]; q6urq6urq6urq6urq6urqw== is sixteen 0xab; AQEBAQEBAQE= eight 0x01.
    let expected = concat!(
        r#"{"batches":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},"#,
        r#""scopeSpans":[{"scope":{"name":"lib"},"spans":[{"traceId":"AAAAAAAAAAAAAAAAAAAAAQ==","#,
        r#""spanId":"//////////8=","flags":256,"name":"op","kind":"SPAN_KIND_CLIENT","#,
        r#""startTimeUnixNano":"1","endTimeUnixNano":"18446744073709551615","#,
        r#""attributes":[{"key":"i","value":{"intValue":"-5"}},{"key":"d","value":{"doubleValue":1.5}},"#,
        r#"{"key":"b","value":{"boolValue":false}},{"key":"x","value":{"bytesValue":"AQID"}}],"#,
        r#""droppedAttributesCount":2,"events":[{"timeUnixNano":"3","name":"e"}],"#,
        r#""links":[{"traceId":"q6urq6urq6urq6urq6urqw==","spanId":"AQEBAQEBAQE="}],"#,
        r#""status":{"message":"boom","code":"STATUS_CODE_ERROR"}}]}],"schemaUrl":"s"}]}"#,
    );
    let got = trace_v1(&[rs]);
    assert_eq!(got, expected);
    // It is valid JSON.
    serde_json::from_str::<serde_json::Value>(&got).unwrap();
}

#[test]
fn doubles_and_nested_values() {
    assert_eq!(double(2.0), "2");
    assert_eq!(double(0.0), "0");
    assert_eq!(double(-0.25), "-0.25");
    assert_eq!(double(f64::NAN), "\"NaN\"");
    assert_eq!(double(f64::INFINITY), "\"Infinity\"");
    assert_eq!(double(f64::NEG_INFINITY), "\"-Infinity\"");
    assert_eq!(double(1e300), "1e+300");
    let v = AnyValue {
        value: Some(Value::ArrayValue(ArrayValue {
            values: vec![
                AnyValue {
                    value: Some(Value::KvlistValue(KeyValueList {
                        values: vec![kv("k", Value::StringValue(String::new()))],
                    })),
                },
                AnyValue { value: None },
            ],
        })),
    };
    let mut out = String::new();
    write_any_value(&mut out, &v);
    assert_eq!(
        out,
        r#"{"arrayValue":{"values":[{"kvlistValue":{"values":[{"key":"k","value":{"stringValue":""}}]}},{}]}}"#
    );
}

#[test]
fn v2_envelope() {
    assert_eq!(trace_v2(&[], 0, None), r#"{"trace":{},"metrics":{}}"#);
    assert_eq!(
        trace_v2(&[], 42, Some("too big")),
        r#"{"trace":{},"metrics":{"inspectedBytes":"42"},"status":"PARTIAL","message":"too big"}"#
    );
    insta::assert_snapshot!(trace_v2(
        &crate::tests::sample_trace().resource_spans,
        7,
        None
    ));
}
