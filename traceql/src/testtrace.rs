//! A hand-built trace for the engine's tests, and builders for OTLP values.
//!
//! ```text
//! resource frontend (scope lib-a 1.0)       resource backend (scope lib-b 2.0)
//! GET / (server, ok)            100..1100
//! ├── auth (internal)           150..350   events cache.miss@200, log@300
//! │   └── db.query (client, error "timeout") 200..300   one link
//! └── backend.handle (server)   400..1000
//!     ├── backend.render (consumer) 450..800
//!     └── backend.db (client, error) 500..900
//!         └── backend.cache (producer) 600..650
//! orphan (unspecified; parent not in the trace) 1200..1300
//! ```

use sextant_model::otlp::{
    AnyValue, ArrayValue, Event, InstrumentationScope, KeyValue, KeyValueList, Link, Resource,
    ResourceSpans, ScopeSpans, Span, Status, TracesData, any_value::Value,
};

pub(crate) fn s(v: &str) -> AnyValue {
    AnyValue {
        value: Some(Value::StringValue(v.to_owned())),
    }
}

pub(crate) fn i(v: i64) -> AnyValue {
    AnyValue {
        value: Some(Value::IntValue(v)),
    }
}

pub(crate) fn f(v: f64) -> AnyValue {
    AnyValue {
        value: Some(Value::DoubleValue(v)),
    }
}

pub(crate) fn b(v: bool) -> AnyValue {
    AnyValue {
        value: Some(Value::BoolValue(v)),
    }
}

pub(crate) fn arr(items: Vec<AnyValue>) -> AnyValue {
    AnyValue {
        value: Some(Value::ArrayValue(ArrayValue { values: items })),
    }
}

pub(crate) fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(value),
    }
}

pub(crate) const TRACE_ID: [u8; 16] = [0xab; 16];

/// The span ID of span number `n` (1-based, as in the names below).
pub(crate) fn sid(n: u8) -> Vec<u8> {
    vec![0, 0, 0, 0, 0, 0, 0, n]
}

pub(crate) struct SpanSpec {
    pub(crate) n: u8,
    pub(crate) parent: Option<Vec<u8>>,
    pub(crate) name: &'static str,
    pub(crate) kind: i32,
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) status: Option<(i32, &'static str)>,
    pub(crate) attrs: Vec<KeyValue>,
    pub(crate) events: Vec<Event>,
    pub(crate) links: Vec<Link>,
}

pub(crate) fn span(spec: SpanSpec) -> Span {
    Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: sid(spec.n),
        parent_span_id: spec.parent.unwrap_or_default(),
        name: spec.name.to_owned(),
        kind: spec.kind,
        start_time_unix_nano: spec.start,
        end_time_unix_nano: spec.end,
        attributes: spec.attrs,
        events: spec.events,
        links: spec.links,
        status: spec.status.map(|(code, message)| Status {
            code,
            message: message.to_owned(),
        }),
        ..Default::default()
    }
}

pub(crate) fn spec(
    n: u8,
    parent: Option<u8>,
    name: &'static str,
    kind: i32,
    start: u64,
    end: u64,
) -> SpanSpec {
    SpanSpec {
        n,
        parent: parent.map(sid),
        name,
        kind,
        start,
        end,
        status: None,
        attrs: Vec::new(),
        events: Vec::new(),
        links: Vec::new(),
    }
}

pub(crate) fn resource_spans(
    attrs: Vec<KeyValue>,
    scope: Option<InstrumentationScope>,
    spans: Vec<Span>,
) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: attrs,
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope,
            spans,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

/// The trace drawn above.
pub(crate) fn sample() -> TracesData {
    let mut root = spec(1, None, "GET /", 2, 100, 1100);
    root.status = Some((1, ""));
    root.attrs = vec![
        kv("http.method", s("GET")),
        kv("http.status_code", i(200)),
        kv("str", s("a")),
        kv("flag", b(true)),
        kv("ratio", f(0.5)),
        kv("tags", arr(vec![s("a"), s("b")])),
        kv("nums", arr(vec![i(1), i(2), i(3)])),
        kv("shared", s("span")),
        kv(
            "map",
            AnyValue {
                value: Some(Value::KvlistValue(KeyValueList {
                    values: vec![kv("k", s("v"))],
                })),
            },
        ),
        kv(
            "blob",
            AnyValue {
                value: Some(Value::BytesValue(vec![1, 2])),
            },
        ),
    ];
    let mut auth = spec(2, Some(1), "auth", 1, 150, 350);
    auth.attrs = vec![kv("http.method", s("POST")), kv("tags", arr(vec![s("c")]))];
    auth.events = vec![
        Event {
            time_unix_nano: 200,
            name: "cache.miss".to_owned(),
            attributes: vec![kv("hit", b(false)), kv("key", s("k1"))],
            dropped_attributes_count: 0,
        },
        Event {
            time_unix_nano: 300,
            name: "log".to_owned(),
            attributes: vec![kv("key", s("k2"))],
            dropped_attributes_count: 0,
        },
    ];
    let mut db = spec(3, Some(2), "db.query", 3, 200, 300);
    db.status = Some((2, "timeout"));
    db.attrs = vec![kv("db.system", s("postgres")), kv("a b", s("spaced"))];
    db.links = vec![Link {
        trace_id: vec![0xff; 16],
        span_id: vec![0xee; 8],
        attributes: vec![kv("link.kind", s("follows"))],
        ..Default::default()
    }];
    let frontend = resource_spans(
        vec![
            kv("service.name", s("frontend")),
            kv("region", s("eu")),
            kv("shared", s("res")),
            kv("num.res", i(7)),
        ],
        Some(InstrumentationScope {
            name: "lib-a".to_owned(),
            version: "1.0".to_owned(),
            attributes: vec![kv("scope.attr", s("x"))],
            dropped_attributes_count: 0,
        }),
        vec![span(root), span(auth), span(db)],
    );

    let mut handle = spec(4, Some(1), "backend.handle", 2, 400, 1000);
    handle.attrs = vec![kv("http.status_code", i(500)), kv("flag", b(false))];
    let mut bdb = spec(5, Some(4), "backend.db", 3, 500, 900);
    bdb.status = Some((2, ""));
    bdb.attrs = vec![kv("db.system", s("mysql")), kv("http.status_code", i(503))];
    let cache = spec(6, Some(5), "backend.cache", 4, 600, 650);
    let mut render = spec(7, Some(4), "backend.render", 5, 450, 800);
    render.attrs = vec![kv("count", i(5)), kv("ratio", f(1.5))];
    let mut orphan = spec(8, None, "orphan", 0, 1200, 1300);
    orphan.parent = Some(vec![0x99; 8]);
    let backend = resource_spans(
        vec![kv("service.name", s("backend")), kv("region", s("us"))],
        Some(InstrumentationScope {
            name: "lib-b".to_owned(),
            version: "2.0".to_owned(),
            ..Default::default()
        }),
        vec![
            span(handle),
            span(bdb),
            span(cache),
            span(render),
            span(orphan),
        ],
    );
    TracesData {
        resource_spans: vec![frontend, backend],
    }
}
