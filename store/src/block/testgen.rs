//! Test data: loadgen-shaped traces (the shape of `server/src/loadgen/generate.rs`: six
//! services, ten-odd attributes, ~500 bytes of OTLP per span) and proptest strategies that
//! reach every OTLP field.

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sextant_model::TraceId;
use sextant_model::otlp::{
    AnyValue, ArrayValue, EntityRef, Event, InstrumentationScope, KeyValue, KeyValueList, Link,
    Resource, ResourceSpans, ScopeSpans, Span, SpanKind, Status, StatusCode, TracesData,
    any_value::Value,
};

const SERVICES: [(&str, &str); 6] = [
    ("frontend", "web"),
    ("cart", "shop"),
    ("checkout", "shop"),
    ("payment", "billing"),
    ("shipping", "logistics"),
    ("postgres-proxy", "data"),
];

const OPERATIONS: [(&str, &str, i64); 8] = [
    ("GET /api/cart", "/api/cart", 200),
    ("POST /api/checkout", "/api/checkout", 201),
    ("GET /api/products/{id}", "/api/products/{id}", 200),
    ("POST /api/payment/charge", "/api/payment/charge", 200),
    ("GET /api/shipping/quote", "/api/shipping/quote", 200),
    ("SELECT shop.cart_items", "", 0),
    ("PUT /api/cart/items/{id}", "/api/cart/items/{id}", 204),
    ("GET /api/recommendations", "/api/recommendations", 500),
];

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

fn s(v: impl Into<String>) -> Value {
    Value::StringValue(v.into())
}

fn resource(i: usize) -> Resource {
    Resource {
        attributes: vec![
            kv("service.name", s(SERVICES[i].0)),
            kv("service.namespace", s(SERVICES[i].1)),
            kv("service.version", s("1.42.0")),
            kv("deployment.environment", s("production")),
            kv(
                "host.name",
                s(format!("node-{i}.eu-west-1.compute.internal")),
            ),
            kv(
                "k8s.pod.name",
                s(format!("{}-7d9f8b6c5-x{i}q", SERVICES[i].0)),
            ),
            kv("telemetry.sdk.language", s("rust")),
        ],
        ..Default::default()
    }
}

/// About `spans` spans in traces of 5–15 spans, as the load generator makes them.
pub(crate) fn realistic(seed: u64, spans: usize) -> Vec<(TraceId, TracesData)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let base_time: u64 = 1_700_000_000_000_000_000 + seed * 1_000_000_000;
    let mut out = Vec::new();
    let mut made = 0;
    while made < spans {
        let trace_id: [u8; 16] = rng.random();
        let size = rng.random_range(5..=15).min(spans - made);
        let trace_start = base_time + rng.random_range(0..60_000_000_000u64);
        let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
        let mut ids: Vec<[u8; 8]> = Vec::with_capacity(size);
        for n in 0..size {
            let span_id: [u8; 8] = rng.random();
            let parent = if n == 0 {
                Vec::new()
            } else {
                ids[rng.random_range(0..n)].to_vec()
            };
            ids.push(span_id);
            let service = if n == 0 {
                0
            } else {
                rng.random_range(0..SERVICES.len())
            };
            let (name, route, status) = OPERATIONS[rng.random_range(0..OPERATIONS.len())];
            let start = trace_start + n as u64 * 1_000_000 + rng.random_range(0..500_000u64);
            let duration = rng.random_range(50_000..40_000_000u64);
            let kind = match (n, service) {
                (0, _) => SpanKind::Server,
                (_, 5) => SpanKind::Client,
                _ if n % 2 == 1 => SpanKind::Client,
                _ => SpanKind::Server,
            };
            let mut attributes = vec![
                kv(
                    "http.request.method",
                    s(name.split(' ').next().unwrap_or("GET")),
                ),
                kv("http.route", s(route)),
                kv(
                    "url.path",
                    s(format!("{route}/{}", rng.random_range(1000..99999))),
                ),
                kv("http.response.status_code", Value::IntValue(status)),
                kv(
                    "server.address",
                    s(format!("{}.svc.cluster.local", SERVICES[service].0)),
                ),
                kv("network.protocol.version", s("1.1")),
                kv(
                    "user_agent.original",
                    s("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"),
                ),
                kv(
                    "app.request_id",
                    s(format!("{:032x}", rng.random::<u128>())),
                ),
                kv(
                    "app.user_id",
                    Value::IntValue(rng.random_range(1..5_000_000)),
                ),
                kv(
                    "thread.name",
                    s(format!("worker-{}", rng.random_range(0..64))),
                ),
            ];
            if service == 5 {
                attributes.push(kv("db.system", s("postgresql")));
                attributes.push(kv(
                    "db.statement",
                    s("SELECT id, sku, qty FROM cart_items WHERE cart_id = $1"),
                ));
            }
            let failed = status >= 500;
            let events = if failed || rng.random_range(0..10) == 0 {
                vec![Event {
                    time_unix_nano: start + duration / 2,
                    name: if failed { "exception" } else { "cache.miss" }.into(),
                    attributes: vec![
                        kv("exception.type", s("UpstreamTimeout")),
                        kv(
                            "exception.message",
                            s("upstream did not answer within 30ms"),
                        ),
                    ],
                    dropped_attributes_count: 0,
                }]
            } else {
                Vec::new()
            };
            by_service[service].push(Span {
                trace_id: trace_id.to_vec(),
                span_id: span_id.to_vec(),
                parent_span_id: parent,
                name: name.into(),
                kind: kind as i32,
                start_time_unix_nano: start,
                end_time_unix_nano: start + duration,
                attributes,
                events,
                status: Some(Status {
                    message: if failed {
                        "internal error".into()
                    } else {
                        String::new()
                    },
                    code: if failed {
                        StatusCode::Error
                    } else {
                        StatusCode::Unset
                    } as i32,
                }),
                flags: 0x100,
                ..Default::default()
            });
            made += 1;
        }
        let data = TracesData {
            resource_spans: by_service
                .into_iter()
                .enumerate()
                .filter(|(_, spans)| !spans.is_empty())
                .map(|(i, spans)| ResourceSpans {
                    resource: Some(resource(i)),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(InstrumentationScope {
                            name: "sextant-loadgen".into(),
                            version: "0.1.0".into(),
                            ..Default::default()
                        }),
                        spans,
                        schema_url: String::new(),
                    }],
                    schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
                })
                .collect(),
        };
        out.push((TraceId(trace_id), data));
    }
    out
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
