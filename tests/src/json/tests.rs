use serde_json::json;
use sextant_model::otlp::{SpanKind, StatusCode, any_value::Value};

use super::*;

fn tempo_doc() -> Json {
    json!([{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeSpans": [{
            "scope": {"name": "lib", "version": "1"},
            "spans": [{
                "traceId": "AAAAAAAAAAAAAAAAAAAAAQ==",
                "spanId": "AAAAAAAAAAI=",
                "name": "op",
                "kind": "SPAN_KIND_CLIENT",
                "startTimeUnixNano": "1700000000000000000",
                "endTimeUnixNano": "1700000000000000500",
                "attributes": [
                    {"key": "i", "value": {"intValue": "-5"}},
                    {"key": "a", "value": {"arrayValue": {"values": [{"boolValue": true}]}}}
                ],
                "status": {"code": "STATUS_CODE_ERROR", "message": "boom"}
            }]
        }]
    }])
}

#[test]
fn reads_tempo_dialect() {
    let data = resource_spans_from_json(&tempo_doc(), Dialect::Tempo).expect("valid Tempo JSON");
    let span = &data.resource_spans[0].scope_spans[0].spans[0];
    let mut want_trace = vec![0; 16];
    want_trace[15] = 1;
    assert_eq!(span.trace_id, want_trace);
    assert_eq!(span.span_id, vec![0, 0, 0, 0, 0, 0, 0, 2]);
    assert_eq!(span.kind, SpanKind::Client as i32);
    assert_eq!(span.end_time_unix_nano, 1_700_000_000_000_000_500);
    assert_eq!(
        span.attributes[0]
            .value
            .as_ref()
            .and_then(|v| v.value.clone()),
        Some(Value::IntValue(-5))
    );
    assert_eq!(
        span.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32)
    );
}

#[test]
fn tempo_dialect_is_strict() {
    let mut numeric_time = tempo_doc();
    numeric_time[0]["scopeSpans"][0]["spans"][0]["startTimeUnixNano"] = json!(5);
    let mut numeric_kind = tempo_doc();
    numeric_kind[0]["scopeSpans"][0]["spans"][0]["kind"] = json!(3);
    let mut hex_id = tempo_doc();
    hex_id[0]["scopeSpans"][0]["spans"][0]["spanId"] = json!("00-01!");
    let mut legacy = tempo_doc();
    legacy[0]["instrumentationLibrarySpans"] = json!([]);
    let mut int_number = tempo_doc();
    int_number[0]["scopeSpans"][0]["spans"][0]["attributes"][0]["value"]["intValue"] = json!(-5);
    for (what, doc) in [
        ("numeric time", numeric_time),
        ("numeric kind", numeric_kind),
        ("non-base64 id", hex_id),
        ("legacy field", legacy),
        ("intValue as number", int_number),
    ] {
        assert!(
            resource_spans_from_json(&doc, Dialect::Tempo).is_err(),
            "{what} accepted"
        );
    }
}

#[test]
fn reads_otlp_dialect() {
    let doc = json!([{
        "scopeSpans": [{"spans": [{
            "traceId": "000102030405060708090a0b0c0d0e0f",
            "spanId": "0001020304050607",
            "kind": 2,
            "startTimeUnixNano": 10,
            "endTimeUnixNano": "20",
            "attributes": [{"key": "n", "value": {"intValue": 7}}]
        }]}]
    }]);
    let data = resource_spans_from_json(&doc, Dialect::Otlp).expect("valid OTLP/JSON");
    let span = &data.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(span.trace_id, (0u8..16).collect::<Vec<_>>());
    assert_eq!(span.kind, SpanKind::Server as i32);
    assert_eq!(
        (span.start_time_unix_nano, span.end_time_unix_nano),
        (10, 20)
    );
    assert!(
        resource_spans_from_json(&doc, Dialect::Tempo).is_err(),
        "hex IDs read as Tempo JSON"
    );
}
