//! The search test's data set: seeded, deterministic traces of a small shop (frontend → api →
//! db, cache, queue) with every attribute type on spans and resources, events, links, error
//! statuses and some traces whose root span is never sent; and the span relations (parent,
//! ancestor, sibling) that the expected results of `table.rs` are written with.

use std::collections::BTreeMap;

use sextant_model::otlp::{
    AnyValue, ArrayValue, Event, InstrumentationScope, KeyValue, Link, Resource, ResourceSpans,
    ScopeSpans, Span, SpanKind, Status, StatusCode, TracesData, any_value::Value,
};

pub(crate) const MS: u64 = 1_000_000;
pub(crate) const SEC: u64 = 1_000_000_000;
/// Between the start slots of two traces; each trace lasts under 0.6 s and starts at most 1 s
/// after its slot, so neighbours are more than 3 s apart.
const SLOT: u64 = 5 * SEC;

/// The seeds of the two tenants' traces.
pub(crate) const SEED_A: u64 = 0x5e47_a11e;
pub(crate) const SEED_B: u64 = 0x0b0b_cafe;

pub(crate) type TraceId = [u8; 16];
pub(crate) type SpanId = [u8; 8];

pub(crate) const FRONTEND: &str = "frontend";
pub(crate) const API: &str = "api";
pub(crate) const DB: &str = "db";
pub(crate) const CACHE: &str = "cache";
pub(crate) const QUEUE: &str = "queue";

/// An attribute value of one of the types the test covers.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    StrArr(Vec<String>),
    IntArr(Vec<i64>),
}

impl Val {
    pub(crate) fn str(s: &str) -> Self {
        Self::Str(s.to_owned())
    }

    fn to_otlp(&self) -> AnyValue {
        let value = match self {
            Val::Str(s) => Value::StringValue(s.clone()),
            Val::Int(i) => Value::IntValue(*i),
            Val::Double(d) => Value::DoubleValue(*d),
            Val::Bool(b) => Value::BoolValue(*b),
            Val::StrArr(xs) => Value::ArrayValue(ArrayValue {
                values: xs.iter().map(|s| Val::str(s).to_otlp()).collect(),
            }),
            Val::IntArr(xs) => Value::ArrayValue(ArrayValue {
                values: xs.iter().map(|i| Val::Int(*i).to_otlp()).collect(),
            }),
        };
        AnyValue { value: Some(value) }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Code {
    Unset,
    Ok,
    Error,
}

pub(crate) type Attrs = BTreeMap<&'static str, Val>;

#[derive(Clone, Debug)]
pub(crate) struct Ev {
    pub(crate) name: &'static str,
    pub(crate) attrs: Attrs,
}

/// One span as generated.
#[derive(Clone, Debug)]
pub(crate) struct GSpan {
    pub(crate) id: SpanId,
    /// The parent's ID, also when the parent (a root never sent) is not in the trace.
    pub(crate) parent: Option<SpanId>,
    pub(crate) service: &'static str,
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) code: Code,
    pub(crate) message: String,
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) attrs: Attrs,
    pub(crate) events: Vec<Ev>,
    pub(crate) links: Vec<(TraceId, SpanId)>,
}

impl GSpan {
    pub(crate) fn duration(&self) -> u64 {
        self.end - self.start
    }
}

/// One trace: the spans that are sent, and a resource per service.
#[derive(Clone, Debug)]
pub(crate) struct GTrace {
    pub(crate) id: TraceId,
    pub(crate) spans: Vec<GSpan>,
    pub(crate) resources: BTreeMap<&'static str, Attrs>,
}

impl GTrace {
    /// The earliest span start.
    pub(crate) fn start(&self) -> u64 {
        self.spans.iter().map(|s| s.start).min().expect("spans")
    }

    /// The latest span end.
    pub(crate) fn end(&self) -> u64 {
        self.spans.iter().map(|s| s.end).max().expect("spans")
    }

    pub(crate) fn duration(&self) -> u64 {
        self.end() - self.start()
    }

    /// The root span, when it was sent.
    pub(crate) fn root(&self) -> Option<&GSpan> {
        self.spans.iter().find(|s| s.parent.is_none())
    }

    /// The index of the span with `id`.
    pub(crate) fn index_of(&self, id: &SpanId) -> Option<usize> {
        self.spans.iter().position(|s| s.id == *id)
    }

    /// The index of the parent of span `i`, when the parent is in the trace.
    pub(crate) fn parent(&self, i: usize) -> Option<usize> {
        self.spans[i].parent.and_then(|p| self.index_of(&p))
    }

    /// Whether span `a` is a proper ancestor of span `b` (through spans in the trace).
    pub(crate) fn is_ancestor(&self, a: usize, b: usize) -> bool {
        let mut at = self.parent(b);
        while let Some(p) = at {
            if p == a {
                return true;
            }
            at = self.parent(p);
        }
        false
    }

    /// Whether `a` and `b` are different spans with the same parent.
    pub(crate) fn are_siblings(&self, a: usize, b: usize) -> bool {
        a != b && self.spans[a].parent.is_some() && self.spans[a].parent == self.spans[b].parent
    }

    pub(crate) fn span_attr(&self, i: usize, key: &str) -> Option<&Val> {
        self.spans[i].attrs.get(key)
    }

    pub(crate) fn resource_attr(&self, i: usize, key: &str) -> Option<&Val> {
        self.resources[self.spans[i].service].get(key)
    }

    /// `.key`: the span's attribute if it has one, else the resource's.
    pub(crate) fn unscoped(&self, i: usize, key: &str) -> Option<&Val> {
        self.span_attr(i, key)
            .or_else(|| self.resource_attr(i, key))
    }

    /// (spans, error spans) per service.
    pub(crate) fn service_stats(&self) -> BTreeMap<String, (u64, u64)> {
        let mut stats: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for s in &self.spans {
            let e = stats.entry(s.service.to_owned()).or_default();
            e.0 += 1;
            e.1 += u64::from(s.code == Code::Error);
        }
        stats
    }

    /// The trace as OTLP: one `ResourceSpans` per service.
    pub(crate) fn to_otlp(&self) -> Vec<ResourceSpans> {
        self.resources
            .iter()
            .filter(|(svc, _)| self.spans.iter().any(|s| s.service == **svc))
            .map(|(svc, attrs)| ResourceSpans {
                resource: Some(Resource {
                    attributes: kvs(attrs),
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "sextant-e2e-search".into(),
                        version: "1.0.0".into(),
                        ..Default::default()
                    }),
                    spans: self
                        .spans
                        .iter()
                        .filter(|s| s.service == *svc)
                        .map(|s| self.otlp_span(s))
                        .collect(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect()
    }

    fn otlp_span(&self, s: &GSpan) -> Span {
        let kind = match s.kind {
            Kind::Internal => SpanKind::Internal,
            Kind::Server => SpanKind::Server,
            Kind::Client => SpanKind::Client,
            Kind::Producer => SpanKind::Producer,
            Kind::Consumer => SpanKind::Consumer,
        };
        let code = match s.code {
            Code::Unset => StatusCode::Unset,
            Code::Ok => StatusCode::Ok,
            Code::Error => StatusCode::Error,
        };
        Span {
            trace_id: self.id.to_vec(),
            span_id: s.id.to_vec(),
            parent_span_id: s.parent.map(|p| p.to_vec()).unwrap_or_default(),
            name: s.name.clone(),
            kind: kind as i32,
            start_time_unix_nano: s.start,
            end_time_unix_nano: s.end,
            attributes: kvs(&s.attrs),
            events: s
                .events
                .iter()
                .map(|e| Event {
                    time_unix_nano: s.start + s.duration() / 2,
                    name: e.name.to_owned(),
                    attributes: kvs(&e.attrs),
                    dropped_attributes_count: 0,
                })
                .collect(),
            links: s
                .links
                .iter()
                .map(|(t, l)| Link {
                    trace_id: t.to_vec(),
                    span_id: l.to_vec(),
                    attributes: vec![KeyValue {
                        key: "link.kind".into(),
                        value: Some(Val::str("follows").to_otlp()),
                    }],
                    ..Default::default()
                })
                .collect(),
            status: Some(Status {
                message: s.message.clone(),
                code: code as i32,
            }),
            ..Default::default()
        }
    }
}

fn kvs(attrs: &Attrs) -> Vec<KeyValue> {
    attrs
        .iter()
        .map(|(k, v)| KeyValue {
            key: (*k).to_owned(),
            value: Some(v.to_otlp()),
        })
        .collect()
}

/// Export requests holding `per_request` whole traces each (a trace never spans requests).
pub(crate) fn requests(traces: &[GTrace], per_request: usize) -> Vec<TracesData> {
    traces
        .chunks(per_request)
        .map(|chunk| TracesData {
            resource_spans: chunk.iter().flat_map(GTrace::to_otlp).collect(),
        })
        .collect()
}

/// SplitMix64: small, seeded, the same on every platform and `rand` version.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize].clone()
    }

    fn span_id(&mut self) -> SpanId {
        loop {
            let id = self.next().to_be_bytes();
            if id != [0; 8] {
                return id;
            }
        }
    }

    fn trace_id(&mut self) -> TraceId {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next().to_be_bytes());
        id[8..].copy_from_slice(&self.next().to_be_bytes());
        id[15] |= 1; // never all zero
        id
    }
}

/// Whether trace `i` is sent without its root span.
pub(crate) fn rootless(i: usize) -> bool {
    i % 11 == 5
}

/// `n` traces (n ≥ 4) from `seed`, starting in distinct 5 s slots (shuffled against their
/// index) that end 30 s before `now`. Traces 0 and 1 share the latest start, and trace 1 has
/// the smaller ID; every 9th ID starts with zero bytes; traces with `rootless(i)` lack their
/// root span.
pub(crate) fn generate(seed: u64, n: usize, now: u64) -> Vec<GTrace> {
    assert!(n >= 4, "too few traces");
    let mut rng = Rng(seed);
    let latest = n as u64 - 2;
    let base = now - 30 * SEC - latest * SLOT;
    // Slots 0..n-2 for traces 2.., shuffled (Fisher–Yates); traces 0 and 1 tie in the last.
    let mut slots: Vec<u64> = (0..latest).collect();
    for k in (1..slots.len()).rev() {
        slots.swap(k, rng.below(k as u64 + 1) as usize);
    }
    let tie_start = base + latest * SLOT + rng.below(1000) * MS;
    (0..n)
        .map(|i| {
            let t0 = if i < 2 {
                tie_start
            } else {
                base + slots[i - 2] * SLOT + rng.below(1000) * MS
            };
            let mut id = rng.trace_id();
            if i % 9 == 4 {
                id[0] = 0;
                if i % 18 == 4 {
                    id[1] = 0;
                }
            }
            match i {
                0 => id[0] = 0xfe,
                1 => id[..2].copy_from_slice(&[0, 0]),
                _ => {}
            }
            one_trace(&mut rng, id, i, t0)
        })
        .collect()
}

struct Builder {
    spans: Vec<GSpan>,
    rng: Rng,
    t0: u64,
}

impl Builder {
    /// A span starting `off` ms after its parent (or the trace start), lasting `dur` ms.
    fn add(
        &mut self,
        parent: Option<usize>,
        service: &'static str,
        name: &str,
        kind: Kind,
        off: u64,
        dur: u64,
    ) -> usize {
        let start = parent.map_or(self.t0, |p| self.spans[p].start) + off * MS;
        let id = self.rng.span_id();
        self.spans.push(GSpan {
            id,
            parent: parent.map(|p| self.spans[p].id),
            service,
            name: name.to_owned(),
            kind,
            code: Code::Unset,
            message: String::new(),
            start,
            end: start + dur * MS,
            attrs: Attrs::new(),
            events: Vec::new(),
            links: Vec::new(),
        });
        self.spans.len() - 1
    }

    fn set(&mut self, i: usize, key: &'static str, v: Val) {
        self.spans[i].attrs.insert(key, v);
    }

    fn fail(&mut self, i: usize, message: &str) {
        self.spans[i].code = Code::Error;
        self.spans[i].message = message.to_owned();
    }
}

fn one_trace(rng: &mut Rng, id: TraceId, i: usize, t0: u64) -> GTrace {
    let mut b = Builder {
        spans: Vec::new(),
        rng: Rng(rng.next()),
        t0,
    };
    let r = &mut b.rng;
    let route = r.pick(&["/a", "/b", "/c"]);
    let (method, name) = match route {
        "/a" => ("GET", "GET /a"),
        "/b" => ("GET", "GET /b"),
        _ => ("POST", "POST /c"),
    };
    let code = r.pick(&[200i64, 200, 200, 201, 404, 500, 503]);
    let d_root = 200 + r.below(400);

    let root = b.add(None, FRONTEND, name, Kind::Server, 0, d_root);
    b.set(root, "http.method", Val::str(method));
    b.set(root, "http.route", Val::str(route));
    b.set(root, "http.status_code", Val::Int(code));
    if b.rng.chance(40) {
        let tags = b
            .rng
            .pick(&[&["alpha", "beta"][..], &["alpha"], &["gamma", "delta"]]);
        b.set(
            root,
            "tags",
            Val::StrArr(tags.iter().map(|s| (*s).to_owned()).collect()),
        );
    }
    if b.rng.chance(50) {
        let ratio = (1 + b.rng.below(7)) as f64 / 8.0;
        b.set(root, "load.ratio", Val::Double(ratio));
    }
    if code >= 500 {
        b.fail(root, "upstream failed");
    } else if b.rng.chance(50) {
        b.spans[root].code = Code::Ok;
    }
    let foreign = (b.rng.trace_id(), b.rng.span_id());
    b.spans[root].links.push(foreign);

    if b.rng.chance(60) {
        let d = 2 + b.rng.below(8);
        b.add(Some(root), FRONTEND, "render", Kind::Internal, 1, d);
    }
    let call = b.add(
        Some(root),
        FRONTEND,
        "call api",
        Kind::Client,
        3,
        d_root - 10,
    );
    b.set(call, "http.method", Val::str(method));
    b.set(call, "http.status_code", Val::Int(code));
    b.set(call, "peer.service", Val::str(API));

    let api = b.add(
        Some(call),
        API,
        &format!("handle {route}"),
        Kind::Server,
        1,
        d_root - 14,
    );
    b.set(api, "http.route", Val::str(route));
    b.set(api, "http.status_code", Val::Int(code));
    if b.rng.chance(25) {
        b.set(api, "tier", Val::str("override"));
    }
    match b.rng.below(4) {
        0 => b.set(api, "attempt", Val::Int(1)),
        1 => b.set(api, "attempt", Val::Int(2)),
        2 => b.set(api, "attempt", Val::str("2")),
        _ => {}
    }
    if b.rng.chance(40) {
        let codes = b.rng.pick(&[&[1i64, 2, 3][..], &[4], &[2, 5]]);
        b.set(api, "codes", Val::IntArr(codes.to_vec()));
    }
    if code >= 500 {
        b.fail(api, "handler failed");
    }

    // Children of the api server, one after the other (at most 146 ms of its ≥ 186 ms).
    let mut cursor = 1;
    if b.rng.chance(50) {
        let d = 1 + b.rng.below(12);
        let auth = b.add(Some(api), API, "authorize", Kind::Internal, cursor, d);
        let user = b.rng.pick(&["alice", "bob"]);
        b.set(auth, "auth.user", Val::str(user));
        cursor += d + 1;
    }
    for _ in 0..b.rng.pick(&[0, 1, 1, 2, 2]) {
        let table = b.rng.pick(&["users", "orders"]);
        let system = b.rng.pick(&["postgresql", "mysql"]);
        let d = 1 + b.rng.below(40);
        let client = b.add(Some(api), API, "SELECT", Kind::Client, cursor, d + 2);
        b.set(client, "db.system", Val::str(system));
        b.set(
            client,
            "db.statement",
            Val::Str(format!("SELECT * FROM {table}")),
        );
        b.set(client, "peer.service", Val::str(DB));
        let server = b.add(
            Some(client),
            DB,
            &format!("query {table}"),
            Kind::Server,
            1,
            d,
        );
        b.set(server, "db.system", Val::str(system));
        let rows = b.rng.below(100) as i64;
        b.set(server, "db.rows", Val::Int(rows));
        if b.rng.chance(15) {
            b.fail(server, "connection refused");
            let kind = b.rng.pick(&["Timeout", "IOError"]);
            b.spans[server].events.push(Ev {
                name: "exception",
                attrs: Attrs::from([
                    ("exception.type", Val::str(kind)),
                    ("exception.message", Val::str("connection refused")),
                ]),
            });
        }
        cursor += d + 3;
    }
    if b.rng.chance(60) {
        let d = 1 + b.rng.below(8);
        let client = b.add(Some(api), API, "cache get", Kind::Client, cursor, d + 2);
        let server = b.add(Some(client), CACHE, "GET key", Kind::Server, 1, d);
        let hit = b.rng.chance(60);
        b.set(server, "cache.hit", Val::Bool(hit));
        if b.rng.chance(60) {
            let ratio = (1 + b.rng.below(7)) as f64 / 8.0;
            b.set(server, "load.ratio", Val::Double(ratio));
        }
        if !hit {
            let key = Val::Str(format!("user:{}", b.rng.below(50)));
            b.spans[server].events.push(Ev {
                name: "cache.miss",
                attrs: Attrs::from([("key", key)]),
            });
        }
        cursor += d + 3;
    }
    if b.rng.chance(40) {
        let producer = b.add(Some(api), API, "publish", Kind::Producer, cursor, 2);
        let d = 1 + b.rng.below(30);
        let consumer = b.add(Some(producer), QUEUE, "consume", Kind::Consumer, 1, d);
        let tags: &[&str] = b.rng.pick(&[&["queue", "beta"][..], &["queue"]]);
        b.set(
            consumer,
            "tags",
            Val::StrArr(tags.iter().map(|s| (*s).to_owned()).collect()),
        );
        let link = (id, b.spans[producer].id);
        b.spans[consumer].links.push(link);
        let msg = b.rng.below(1000) as i64;
        b.spans[consumer].events.push(Ev {
            name: "message.received",
            attrs: Attrs::from([("messaging.id", Val::Int(msg))]),
        });
        if b.rng.chance(20) {
            b.fail(consumer, "timeout after 3s");
            b.spans[consumer].events.push(Ev {
                name: "exception",
                attrs: Attrs::from([("exception.type", Val::str("Timeout"))]),
            });
        }
    }

    let environment = if i.is_multiple_of(3) {
        "staging"
    } else {
        "prod"
    };
    let mut resources = BTreeMap::new();
    for (svc, tier) in [
        (FRONTEND, "edge"),
        (API, "core"),
        (DB, "data"),
        (CACHE, "data"),
        (QUEUE, "data"),
    ] {
        let host = format!("node-{}", b.rng.below(3));
        resources.insert(
            svc,
            Attrs::from([
                ("service.name", Val::str(svc)),
                ("deployment.environment", Val::str(environment)),
                ("host.name", Val::Str(host)),
                ("tier", Val::str(tier)),
            ]),
        );
    }
    let mut spans = b.spans;
    if rootless(i) {
        spans.remove(root);
    }
    GTrace {
        id,
        spans,
        resources,
    }
}
