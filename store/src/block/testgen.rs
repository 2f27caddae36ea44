//! Test data: loadgen-shaped traces (from `sextant_model::synth`) and proptest strategies that
//! reach every OTLP field.

use proptest::prelude::*;
use sextant_model::TraceId;
use sextant_model::otlp::{
    AnyValue, ArrayValue, EntityRef, Event, InstrumentationScope, KeyValue, KeyValueList, Link,
    Resource, ResourceSpans, ScopeSpans, Span, Status, TracesData, any_value::Value,
};

/// Loadgen-shaped traces (`sextant_model::synth`, the one generator the load generator and the
/// benchmarks use too), spread over a minute.
pub(crate) fn realistic(seed: u64, spans: usize) -> Vec<(TraceId, TracesData)> {
    sextant_model::synth::traces(seed, spans, sextant_model::synth::MINUTE_START_SPREAD_NS)
}

fn any_value() -> impl Strategy<Value = AnyValue> {
    let leaf = prop_oneof![
        Just(AnyValue { value: None }),
        ".{0,8}".prop_map(|v| AnyValue {
            value: Some(Value::StringValue(v))
        }),
        any::<bool>().prop_map(|v| AnyValue {
            value: Some(Value::BoolValue(v))
        }),
        any::<i64>().prop_map(|v| AnyValue {
            value: Some(Value::IntValue(v))
        }),
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(-0.0),
            Just(f64::INFINITY)
        ]
        .prop_map(|v| AnyValue {
            value: Some(Value::DoubleValue(v))
        }),
        prop::collection::vec(any::<u8>(), 0..6).prop_map(|v| AnyValue {
            value: Some(Value::BytesValue(v))
        }),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|values| AnyValue {
                value: Some(Value::ArrayValue(ArrayValue { values })),
            }),
            prop::collection::vec(("[a-z]{0,4}", prop::option::of(inner)), 0..4).prop_map(|kvs| {
                AnyValue {
                    value: Some(Value::KvlistValue(KeyValueList {
                        values: kvs
                            .into_iter()
                            .map(|(key, value)| KeyValue { key, value })
                            .collect(),
                    })),
                }
            }),
        ]
    })
}

fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    prop::collection::vec(
        ("[a-z.]{0,6}", prop::option::of(any_value()))
            .prop_map(|(key, value)| KeyValue { key, value }),
        0..4,
    )
}

fn id_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 8..=8),
        1 => prop::collection::vec(any::<u8>(), 0..12),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    (any::<u64>(), ".{0,6}", attributes(), any::<u32>()).prop_map(
        |(time_unix_nano, name, attributes, dropped_attributes_count)| Event {
            time_unix_nano,
            name,
            attributes,
            dropped_attributes_count,
        },
    )
}

fn link() -> impl Strategy<Value = Link> {
    (
        prop::collection::vec(any::<u8>(), 0..17),
        id_bytes(),
        ".{0,6}",
        attributes(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(trace_id, span_id, trace_state, attributes, dropped, flags)| Link {
                trace_id,
                span_id,
                trace_state,
                attributes,
                dropped_attributes_count: dropped,
                flags,
            },
        )
}

/// A span of trace `trace`; `parent` is a span ID of the same trace, or anything.
fn span(trace: Vec<u8>) -> impl Strategy<Value = Span> {
    let ids = (
        id_bytes(),
        prop::option::of(id_bytes()),
        ".{0,6}",
        any::<u32>(),
        ".{0,8}",
        0..7i32,
    );
    let times = (any::<u64>(), any::<u64>(), 0u64..3_000, 0u64..3_000);
    let rest = (
        attributes(),
        any::<u32>(),
        prop::collection::vec(event(), 0..3),
        any::<u32>(),
        prop::collection::vec(link(), 0..3),
        any::<u32>(),
        prop::option::of((".{0,6}", 0..4i32)),
        prop::bool::weighted(0.05),
    );
    (ids, times, rest).prop_map(move |(ids, times, rest)| {
        let (span_id, parent_span_id, trace_state, flags, name, kind) = ids;
        let (wild_start, wild_end, start, len) = times;
        let (attributes, da, events, de, links, dl, status, odd_trace) = rest;
        // Mostly plausible times, sometimes anything (end before start, u64 extremes).
        let (start, end) = if len % 7 == 0 {
            (wild_start, wild_end)
        } else {
            (
                1_700_000_000_000_000_000 + start,
                1_700_000_000_000_000_000 + start + len,
            )
        };
        Span {
            trace_id: if odd_trace {
                trace[..5].to_vec()
            } else {
                trace.clone()
            },
            span_id,
            trace_state,
            parent_span_id: parent_span_id.unwrap_or_default(),
            flags,
            name,
            kind,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes,
            dropped_attributes_count: da,
            events,
            dropped_events_count: de,
            links,
            dropped_links_count: dl,
            status: status.map(|(message, code)| Status { message, code }),
        }
    })
}

fn entity_ref() -> impl Strategy<Value = EntityRef> {
    (
        ".{0,4}",
        ".{0,4}",
        prop::collection::vec(".{0,3}", 0..2),
        prop::collection::vec(".{0,3}", 0..2),
    )
        .prop_map(
            |(schema_url, r#type, id_keys, description_keys)| EntityRef {
                schema_url,
                r#type,
                id_keys,
                description_keys,
            },
        )
}

fn resource_spans(trace: Vec<u8>) -> impl Strategy<Value = ResourceSpans> {
    let resource = prop::option::of(
        (
            attributes(),
            any::<u32>(),
            prop::collection::vec(entity_ref(), 0..2),
        )
            .prop_map(
                |(attributes, dropped_attributes_count, entity_refs)| Resource {
                    attributes,
                    dropped_attributes_count,
                    entity_refs,
                },
            ),
    );
    let scope = prop::option::of((".{0,4}", ".{0,4}", attributes(), any::<u32>()).prop_map(
        |(name, version, attributes, dropped_attributes_count)| InstrumentationScope {
            name,
            version,
            attributes,
            dropped_attributes_count,
        },
    ));
    let scope_spans = prop::collection::vec(
        (scope, prop::collection::vec(span(trace), 1..5), ".{0,4}").prop_map(
            |(scope, spans, schema_url)| ScopeSpans {
                scope,
                spans,
                schema_url,
            },
        ),
        1..3,
    );
    (resource, scope_spans, ".{0,4}").prop_map(|(resource, scope_spans, schema_url)| {
        ResourceSpans {
            resource,
            scope_spans,
            schema_url,
        }
    })
}

/// One trace with arbitrary content; some spans point at other spans of the trace as parent.
pub(crate) fn trace() -> impl Strategy<Value = (TraceId, TracesData)> {
    (any::<[u8; 16]>(), any::<u64>()).prop_flat_map(|(id, link_seed)| {
        prop::collection::vec(resource_spans(id.to_vec()), 1..3).prop_map(move |resource_spans| {
            let mut data = TracesData { resource_spans };
            // Point about half the spans' parents at real spans of the trace.
            let ids: Vec<Vec<u8>> = spans_mut(&mut data).map(|s| s.span_id.clone()).collect();
            for (n, span) in spans_mut(&mut data).enumerate() {
                if (link_seed >> (n % 64)) & 1 == 1 {
                    span.parent_span_id = ids[(n * 7 + 3) % ids.len()].clone();
                }
            }
            (TraceId(id), data)
        })
    })
}

fn spans_mut(data: &mut TracesData) -> impl Iterator<Item = &mut Span> {
    data.resource_spans
        .iter_mut()
        .flat_map(|r| r.scope_spans.iter_mut())
        .flat_map(|s| s.spans.iter_mut())
}
