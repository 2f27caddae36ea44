//! Realistic synthetic traces: the data `sextant loadgen` sends and the block benchmarks and
//! tests measure, kept in one place so every figure is taken on the same shape. Six services,
//! traces of 5–15 parent/child spans, ten-odd attributes per span (one a random 32-hex request
//! id), events on about one span in ten, about 570 bytes of OTLP protobuf per span.
//! Deterministic for a seed. Compiled only with the `synth` feature.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::TraceId;
use crate::otlp::{
    AnyValue, Event, InstrumentationScope, KeyValue, Resource, ResourceSpans, ScopeSpans, Span,
    SpanKind, Status, StatusCode, TracesData, any_value::Value,
};

/// How far apart trace start times fall in one generated batch, for data shaped like one
/// export request (`request`).
pub const REQUEST_START_SPREAD_NS: u64 = 1_000_000_000;
/// The same for data shaped like a minute of traffic (`traces`).
pub const MINUTE_START_SPREAD_NS: u64 = 60_000_000_000;

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
fn generate(seed: u64, spans: usize, start_spread_ns: u64) -> Vec<(TraceId, Vec<Vec<Span>>)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let base_time: u64 = 1_700_000_000_000_000_000 + seed * 1_000_000_000;
    let mut out = Vec::new();
    let mut made = 0;
    while made < spans {
        let trace_id: [u8; 16] = rng.random();
        let size = rng.random_range(5..=15).min(spans - made);
        let trace_start = base_time + rng.random_range(0..start_spread_ns.max(1));
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
        out.push((TraceId(trace_id), by_service));
    }
    out
}

fn resource_spans(service: usize, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(resource(service)),
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
    }
}

/// About `spans` spans (traces are cut short to hit it) as one `TracesData` per trace.
pub fn traces(seed: u64, spans: usize, start_spread_ns: u64) -> Vec<(TraceId, TracesData)> {
    generate(seed, spans, start_spread_ns)
        .into_iter()
        .map(|(id, by_service)| {
            let data = TracesData {
                resource_spans: by_service
                    .into_iter()
                    .enumerate()
                    .filter(|(_, spans)| !spans.is_empty())
                    .map(|(i, spans)| resource_spans(i, spans))
                    .collect(),
            };
            (id, data)
        })
        .collect()
}

/// About `spans` spans as one export request: one resource per service, holding that service's
/// spans of every trace, in generation order. Also returns the trace IDs, in order.
pub fn request(seed: u64, spans: usize) -> (TracesData, Vec<TraceId>) {
    let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
    let mut ids = Vec::new();
    for (id, trace) in generate(seed, spans, REQUEST_START_SPREAD_NS) {
        ids.push(id);
        for (service, spans) in trace.into_iter().enumerate() {
            by_service[service].extend(spans);
        }
    }
    let data = TracesData {
        resource_spans: by_service
            .into_iter()
            .enumerate()
            .filter(|(_, spans)| !spans.is_empty())
            .map(|(i, spans)| resource_spans(i, spans))
            .collect(),
    };
    (data, ids)
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn shapes_agree_and_are_deterministic() {
        let (request, ids) = request(7, 100);
        let per_trace = traces(7, 100, REQUEST_START_SPREAD_NS);
        let count = |d: &TracesData| -> usize {
            d.resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum()
        };
        assert_eq!(count(&request), 100);
        assert_eq!(per_trace.iter().map(|(_, d)| count(d)).sum::<usize>(), 100);
        assert_eq!(ids, per_trace.iter().map(|(id, _)| *id).collect::<Vec<_>>());
        assert_eq!(
            request.encode_to_vec(),
            super::request(7, 100).0.encode_to_vec()
        );
        let per_span = request.encoded_len() / 100;
        assert!((400..=650).contains(&per_span), "{per_span} bytes per span");
    }
}
