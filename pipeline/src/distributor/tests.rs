use prost::Message;
use sextant_model::ErrorKind;
use sextant_model::otlp::{SpanKind, StatusCode, TracesData, any_value};

use super::*;
use crate::testdata::{full_fidelity, kv, s, span, to_otlp_json, wrap};

fn first_span(d: &TracesData) -> &sextant_model::otlp::Span {
    &d.resource_spans[0].scope_spans[0].spans[0]
}

fn json_span(fields: &str) -> Vec<u8> {
    format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{{fields}}}]}}]}}]}}"#).into_bytes()
}

#[test]
fn protobuf_decodes_and_truncated_protobuf_is_a_bad_request() {
    let bytes = full_fidelity().encode_to_vec();
    assert_eq!(decode_otlp_protobuf(&bytes).unwrap(), full_fidelity());
    for cut in [1, bytes.len() / 2, bytes.len() - 1] {
        let err = decode_otlp_protobuf(&bytes[..cut]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadRequest, "cut at {cut}");
        assert!(
            err.to_string()
                .starts_with("failed to decode OTLP protobuf"),
            "{err}"
        );
    }
    assert_eq!(decode_otlp_protobuf(b"").unwrap(), TracesData::default());
    assert!(decode_otlp_protobuf(&[0xff, 0xff, 0xff]).is_err());
}

#[test]
fn json_round_trips_every_field() {
    let json = to_otlp_json(&full_fidelity());
    assert_eq!(decode_otlp_json(&json).unwrap(), full_fidelity());
}

#[test]
fn json_accepts_the_dialect_variants() {
    let id = "0102030405060708090a0b0c0d0e0f10";
    let cases: &[(&str, &str)] = &[
        // int64 as number and as string, enums by name.
        (
            r#""traceId":"0102030405060708090A0B0C0D0E0F10","spanId":"0102030405060708",
               "startTimeUnixNano":5,"endTimeUnixNano":"6","kind":"SPAN_KIND_SERVER",
               "status":{"code":"STATUS_CODE_ERROR"}"#,
            "numbers, strings and enum names",
        ),
        // snake_case names as protobuf-JSON parsers accept them, enums as integers.
        (
            r#""trace_id":"0102030405060708090a0b0c0d0e0f10","span_id":"0102030405060708",
               "start_time_unix_nano":"5","end_time_unix_nano":6,"kind":2,
               "status":{"code":2}"#,
            "snake case",
        ),
        // unknown fields anywhere are ignored; nulls are defaults.
        (
            r#""traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708",
               "startTimeUnixNano":"5","endTimeUnixNano":"6","kind":"SPAN_KIND_SERVER",
               "status":{"code":"STATUS_CODE_ERROR","future":1},"futureField":{"a":[1]},
               "attributes":null,"links":null,"traceState":null"#,
            "unknown fields",
        ),
    ];
    for (fields, what) in cases {
        let d = decode_otlp_json(&json_span(fields)).unwrap_or_else(|e| panic!("{what}: {e}"));
        let sp = first_span(&d);
        assert_eq!(hex::encode(&sp.trace_id), id, "{what}");
        assert_eq!(sp.span_id, (1..=8).collect::<Vec<u8>>(), "{what}");
        assert_eq!(
            (sp.start_time_unix_nano, sp.end_time_unix_nano),
            (5, 6),
            "{what}"
        );
        assert_eq!(sp.kind, SpanKind::Server as i32, "{what}");
        assert_eq!(
            sp.status.as_ref().unwrap().code,
            StatusCode::Error as i32,
            "{what}"
        );
    }
}

#[test]
fn json_attribute_values() {
    let d = decode_otlp_json(&json_span(
        r#""attributes":[
            {"key":"i","value":{"intValue":"-42"}},
            {"key":"j","value":{"intValue":42}},
            {"key":"nan","value":{"doubleValue":"NaN"}},
            {"key":"inf","value":{"doubleValue":"-Infinity"}},
            {"key":"d","value":{"doubleValue":1.5}},
            {"key":"b","value":{"bytesValue":"AAH+/w=="}},
            {"key":"empty","value":{}},
            {"key":"none"}]"#,
    ))
    .unwrap();
    use any_value::Value as V;
    let attrs = &first_span(&d).attributes;
    let v = |i: usize| attrs[i].value.as_ref().and_then(|v| v.value.clone());
    assert_eq!(v(0), Some(V::IntValue(-42)));
    assert_eq!(v(1), Some(V::IntValue(42)));
    assert!(matches!(v(2), Some(V::DoubleValue(x)) if x.is_nan()));
    assert_eq!(v(3), Some(V::DoubleValue(f64::NEG_INFINITY)));
    assert_eq!(v(4), Some(V::DoubleValue(1.5)));
    assert_eq!(v(5), Some(V::BytesValue(vec![0, 1, 254, 255])));
    assert_eq!(v(6), None);
    assert!(attrs[7].value.is_none());
}

#[test]
fn invalid_json_is_a_bad_request() {
    let cases = [
        "",
        "{",
        "[]",
        r#"{"resourceSpans":{}}"#,
        &String::from_utf8(json_span(r#""traceId":"zz""#)).unwrap(),
        &String::from_utf8(json_span(r#""kind":"SPAN_KIND_NOPE""#)).unwrap(),
        &String::from_utf8(json_span(r#""startTimeUnixNano":"12x""#)).unwrap(),
        &String::from_utf8(json_span(r#""startTimeUnixNano":-1"#)).unwrap(),
        &String::from_utf8(json_span(r#""flags":1.5"#)).unwrap(),
        &String::from_utf8(json_span(
            r#""attributes":[{"key":"b","value":{"bytesValue":"!!"}}]"#,
        ))
        .unwrap(),
        &String::from_utf8(json_span(
            r#""attributes":[{"key":"d","value":{"doubleValue":"x"}}]"#,
        ))
        .unwrap(),
    ];
    for case in cases {
        let err = decode_otlp_json(case.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadRequest, "{case}");
        assert!(
            err.to_string().starts_with("failed to decode OTLP json"),
            "{err}"
        );
    }
}

#[test]
fn deeply_nested_values_are_refused_not_a_stack_overflow() {
    let nest = |depth: usize| {
        let mut v = r#"{"stringValue":"x"}"#.to_owned();
        for _ in 0..depth {
            v = format!(r#"{{"arrayValue":{{"values":[{v}]}}}}"#);
        }
        json_span(&format!(r#""attributes":[{{"key":"k","value":{v}}}]"#))
    };
    assert!(decode_otlp_json(&nest(20)).is_ok());
    // Deeper than serde_json's own limit or ours: a clean error either way.
    for depth in [40, 70, 10_000] {
        let err = decode_otlp_json(&nest(depth)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadRequest);
    }
}

#[test]
fn validation_rejects_spans_individually() {
    let mut bad_trace = span(1, 2, 0);
    bad_trace.trace_id.truncate(15);
    let mut zero_span = span(1, 0, 0);
    zero_span.span_id = vec![0; 8];
    let mut zero_trace = span(0, 3, 0);
    zero_trace.trace_id = vec![0; 16];
    let mut zero_parent = span(1, 4, 0);
    zero_parent.parent_span_id = vec![0; 8];
    let mut data = wrap(vec![
        bad_trace,
        zero_span,
        span(1, 5, 0),
        zero_trace,
        zero_parent,
    ]);
    let checked = validate_and_truncate(&mut data, 0);
    assert_eq!(checked.received, 5);
    assert_eq!(checked.invalid_trace_id, 2);
    assert_eq!(checked.invalid_span_id, 1);
    let spans = &data.resource_spans[0].scope_spans[0].spans;
    assert_eq!(spans.len(), 2);
    assert!(
        spans[1].parent_span_id.is_empty(),
        "all-zero parent means no parent"
    );

    let mut all_bad = wrap(vec![span(0, 1, 0)]);
    all_bad.resource_spans[0].scope_spans[0].spans[0].trace_id = vec![0; 16];
    validate_and_truncate(&mut all_bad, 0);
    assert!(
        all_bad.resource_spans.is_empty(),
        "empty groups are dropped"
    );
}

#[test]
fn truncation_cuts_on_char_boundaries_at_every_level() {
    let long = "aé".repeat(10); // 30 bytes, 'é' is 2 bytes
    let mut sp = span(1, 1, 0);
    sp.attributes = vec![
        kv(&long, s(&long)),
        kv("ok", s("ok")),
        kv(
            "arr",
            any_value::Value::ArrayValue(sextant_model::otlp::ArrayValue {
                values: vec![sextant_model::otlp::AnyValue {
                    value: Some(s(&long)),
                }],
            }),
        ),
    ];
    sp.events.push(sextant_model::otlp::Event {
        attributes: vec![kv("e", s(&long))],
        ..Default::default()
    });
    sp.links.push(sextant_model::otlp::Link {
        attributes: vec![kv("l", s(&long))],
        ..Default::default()
    });
    let mut data = wrap(vec![sp]);
    data.resource_spans[0].resource.as_mut().unwrap().attributes[0] = kv("r", s(&long));
    data.resource_spans[0].scope_spans[0]
        .scope
        .as_mut()
        .unwrap()
        .attributes = vec![kv("sc", s(&long))];
    let checked = validate_and_truncate(&mut data, 4);
    // key + value + array value + event + link + resource + scope
    assert_eq!(checked.truncated, 7);
    let sp = first_span(&data);
    assert_eq!(sp.attributes[0].key, "aéa");
    assert_eq!(
        sp.attributes[1].value.as_ref().unwrap().value,
        Some(s("ok"))
    );
    let text = |v: &Option<sextant_model::otlp::AnyValue>| match v
        .as_ref()
        .and_then(|v| v.value.clone())
    {
        Some(any_value::Value::StringValue(s)) => s,
        other => panic!("{other:?}"),
    };
    assert!(text(&sp.attributes[0].value).len() <= 4);
    assert_eq!(text(&sp.events[0].attributes[0].value), "aéa");
    let mut s5 = "é".repeat(5);
    assert!(validate::truncate_str(&mut s5, 5));
    assert_eq!(s5, "éé");
    let mut split = String::from("aé");
    assert!(
        validate::truncate_str(&mut split, 2),
        "cutting inside 'é' backs off"
    );
    assert_eq!(split, "a");
    let mut untouched = String::from("abc");
    assert!(!validate::truncate_str(&mut untouched, 3));
}

#[test]
fn regroup_splits_by_trace_keeping_groups() {
    let mut data = wrap(vec![span(1, 1, 10), span(2, 2, 20), span(1, 3, 5)]);
    let mut second = wrap(vec![span(2, 4, 30)]);
    second.resource_spans[0]
        .resource
        .as_mut()
        .unwrap()
        .attributes = vec![kv("service.name", s("other"))];
    data.resource_spans.extend(second.resource_spans);
    let batches = regroup(data);
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0].trace_id.0, [1; 16]);
    assert_eq!(batches[0].spans, 2);
    assert_eq!((batches[0].range.start, batches[0].range.end), (5, 20));
    assert_eq!(batches[0].data.resource_spans.len(), 1);
    assert_eq!(batches[1].spans, 2);
    assert_eq!(
        batches[1].data.resource_spans.len(),
        2,
        "two resources kept apart"
    );
    // A single-trace request moves whole.
    let single = regroup(wrap(vec![span(3, 1, 1), span(3, 2, 2)]));
    assert_eq!(single.len(), 1);
    assert_eq!(single[0].data, wrap(vec![span(3, 1, 1), span(3, 2, 2)]));
    assert!(regroup(TracesData::default()).is_empty());
}
