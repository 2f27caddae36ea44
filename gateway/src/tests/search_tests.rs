//! Tempo's search and tag routes at the edge: parameters (every bad one a plain-text 400 naming
//! it, every good one the exact request the port sees), authorisation, `a|b` merging, the JSON
//! shapes Grafana decodes, and port errors.

use std::collections::BTreeMap;

use serde_json::Value;
use sextant_model::otlp::ArrayValue;
use sextant_model::{
    SearchMetrics, SearchQuery, ServiceStats, SpanSet, SpanSummary, TagRef, TagScope, TagValue,
    TagValueType, TraceSummary,
};

use super::auth_tests::{basic, bearer, fake_auth};
use super::*;

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

fn search_request(query: SearchQuery) -> SearchRequest {
    SearchRequest {
        query,
        range: None,
        min_duration: None,
        max_duration: None,
        limit: 20,
        spans_per_spanset: 3,
    }
}

fn tags(pairs: &[(&str, &str)]) -> SearchQuery {
    SearchQuery::Tags(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

fn get_as(uri: &str, tenant: &str) -> Request<Body> {
    Request::get(uri)
        .header("x-scope-orgid", tenant)
        .body(Body::empty())
        .unwrap()
}

fn text(body: &bytes::Bytes) -> String {
    String::from_utf8(body.to_vec()).unwrap()
}

/// Sends `uri` as tenant `acme` and expects 400 naming `message`; nothing reaches the port.
async fn assert_bad(app: &App, uri: &str, message: &str) {
    let before = app.searcher.searches.lock().unwrap().len()
        + app.searcher.tag_name_requests.lock().unwrap().len()
        + app.searcher.tag_value_requests.lock().unwrap().len();
    let (status, headers, body) = send(app.router(), get_as(uri, "acme")).await;
    assert_eq!(status, 400, "{uri}: {}", text(&body));
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "{uri}"
    );
    assert!(
        text(&body).contains(message),
        "{uri}: {:?} does not contain {message:?}",
        text(&body)
    );
    let after = app.searcher.searches.lock().unwrap().len()
        + app.searcher.tag_name_requests.lock().unwrap().len()
        + app.searcher.tag_value_requests.lock().unwrap().len();
    assert_eq!(before, after, "{uri} reached the port");
}

#[tokio::test]
async fn search_parameters_become_the_request_the_port_sees() {
    let app = app();
    let ms = Duration::from_millis;
    let range = Some(TimeRange::from_unix_seconds(100, 200));
    let cases: Vec<(&str, SearchRequest)> = vec![
        ("/api/search", search_request(tags(&[]))),
        (
            "/api/search?q=%7B.a%20%3D%201%7D&limit=5&spss=7&start=100&end=200",
            SearchRequest {
                range,
                limit: 5,
                spans_per_spanset: 7,
                ..search_request(SearchQuery::TraceQl("{.a = 1}".into()))
            },
        ),
        (
            "/api/search?q=",
            search_request(SearchQuery::TraceQl(String::new())),
        ),
        (
            "/api/search?tags=service.name%3Dapi%20name%3D%22GET%20%2Fx%20%5C%22y%5C%22%22\
             &minDuration=100ms&maxDuration=1.5s&limit=1000&spss=100",
            SearchRequest {
                min_duration: Some(ms(100)),
                max_duration: Some(ms(1500)),
                limit: 1000,
                spans_per_spanset: 100,
                ..search_request(tags(&[("service.name", "api"), ("name", "GET /x \"y\"")]))
            },
        ),
        // Legacy: neither q/tags nor start/end, so the other parameters are tags (sorted).
        (
            "/api/search?service.name=api&http.status_code=500&empty=&limit=3&minDuration=1h2m",
            SearchRequest {
                min_duration: Some(Duration::from_secs(3720)),
                limit: 3,
                ..search_request(tags(&[
                    ("http.status_code", "500"),
                    ("service.name", "api"),
                ]))
            },
        ),
        (
            "/api/search?foo=bar&start=100&end=200",
            SearchRequest {
                range,
                ..search_request(tags(&[]))
            },
        ),
        (
            "/api/search?minDuration=300us&maxDuration=300%C2%B5s",
            SearchRequest {
                min_duration: Some(Duration::from_micros(300)),
                max_duration: Some(Duration::from_micros(300)),
                ..search_request(tags(&[]))
            },
        ),
        (
            "/api/search?q=%7B%7D&start=0&end=0&minDuration=0&maxDuration=10ns",
            SearchRequest {
                min_duration: Some(Duration::ZERO),
                max_duration: Some(Duration::from_nanos(10)),
                ..search_request(SearchQuery::TraceQl("{}".into()))
            },
        ),
    ];
    for (uri, expected) in cases {
        let (status, headers, body) = send(app.router(), get_as(uri, "acme")).await;
        assert_eq!(status, 200, "{uri}: {}", text(&body));
        assert_eq!(headers["content-type"], "application/json");
        let (tenant, seen) = app.searcher.searches.lock().unwrap().pop().unwrap();
        assert_eq!(tenant.as_str(), "acme");
        assert_eq!(seen, expected, "{uri}");
    }
}

#[tokio::test]
async fn bad_search_parameters_are_a_400_naming_them() {
    let app = app();
    app.tenants.set(
        "small",
        Limits {
            max_spans_per_span_set: 5,
            ..Limits::default()
        },
    );
    for (uri, message) in [
        (
            "/api/search?q=%7B%7D&tags=a%3Db",
            "q and tags cannot be used together",
        ),
        (
            "/api/search?tags=a%3Db%20a%3Dc",
            "invalid tags: duplicate key \"a\"",
        ),
        (
            "/api/search?tags=a",
            "invalid tags: expected '=' after key \"a\"",
        ),
        (
            "/api/search?tags=a%3D%22b",
            "invalid tags: unterminated quoted value",
        ),
        ("/api/search?minDuration=abc", "invalid minDuration \"abc\""),
        (
            "/api/search?minDuration=-1s",
            "invalid minDuration \"-1s\": must not be negative",
        ),
        ("/api/search?maxDuration=5", "invalid maxDuration \"5\""),
        (
            "/api/search?minDuration=2s&maxDuration=1s",
            "invalid maxDuration: must be greater than or equal to minDuration",
        ),
        (
            "/api/search?limit=0",
            "invalid limit: must be a positive number",
        ),
        ("/api/search?limit=-1", "invalid limit \"-1\""),
        ("/api/search?limit=ten", "invalid limit \"ten\""),
        (
            "/api/search?limit=1001",
            "invalid limit: must be at most 1000",
        ),
        (
            "/api/search?spss=0",
            "invalid spss: must be a positive number",
        ),
        ("/api/search?spss=101", "invalid spss: must be at most 100"),
        ("/api/search?spss=x", "invalid spss \"x\""),
        ("/api/search?start=200&end=100", "invalid time range"),
        ("/api/search?start=abc&end=100", "invalid start \"abc\""),
        ("/api/search?start=100&end=1.5", "invalid end \"1.5\""),
    ] {
        assert_bad(&app, uri, message).await;
    }
    // `spss` is checked against the tenant's own limit; its default is capped by it.
    let (status, _, body) = send(app.router(), get_as("/api/search?spss=6", "small")).await;
    assert_eq!(status, 400);
    assert_eq!(text(&body), "invalid spss: must be at most 5");
    let (status, _, _) = send(app.router(), get_as("/api/search?spss=5", "small")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn search_defaults_come_from_the_config() {
    let config = GatewayConfig {
        default_search_limit: 7,
        max_search_limit: 50,
        default_spans_per_span_set: 2,
        ..Default::default()
    };
    let app = app_with(config, FakeReader::default());
    let (status, _, _) = send(app.router(), get_as("/api/search?q=%7B%7D", "acme")).await;
    assert_eq!(status, 200);
    let (_, seen) = app.searcher.searches.lock().unwrap().pop().unwrap();
    assert_eq!((seen.limit, seen.spans_per_spanset), (7, 2));
    assert_bad(
        &app,
        "/api/search?limit=51",
        "invalid limit: must be at most 50",
    )
    .await;
}

#[tokio::test]
async fn tag_parameters_become_the_request_the_port_sees() {
    let app = app();
    let range = Some(TimeRange::from_unix_seconds(1, 2));
    let names = |scopes: Vec<TagScope>, query: Option<&str>, limit: u32, range| TagNamesRequest {
        scopes,
        range,
        query: query.map(str::to_owned),
        limit,
    };
    use TagScope::{Intrinsic, Resource, Span};
    for (uri, expected) in [
        (
            "/api/search/tags",
            names(vec![Resource, Span], None, 0, None),
        ),
        ("/api/v2/search/tags", names(vec![], None, 0, None)),
        (
            "/api/search/tags?scope=intrinsic",
            names(vec![Intrinsic], None, 0, None),
        ),
        ("/api/search/tags?scope=", names(vec![], None, 0, None)),
        ("/api/search/tags?scope=none", names(vec![], None, 0, None)),
        (
            "/api/v2/search/tags?scope=resource&q=%7B.a%3D1%7D&limit=5000&start=1&end=2\
             &maxStaleValues=3",
            names(vec![Resource], Some("{.a=1}"), 5000, range),
        ),
    ] {
        let (status, headers, body) = send(app.router(), get_as(uri, "acme")).await;
        assert_eq!(status, 200, "{uri}: {}", text(&body));
        assert_eq!(headers["content-type"], "application/json");
        let (tenant, seen) = app
            .searcher
            .tag_name_requests
            .lock()
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(tenant.as_str(), "acme");
        assert_eq!(seen, expected, "{uri}");
    }
    let values = |tag: TagRef, query: Option<&str>, limit: u32, range| TagValuesRequest {
        tag,
        range,
        query: query.map(str::to_owned),
        limit,
    };
    for (uri, expected) in [
        (
            "/api/search/tag/http.method/values",
            values(TagRef::Name("http.method".into()), None, 0, None),
        ),
        (
            "/api/v2/search/tag/resource.service.name/values?q=%7B%7D&limit=10&start=1&end=2",
            values(
                TagRef::Identifier("resource.service.name".into()),
                Some("{}"),
                10,
                range,
            ),
        ),
        (
            "/api/v2/search/tag/span.a%2Fb%20c/values",
            values(TagRef::Identifier("span.a/b c".into()), None, 0, None),
        ),
    ] {
        let (status, _, body) = send(app.router(), get_as(uri, "acme")).await;
        assert_eq!(status, 200, "{uri}: {}", text(&body));
        let (_, seen) = app
            .searcher
            .tag_value_requests
            .lock()
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(seen, expected, "{uri}");
    }
    for (uri, message) in [
        ("/api/search/tags?scope=trace2", "invalid scope: trace2"),
        ("/api/v2/search/tags?scope=Span", "invalid scope: Span"),
        ("/api/v2/search/tags?limit=many", "invalid limit \"many\""),
        ("/api/search/tags?start=5&end=5", "invalid time range"),
        (
            "/api/v2/search/tag/x/values?limit=-2",
            "invalid limit \"-2\"",
        ),
        (
            "/api/search/tag/%20/values",
            "invalid tag: must not be empty",
        ),
        (
            "/api/v2/search/tag/x/values?start=9&end=1",
            "invalid time range",
        ),
    ] {
        assert_bad(&app, uri, message).await;
    }
}

/// A search answer with every field set.
fn full_search_answer() -> SearchResponse {
    let span = SpanSummary {
        span_id: vec![0, 0x3d, 0x62, 0x3c, 0x76, 0x51, 0x4f, 0x8e],
        name: "GET /cart".into(),
        start_time_unix_nano: 1_684_778_327_735_077_898,
        duration_nanos: 446_979_497,
        attributes: vec![
            kv("http.method", any_value::Value::StringValue("GET".into())),
            kv("http.status_code", any_value::Value::IntValue(500)),
            kv("ratio", any_value::Value::DoubleValue(0.25)),
            kv("cached", any_value::Value::BoolValue(false)),
            kv(
                "tags",
                any_value::Value::ArrayValue(ArrayValue {
                    values: vec![
                        AnyValue {
                            value: Some(any_value::Value::StringValue("a".into())),
                        },
                        AnyValue {
                            value: Some(any_value::Value::IntValue(2)),
                        },
                    ],
                }),
            ),
        ],
    };
    let mut trace_id = [0u8; 16];
    trace_id[1..].copy_from_slice(&[
        0x3e, 0x0c, 0xee, 0x77, 0xae, 0x5d, 0xc9, 0xc1, 0x7a, 0xde, 0x36, 0x89, 0xeb, 0x2e, 0x54,
    ]);
    let mut stats = BTreeMap::new();
    stats.insert(
        "shop-backend".to_owned(),
        ServiceStats {
            span_count: 3,
            error_count: 1,
        },
    );
    stats.insert(
        "cache".to_owned(),
        ServiceStats {
            span_count: 2,
            error_count: 0,
        },
    );
    SearchResponse {
        traces: vec![TraceSummary {
            trace_id: TraceId(trace_id),
            root_service_name: "shop-backend".into(),
            root_trace_name: "update-billing".into(),
            start_time_unix_nano: 1_684_778_327_699_392_724,
            duration_nanos: 557_000_001,
            span_sets: vec![
                SpanSet {
                    spans: vec![span.clone()],
                    matched: 4,
                    attributes: vec![kv(
                        "by(.region)",
                        any_value::Value::StringValue("eu".into()),
                    )],
                },
                SpanSet {
                    spans: vec![span],
                    matched: 1,
                    attributes: vec![],
                },
            ],
            service_stats: stats,
        }],
        metrics: SearchMetrics {
            inspected_traces: 3100,
            inspected_bytes: 3_811_736,
            inspected_spans: 9000,
            total_blocks: 3,
            total_block_bytes: 12_345_678,
            completed_jobs: 9,
            total_jobs: 10,
            backend_reads: 42,
            backend_bytes: 4_200_000,
        },
    }
}

fn full_metrics() -> SearchMetrics {
    full_search_answer().metrics
}

#[tokio::test]
async fn search_json_shape() {
    let app = app();
    app.searcher.search_answers.set(Ok(full_search_answer()));
    let (status, headers, body) = send(app.router(), get("/api/search?q=%7B%7D")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    insta::assert_snapshot!("search_json", text(&body));
    // What Grafana's strict decoder needs: 64-bit integers as strings, 32-bit as numbers.
    let v: Value = serde_json::from_slice(&body).unwrap();
    let trace = &v["traces"][0];
    // Leading zero digits stripped.
    assert_eq!(trace["traceID"], "3e0cee77ae5dc9c17ade3689eb2e54");
    assert_eq!(trace["startTimeUnixNano"], "1684778327699392724");
    assert_eq!(trace["durationMs"], 557);
    assert_eq!(trace["spanSet"], trace["spanSets"][0]);
    let set = &trace["spanSets"][0];
    assert_eq!(set["matched"], 4);
    let span = &set["spans"][0];
    assert_eq!(span["spanID"], "003d623c76514f8e");
    assert_eq!(span["startTimeUnixNano"], "1684778327735077898");
    assert_eq!(span["durationNanos"], "446979497");
    assert_eq!(span["attributes"][1]["value"]["intValue"], "500");
    assert_eq!(span["attributes"][2]["value"]["doubleValue"], 0.25);
    assert_eq!(span["attributes"][3]["value"]["boolValue"], false);
    assert_eq!(trace["serviceStats"]["shop-backend"]["spanCount"], 3);
    assert_eq!(trace["serviceStats"]["shop-backend"]["errorCount"], 1);
    assert!(trace["serviceStats"]["cache"].get("errorCount").is_none());
    let m = &v["metrics"];
    for key in [
        "inspectedTraces",
        "totalBlocks",
        "completedJobs",
        "totalJobs",
    ] {
        assert!(m[key].is_u64(), "{key} is a number: {m}");
    }
    for key in [
        "inspectedBytes",
        "totalBlockBytes",
        "inspectedSpans",
        "backendReads",
        "backendBytes",
    ] {
        assert!(m[key].is_string(), "{key} is a string: {m}");
    }

    // A tag search answer: no span sets, no root name, zero duration — all omitted.
    app.searcher.search_answers.set(Ok(SearchResponse {
        traces: vec![TraceSummary {
            trace_id: TraceId([0; 16]),
            root_service_name: "<root span not yet received>".into(),
            start_time_unix_nano: 5,
            ..Default::default()
        }],
        metrics: SearchMetrics::default(),
    }));
    let (_, _, body) = send(app.router(), get("/api/search?tags=a%3Db")).await;
    assert_eq!(
        text(&body),
        r#"{"traces":[{"traceID":"0","rootServiceName":"<root span not yet received>","startTimeUnixNano":"5"}],"metrics":{}}"#
    );
}

fn full_tag_names() -> TagNamesResponse {
    TagNamesResponse {
        scopes: vec![
            (
                TagScope::Span,
                vec!["http.method".into(), "service.name".into()],
            ),
            (
                TagScope::Resource,
                vec!["host.name".into(), "service.name".into()],
            ),
            (TagScope::Event, vec![]),
            (TagScope::Intrinsic, vec!["duration".into(), "name".into()]),
        ],
        metrics: full_metrics(),
    }
}

fn full_tag_values() -> TagValuesResponse {
    TagValuesResponse {
        values: vec![
            TagValue {
                value_type: TagValueType::String,
                value: "GET".into(),
            },
            TagValue {
                value_type: TagValueType::Int,
                value: "200".into(),
            },
            TagValue {
                value_type: TagValueType::Keyword,
                value: "error".into(),
            },
            TagValue {
                value_type: TagValueType::Duration,
                value: "150ms".into(),
            },
        ],
        metrics: full_metrics(),
    }
}

#[tokio::test]
async fn tag_json_shapes() {
    let app = app();
    app.searcher.tag_name_answers.set(Ok(full_tag_names()));
    app.searcher.tag_value_answers.set(Ok(full_tag_values()));
    for (name, uri) in [
        ("tags_v1_json", "/api/search/tags"),
        ("tags_v2_json", "/api/v2/search/tags"),
        ("tag_values_v1_json", "/api/search/tag/x/values"),
        ("tag_values_v2_json", "/api/v2/search/tag/x/values"),
    ] {
        let (status, headers, body) = send(app.router(), get(uri)).await;
        assert_eq!(status, 200, "{uri}");
        assert_eq!(headers["content-type"], "application/json");
        insta::assert_snapshot!(name, text(&body));
        let v: Value = serde_json::from_slice(&body).unwrap();
        let m = &v["metrics"];
        assert!(m["inspectedBytes"].is_string(), "{uri}: {m}");
        assert!(m["totalBlockBytes"].is_string(), "{uri}: {m}");
        assert!(m["totalJobs"].is_u64(), "{uri}: {m}");
        assert!(m["totalBlocks"].is_u64(), "{uri}: {m}");
    }
}

#[tokio::test]
async fn port_errors_map_to_tempo_statuses() {
    let app = app();
    for (err, status, body) in [
        (
            Error::new(
                ErrorKind::QueryLimit,
                "search exceeded the byte budget of 100 bytes",
            ),
            422,
            "search exceeded the byte budget of 100 bytes",
        ),
        (
            Error::bad_request("parse error at line 1, col 3: expected }"),
            400,
            "parse error at line 1, col 3: expected }",
        ),
        (
            Error::internal("block 42 unreadable at /data"),
            500,
            "internal error",
        ),
    ] {
        app.searcher.search_answers.set(Err(err.clone()));
        app.searcher.tag_name_answers.set(Err(err.clone()));
        app.searcher.tag_value_answers.set(Err(err.clone()));
        for uri in [
            "/api/search?q=%7B",
            "/api/search/tags",
            "/api/v2/search/tags",
            "/api/search/tag/a/values",
            "/api/v2/search/tag/a/values",
        ] {
            let (got, headers, got_body) = send(app.router(), get(uri)).await;
            assert_eq!(got.as_u16(), status, "{uri} {err:?}");
            assert!(
                headers["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/plain")
            );
            assert_eq!(text(&got_body), body, "{uri}");
        }
    }
}

const ROUTES: [&str; 5] = [
    "/api/search?q=%7B%7D",
    "/api/search/tags",
    "/api/v2/search/tags",
    "/api/search/tag/a/values",
    "/api/v2/search/tag/a/values",
];

fn keyed() -> App {
    app_full(
        AuthMode::Keys,
        fake_auth(),
        GatewayConfig::default(),
        FakeReader::default(),
    )
}

#[tokio::test]
async fn search_routes_need_read_access_to_every_tenant_named() {
    let app = keyed();
    let with = |uri: &str, headers: &[(&str, String)]| {
        let mut b = Request::get(uri);
        for (name, value) in headers {
            b = b.header(*name, value);
        }
        b.body(Body::empty()).unwrap()
    };
    for uri in ROUTES {
        for (who, headers, expected) in [
            ("nobody", vec![], 401),
            (
                "wrong secret",
                vec![("authorization", bearer("sxt_nope"))],
                401,
            ),
            (
                "write-only key",
                vec![("authorization", bearer("sxt_a_write"))],
                403,
            ),
            (
                "other tenant's header",
                vec![
                    ("authorization", bearer("sxt_a_rw")),
                    ("x-scope-orgid", "bbb".to_owned()),
                ],
                403,
            ),
            (
                "a set the key may not read",
                vec![
                    ("authorization", bearer("sxt_a_rw")),
                    ("x-scope-orgid", "aaa|bbb".to_owned()),
                ],
                403,
            ),
            (
                "read key",
                vec![("authorization", basic("aaa", "sxt_a_read"))],
                200,
            ),
        ] {
            let (status, _, body) = send(app.router(), with(uri, &headers)).await;
            assert_eq!(status.as_u16(), expected, "{uri} {who}: {}", text(&body));
        }
    }
    // Only the read key's requests reached the port, each for its own tenant.
    let searches = app.searcher.searches.lock().unwrap();
    assert_eq!(searches.len(), 1);
    assert_eq!(searches[0].0.as_str(), "aaa");
    assert_eq!(app.searcher.tag_name_requests.lock().unwrap().len(), 2);
    assert_eq!(app.searcher.tag_value_requests.lock().unwrap().len(), 2);
}

fn summary(id: u8, start: u64, service: &str) -> TraceSummary {
    let mut trace_id = [0u8; 16];
    trace_id[15] = id;
    TraceSummary {
        trace_id: TraceId(trace_id),
        root_service_name: service.into(),
        root_trace_name: format!("op{id}"),
        start_time_unix_nano: start,
        duration_nanos: 1_000_000,
        span_sets: vec![],
        service_stats: BTreeMap::new(),
    }
}

#[tokio::test]
async fn federated_reads_merge_the_tenants_answers() {
    let app = keyed();
    let metrics = |bytes: u64| SearchMetrics {
        inspected_bytes: bytes,
        inspected_traces: 1,
        ..Default::default()
    };
    app.searcher.search_answers.set_for(
        "aaa",
        Ok(SearchResponse {
            traces: vec![summary(3, 300, "a"), summary(1, 100, "a")],
            metrics: metrics(10),
        }),
    );
    app.searcher.search_answers.set_for(
        "bbb",
        Ok(SearchResponse {
            traces: vec![
                summary(2, 300, "b"),
                summary(4, 200, "b"),
                summary(5, 50, "b"),
            ],
            metrics: metrics(5),
        }),
    );
    let fed = |uri: &str| {
        Request::get(uri)
            .header("authorization", bearer("sxt_a_fed"))
            .header("x-scope-orgid", "aaa|bbb")
            .body(Body::empty())
            .unwrap()
    };
    let (status, _, body) = send(app.router(), fed("/api/search?q=%7B%7D&limit=4")).await;
    assert_eq!(status, 200, "{}", text(&body));
    let v: Value = serde_json::from_slice(&body).unwrap();
    let ids: Vec<&str> = v["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["traceID"].as_str().unwrap())
        .collect();
    // Newest first; the two at 300 by trace ID ascending; cut at the limit.
    assert_eq!(ids, ["2", "3", "4", "1"]);
    assert_eq!(v["metrics"]["inspectedBytes"], "15");
    assert_eq!(v["metrics"]["inspectedTraces"], 2);
    let asked: Vec<String> = app
        .searcher
        .searches
        .lock()
        .unwrap()
        .iter()
        .map(|(t, r)| format!("{}:{}", t.as_str(), r.limit))
        .collect();
    assert_eq!(asked, ["aaa:4", "bbb:4"]);

    app.searcher.tag_name_answers.set_for(
        "aaa",
        Ok(TagNamesResponse {
            scopes: vec![(TagScope::Span, vec!["a".into(), "c".into()])],
            metrics: metrics(1),
        }),
    );
    app.searcher.tag_name_answers.set_for(
        "bbb",
        Ok(TagNamesResponse {
            scopes: vec![
                (TagScope::Span, vec!["b".into(), "c".into()]),
                (TagScope::Resource, vec!["c".into(), "r".into()]),
            ],
            metrics: metrics(2),
        }),
    );
    let (_, _, body) = send(app.router(), fed("/api/search/tags")).await;
    assert_eq!(
        text(&body),
        r#"{"tagNames":["a","b","c","r"],"metrics":{"inspectedBytes":"3"}}"#
    );
    let (_, _, body) = send(app.router(), fed("/api/v2/search/tags")).await;
    assert_eq!(
        text(&body),
        r#"{"scopes":[{"name":"resource","tags":["c","r"]},{"name":"span","tags":["a","b","c"]}],"metrics":{"inspectedBytes":"3"}}"#
    );

    let value = |t: TagValueType, v: &str| TagValue {
        value_type: t,
        value: v.into(),
    };
    app.searcher.tag_value_answers.set_for(
        "aaa",
        Ok(TagValuesResponse {
            values: vec![
                value(TagValueType::String, "x"),
                value(TagValueType::Int, "1"),
            ],
            metrics: metrics(1),
        }),
    );
    app.searcher.tag_value_answers.set_for(
        "bbb",
        Ok(TagValuesResponse {
            values: vec![
                value(TagValueType::String, "a"),
                value(TagValueType::String, "x"),
            ],
            metrics: metrics(1),
        }),
    );
    let (_, _, body) = send(app.router(), fed("/api/search/tag/k/values")).await;
    assert_eq!(
        text(&body),
        r#"{"tagValues":["1","a","x"],"metrics":{"inspectedBytes":"2"}}"#
    );
    let (_, _, body) = send(app.router(), fed("/api/v2/search/tag/k/values?limit=2")).await;
    assert_eq!(
        text(&body),
        r#"{"tagValues":[{"type":"string","value":"a"},{"type":"string","value":"x"}],"metrics":{"inspectedBytes":"2"}}"#
    );

    // One tenant failing fails the whole request.
    app.searcher
        .search_answers
        .set_for("bbb", Err(Error::new(ErrorKind::QueryLimit, "too much")));
    let (status, _, body) = send(app.router(), fed("/api/search?q=%7B%7D")).await;
    assert_eq!(status, 422);
    assert_eq!(text(&body), "too much");
}

#[test]
fn one_trace_in_two_tenants_is_combined() {
    let mut a = summary(1, 100, "<root span not yet received>");
    a.root_trace_name = String::new();
    a.duration_nanos = 50;
    a.service_stats.insert(
        "x".into(),
        ServiceStats {
            span_count: 1,
            error_count: 1,
        },
    );
    let mut b = summary(1, 120, "api");
    b.duration_nanos = 100;
    b.service_stats.insert(
        "x".into(),
        ServiceStats {
            span_count: 2,
            error_count: 0,
        },
    );
    b.span_sets = vec![SpanSet::default()];
    let merged = crate::search::merge_search(
        vec![
            SearchResponse {
                traces: vec![a],
                metrics: SearchMetrics::default(),
            },
            SearchResponse {
                traces: vec![b],
                metrics: SearchMetrics::default(),
            },
        ],
        20,
    );
    assert_eq!(merged.traces.len(), 1);
    let t = &merged.traces[0];
    assert_eq!((t.start_time_unix_nano, t.duration_nanos), (100, 120));
    assert_eq!(
        (t.root_service_name.as_str(), t.root_trace_name.as_str()),
        ("api", "op1")
    );
    assert_eq!(t.span_sets.len(), 1);
    assert_eq!(
        t.service_stats["x"],
        ServiceStats {
            span_count: 3,
            error_count: 1
        }
    );
}
