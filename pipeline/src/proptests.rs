//! Property tests: generated spans survive every encoding and the whole write and read path.

use bytes::Bytes;
use prop::collection::vec;
use proptest::prelude::*;
use prost::Message;
use sextant_model::otlp::*;
use sextant_model::{Payload, PayloadFormat, TenantId};

use crate::distributor::{decode_otlp_json, prepare};
use crate::ingester::record;
use crate::querier::merge;
use crate::testdata::to_otlp_json;

fn any_value() -> impl Strategy<Value = AnyValue> {
    use any_value::Value as V;
    let leaf = prop_oneof![
        ".{0,12}".prop_map(V::StringValue),
        any::<bool>().prop_map(V::BoolValue),
        any::<i64>().prop_map(V::IntValue),
        prop_oneof![
            -1e300f64..1e300,
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.1)
        ]
        .prop_map(V::DoubleValue),
        vec(any::<u8>(), 0..8).prop_map(V::BytesValue),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..3).prop_map(|values| V::ArrayValue(ArrayValue {
                values: values
                    .into_iter()
                    .map(|v| AnyValue { value: Some(v) })
                    .collect(),
            })),
            vec(("[a-z]{1,4}", inner), 0..3).prop_map(|kvs| V::KvlistValue(KeyValueList {
                values: kvs
                    .into_iter()
                    .map(|(key, v)| KeyValue {
                        key,
                        value: Some(AnyValue { value: Some(v) }),
                    })
                    .collect(),
            })),
        ]
    })
    .prop_map(|v| AnyValue { value: Some(v) })
}

fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    vec(("[a-z.]{1,8}", proptest::option::of(any_value())), 0..4).prop_map(|kvs| {
        kvs.into_iter()
            .map(|(key, value)| KeyValue { key, value })
            .collect()
    })
}

fn nonzero_id(len: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), len).prop_map(|mut id| {
        id[0] |= 1;
        id
    })
}

fn span(trace_id: Vec<u8>, index: u8) -> impl Strategy<Value = Span> {
    (
        (
            nonzero_id(7),
            proptest::option::of(nonzero_id(8)),
            "[a-z=,]{0,8}",
            any::<u32>(),
            ".{0,10}",
            0i32..6,
            any::<u64>(),
            any::<u64>(),
        ),
        (
            attributes(),
            any::<u32>(),
            vec(
                (any::<u64>(), "[a-z]{0,5}", attributes(), any::<u32>()),
                0..2,
            ),
            vec(
                (nonzero_id(16), nonzero_id(8), attributes(), any::<u32>()),
                0..2,
            ),
            proptest::option::of((".{0,6}", 0i32..3)),
        ),
    )
        .prop_map(move |(a, b)| {
            let (sid, parent, trace_state, flags, name, kind, start, end) = a;
            let (attributes, dropped, events, links, status) = b;
            let mut span_id = vec![index];
            span_id.extend(sid);
            Span {
                trace_id: trace_id.clone(),
                span_id,
                trace_state: trace_state.clone(),
                parent_span_id: parent.unwrap_or_default(),
                flags,
                name,
                kind,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes,
                dropped_attributes_count: dropped,
                events: events
                    .into_iter()
                    .map(|(time_unix_nano, name, attributes, d)| Event {
                        time_unix_nano,
                        name,
                        attributes,
                        dropped_attributes_count: d,
                    })
                    .collect(),
                dropped_events_count: dropped / 2,
                links: links
                    .into_iter()
                    .map(|(trace_id, span_id, attributes, flags)| Link {
                        trace_id,
                        span_id,
                        trace_state: trace_state.clone(),
                        attributes,
                        dropped_attributes_count: flags / 3,
                        flags,
                    })
                    .collect(),
                dropped_links_count: dropped / 3,
                status: status.map(|(message, code)| Status { message, code }),
            }
        })
}

/// One trace: a resource and scope group of up to four spans with distinct span ids.
fn trace() -> impl Strategy<Value = TracesData> {
    (nonzero_id(16), attributes(), attributes(), "[a-z/:]{0,8}")
        .prop_flat_map(|(trace_id, resource, scope, url)| {
            let spans: Vec<_> = (0..4u8).map(|i| span(trace_id.clone(), i)).collect();
            (spans, 1usize..=4, Just(resource), Just(scope), Just(url))
        })
        .prop_map(|(mut spans, n, resource, scope, url)| {
            spans.truncate(n);
            spans.sort_by_key(|s| s.start_time_unix_nano);
            TracesData {
                resource_spans: vec![ResourceSpans {
                    resource: Some(Resource {
                        attributes: resource,
                        ..Default::default()
                    }),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(InstrumentationScope {
                            name: "s".into(),
                            version: "1".into(),
                            attributes: scope,
                            dropped_attributes_count: 0,
                        }),
                        spans,
                        schema_url: url.clone(),
                    }],
                    schema_url: url,
                }],
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn otlp_json_round_trips(data in trace()) {
        prop_assert_eq!(decode_otlp_json(&to_otlp_json(&data)).unwrap(), data);
    }

    #[test]
    fn write_and_read_path_is_lossless(data in trace(), json in any::<bool>()) {
        let payload = if json {
            Payload { format: PayloadFormat::OtlpJson, body: Bytes::from(to_otlp_json(&data)) }
        } else {
            Payload { format: PayloadFormat::OtlpProtobuf, body: Bytes::from(data.encode_to_vec()) }
        };
        let prepared = prepare(&payload, 0).unwrap();
        prop_assert_eq!(prepared.batches.len(), 1);
        let tenant = TenantId::new("tenant-a").unwrap();
        let (rec, _) = record::encode(&tenant, &prepared.batches);
        let (_, traces) = record::decode(rec).unwrap();
        // Twice, as after a client retry: still read once.
        let segments = traces.iter().chain(&traces).map(|t| t.data.clone()).collect();
        let found = merge(segments).unwrap();
        prop_assert_eq!(found.trace, data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The decoders take untrusted bytes: any input is a value or an error, never a panic.
    #[test]
    fn decoders_never_panic(bytes in vec(any::<u8>(), 0..256)) {
        let _ = crate::distributor::decode_otlp_protobuf(&bytes);
        let _ = decode_otlp_json(&bytes);
    }

    #[test]
    fn damaged_encodings_never_panic(data in trace(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut json = to_otlp_json(&data);
        let i = at.index(json.len());
        json[i] = byte;
        let _ = decode_otlp_json(&json);
        let mut pb = data.encode_to_vec();
        let i = at.index(pb.len());
        pb[i] = byte;
        let _ = crate::distributor::decode_otlp_protobuf(&pb);
        let _ = record::decode(Bytes::from(pb));
    }
}
