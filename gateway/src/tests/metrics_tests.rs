//! Tempo's TraceQL metrics routes at the edge: the request the port sees, bad parameters, the
//! duration limit, `a|b` concatenation, port errors and the JSON shapes (snapshots).

use sextant_model::{Exemplar, Limits, MetricSeries, MetricsRequest, MetricsResponse, Sample};

use super::search_tests::{kv, text};
use super::*;

const NS: u64 = 1_000_000_000;

fn get_as(uri: &str, tenant: &str) -> Request<Body> {
    Request::get(uri)
        .header("x-scope-orgid", tenant)
        .body(Body::empty())
        .unwrap()
}

/// A range answer with every kind of label, a zero sample, exemplars and a partial status.
pub(super) fn full_metrics_answer() -> MetricsResponse {
    let trace_label = |hex: &str| kv("trace:id", any_value::Value::StringValue(hex.into()));
    MetricsResponse {
        series: vec![
            MetricSeries {
                labels: vec![
                    kv(
                        "resource.service.name",
                        any_value::Value::StringValue("api".into()),
                    ),
                    kv("span.http.status_code", any_value::Value::IntValue(500)),
                    kv("p", any_value::Value::DoubleValue(0.9)),
                    kv("span.cached", any_value::Value::BoolValue(true)),
                    KeyValue {
                        key: "span.missing".into(),
                        value: None,
                    },
                ],
                samples: vec![
                    Sample {
                        timestamp_ms: 1_700_000_000_000,
                        value: 2.5,
                    },
                    Sample {
                        timestamp_ms: 1_700_000_030_000,
                        value: 0.0,
                    },
                ],
                exemplars: vec![Exemplar {
                    labels: vec![
                        trace_label("0102030405060708090a0b0c0d0e0f10"),
                        kv(
                            "span:id",
                            any_value::Value::StringValue("aaaaaaaaaaaaaaaa".into()),
                        ),
                    ],
                    value: 0.12,
                    timestamp_ms: 1_700_000_012_345,
                }],
            },
            MetricSeries {
                labels: vec![kv("__name__", any_value::Value::StringValue("rate".into()))],
                samples: vec![Sample {
                    timestamp_ms: 1_700_000_030_000,
                    value: 1e-9,
                }],
                exemplars: vec![],
            },
        ],
        metrics: sextant_model::SearchMetrics {
            inspected_traces: 3,
            inspected_bytes: 12_345,
            inspected_spans: 40,
            total_blocks: 2,
            total_block_bytes: 99_999,
            completed_jobs: 3,
            total_jobs: 3,
            backend_reads: 7,
            backend_bytes: 8,
        },
        partial: true,
        message: "series limit of 2 reached".into(),
    }
}

#[tokio::test]
async fn parameters_become_the_request_the_port_sees() {
    let app = app();
    let now = START_UNIX * NS;
    let cases: Vec<(&str, MetricsRequest)> = vec![
        (
            "/api/metrics/query_range?q=%7B%7D%20%7C%20rate()&start=1700000000&end=1700003600&step=30s",
            MetricsRequest {
                query: "{} | rate()".into(),
                start: 1_700_000_000 * NS,
                end: 1_700_003_600 * NS,
                step: 30 * NS,
                instant: false,
                exemplars: 100,
                max_series: 0,
            },
        ),
        (
            "/api/metrics/query_range?query=x&exemplars=3&maxSeries=10&step=0.5&instant=false",
            MetricsRequest {
                query: "x".into(),
                start: now - 3600 * NS,
                end: now,
                step: NS / 2,
                instant: false,
                exemplars: 3,
                max_series: 10,
            },
        ),
        (
            "/api/metrics/query_range?q=x&since=30m&instant=true",
            MetricsRequest {
                query: "x".into(),
                start: now - 1800 * NS,
                end: now,
                step: 0,
                instant: true,
                exemplars: 100,
                max_series: 0,
            },
        ),
        (
            "/api/metrics/query?q=x&start=2023-11-14T22:13:20Z&end=1700000060000000000",
            MetricsRequest {
                query: "x".into(),
                start: 1_700_000_000 * NS,
                end: 1_700_000_060 * NS,
                step: 0,
                instant: true,
                exemplars: 100,
                max_series: 0,
            },
        ),
    ];
    for (uri, expected) in cases {
        let (status, headers, body) = send(app.router(), get_as(uri, "acme")).await;
        assert_eq!(status, 200, "{uri}: {}", text(&body));
        assert_eq!(headers["content-type"], "application/json");
        let (tenant, seen) = app.metrics_querier.requests.lock().unwrap().pop().unwrap();
        assert_eq!(tenant.as_str(), "acme");
        assert_eq!(seen, expected, "{uri}");
    }
}

#[tokio::test]
async fn bad_parameters_are_plain_text_400s() {
    let app = app();
    for (uri, needle) in [
        ("/api/metrics/query_range", "missing required parameter q"),
        (
            "/api/metrics/query?start=1&end=2",
            "missing required parameter q",
        ),
        ("/api/metrics/query_range?q=x&start=abc", "invalid start"),
        ("/api/metrics/query_range?q=x&end=2024-99-01", "invalid end"),
        (
            "/api/metrics/query_range?q=x&start=20&end=10",
            "must be after",
        ),
        ("/api/metrics/query_range?q=x&step=0", "invalid step"),
        ("/api/metrics/query_range?q=x&step=-3", "invalid step"),
        ("/api/metrics/query_range?q=x&since=never", "invalid since"),
        (
            "/api/metrics/query_range?q=x&maxSeries=-1",
            "invalid maxSeries",
        ),
        (
            "/api/metrics/query_range?q=x&start=1600000000&end=1600086401",
            "metrics query time range exceeds the maximum allowed duration of 24h0m0s",
        ),
    ] {
        let (status, headers, body) = send(app.router(), get_as(uri, "acme")).await;
        assert_eq!(status, 400, "{uri}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        assert!(text(&body).contains(needle), "{uri}: {}", text(&body));
    }
    assert!(app.metrics_querier.requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_smallest_tenant_duration_limit_applies_to_a_federated_query() {
    let app = app();
    app.tenants.set(
        "bbb",
        Limits {
            max_metrics_duration: Duration::from_secs(3600),
            ..Limits::default()
        },
    );
    let uri = "/api/metrics/query_range?q=x&start=1600000000&end=1600007200";
    let (status, _, _) = send(app.router(), get_as(uri, "aaa")).await;
    assert_eq!(status, 200);
    let (status, _, body) = send(app.router(), get_as(uri, "aaa|bbb")).await;
    assert_eq!(status, 400);
    assert_eq!(
        text(&body),
        "metrics query time range exceeds the maximum allowed duration of 1h0m0s"
    );
}

#[tokio::test]
async fn federated_series_are_concatenated_and_metrics_summed() {
    let app = app();
    let one = |service: &str, partial: bool| MetricsResponse {
        series: vec![MetricSeries {
            labels: vec![kv(
                "resource.service.name",
                any_value::Value::StringValue(service.into()),
            )],
            samples: vec![Sample {
                timestamp_ms: 1000,
                value: 1.0,
            }],
            exemplars: vec![],
        }],
        metrics: sextant_model::SearchMetrics {
            inspected_spans: 5,
            completed_jobs: 1,
            total_jobs: 1,
            ..Default::default()
        },
        partial,
        message: if partial { "cut".into() } else { String::new() },
    };
    app.metrics_querier
        .answers
        .set_for("aaa", Ok(one("a", false)));
    app.metrics_querier
        .answers
        .set_for("bbb", Ok(one("b", true)));
    let uri = "/api/metrics/query_range?q=x";
    let (status, _, body) = send(app.router(), get_as(uri, "aaa|bbb")).await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let services: Vec<&str> = v["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["labels"][0]["value"]["stringValue"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["a", "b"]);
    assert_eq!(v["metrics"]["inspectedSpans"], "10");
    assert_eq!(v["metrics"]["totalJobs"], 2);
    assert_eq!(v["status"], "PARTIAL");
    assert_eq!(v["message"], "cut");
    let tenants: Vec<String> = app
        .metrics_querier
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|(t, _)| t.as_str().to_owned())
        .collect();
    assert_eq!(tenants, ["aaa", "bbb"]);
}

#[tokio::test]
async fn port_errors_are_mapped() {
    for (err, status) in [
        (Error::bad_request("parse error at 1:5"), 400),
        (Error::new(ErrorKind::QueryLimit, "byte budget spent"), 422),
        (Error::internal("disk on fire"), 500),
    ] {
        let app = app();
        app.metrics_querier.answers.set(Err(err.clone()));
        let (got, _, body) =
            send(app.router(), get_as("/api/metrics/query_range?q=x", "acme")).await;
        assert_eq!(got.as_u16(), status, "{err:?}");
        let expected = if status == 500 {
            "internal error"
        } else {
            err.message.as_str()
        };
        assert_eq!(text(&body), expected);
    }
}

#[tokio::test]
async fn metrics_json_shapes() {
    let app = app();
    app.metrics_querier.answers.set(Ok(full_metrics_answer()));
    for (name, uri) in [
        ("metrics_query_range_json", "/api/metrics/query_range?q=x"),
        ("metrics_query_instant_json", "/api/metrics/query?q=x"),
    ] {
        let (status, _, body) = send(app.router(), get_as(uri, "acme")).await;
        assert_eq!(status, 200);
        serde_json::from_slice::<serde_json::Value>(&body).unwrap();
        insta::assert_snapshot!(name, text(&body));
    }
}

#[tokio::test]
async fn metrics_routes_need_the_read_scope() {
    let app = app_full(
        AuthMode::Keys,
        super::auth_tests::fake_auth(),
        GatewayConfig::default(),
        FakeReader::default(),
    );
    for (secret, status) in [
        (None, 401),
        (Some("sxt_a_write"), 403),
        (Some("sxt_a_read"), 200),
    ] {
        for path in ["/api/metrics/query_range?q=x", "/api/metrics/query?q=x"] {
            let mut req = Request::get(path);
            if let Some(secret) = secret {
                req = req.header("authorization", format!("Bearer {secret}"));
            }
            let (got, _, _) = send(app.router(), req.body(Body::empty()).unwrap()).await;
            assert_eq!(got.as_u16(), status, "{secret:?} {path}");
        }
    }
}
