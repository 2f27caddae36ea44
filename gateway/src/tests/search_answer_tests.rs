//! Answers of Tempo's search and tag routes: the JSON shapes Grafana decodes (snapshots, and
//! 64-bit integers as strings, 32-bit as numbers), `a|b` merging, and port errors.

use std::collections::BTreeMap;

use serde_json::Value;
use sextant_model::otlp::ArrayValue;
use sextant_model::{
    SearchMetrics, ServiceStats, SpanSet, SpanSummary, TagScope, TagValue, TagValueType,
    TraceSummary,
};

use super::auth_tests::bearer;
use super::search_tests::{keyed, kv, text};
use super::*;

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
