//! Realistic, deterministic trace payloads for the load generator.

use bytes::Bytes;
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sextant_model::otlp::{
    AnyValue, Event, InstrumentationScope, KeyValue, Resource, ResourceSpans, ScopeSpans, Span,
    SpanKind, Status, StatusCode, TracesData, any_value::Value,
};

/// One encoded `ExportTraceServiceRequest` and where each of its traces' IDs sits in it.
#[derive(Debug, Clone)]
pub(crate) struct Payload {
    pub(crate) bytes: Vec<u8>,
    pub(crate) spans: usize,
    /// For each trace in the payload, every byte offset where its 16-byte ID was written.
    pub(crate) trace_offsets: Vec<Vec<usize>>,
}

impl Payload {
    /// A copy of the payload whose traces carry new IDs: `prefix` then `seq + k` for trace `k`.
    pub(crate) fn with_fresh_trace_ids(&self, prefix: u64, seq: u64) -> Bytes {
        let mut bytes = self.bytes.clone();
        for (k, offsets) in self.trace_offsets.iter().enumerate() {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&prefix.to_be_bytes());
            id[8..].copy_from_slice(&(seq + k as u64).to_be_bytes());
            for &at in offsets {
                bytes[at..at + 16].copy_from_slice(&id);
            }
        }
        Bytes::from(bytes)
    }
}

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
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

fn s(v: impl Into<String>) -> Value {
    Value::StringValue(v.into())
}

/// A payload of about `spans` spans: traces of 5–15 spans across the services above.
pub(crate) fn payload(seed: u64, spans: usize) -> Payload {
    let mut rng = StdRng::seed_from_u64(seed);
    let base_time: u64 = 1_700_000_000_000_000_000 + seed * 1_000_000_000;
    let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
    let mut trace_ids: Vec<[u8; 16]> = Vec::new();
    let mut made = 0usize;
    while made < spans {
        let trace_id: [u8; 16] = rng.random();
        trace_ids.push(trace_id);
        let size = rng.random_range(5..=15).min(spans - made);
        let trace_start = base_time + rng.random_range(0..1_000_000_000u64);
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
    }
    let request = TracesData {
        resource_spans: by_service
            .into_iter()
            .enumerate()
            .filter(|(_, spans)| !spans.is_empty())
            .map(|(i, spans)| ResourceSpans {
                resource: Some(Resource {
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
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "sextant-loadgen".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
            })
            .collect(),
    };
    let bytes = request.encode_to_vec();
    let trace_offsets = trace_ids
        .iter()
        .map(|id| {
            bytes
                .windows(16)
                .enumerate()
                .filter(|(_, w)| *w == id)
                .map(|(at, _)| at)
                .collect()
        })
        .collect();
    Payload {
        bytes,
        spans: made,
        trace_offsets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_have_the_requested_shape() {
        let p = payload(7, 100);
        assert_eq!(p.spans, 100);
        let decoded = TracesData::decode(p.bytes.as_slice()).unwrap();
        let spans: Vec<&Span> = decoded
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect();
        assert_eq!(spans.len(), 100);
        let per_span = p.bytes.len() / p.spans;
        assert!((400..=650).contains(&per_span), "{per_span} bytes per span");
        // Every span's trace ID is found at a recorded offset.
        let recorded: usize = p.trace_offsets.iter().map(Vec::len).sum();
        assert_eq!(recorded, 100);
    }

    #[test]
    fn fresh_ids_replace_every_occurrence() {
        let p = payload(1, 50);
        let body = p.with_fresh_trace_ids(0xAB, 1000);
        let decoded = TracesData::decode(body.as_ref()).unwrap();
        for span in decoded
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
        {
            assert_eq!(&span.trace_id[..8], &0xABu64.to_be_bytes());
            let seq = u64::from_be_bytes(span.trace_id[8..].try_into().unwrap());
            assert!((1000..1000 + p.trace_offsets.len() as u64).contains(&seq));
        }
    }
}
