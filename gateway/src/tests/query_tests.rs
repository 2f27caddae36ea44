//! Tempo query API at the edge: echo, build info, trace by ID (v1/v2, JSON/protobuf), errors.

use super::*;

#[tokio::test]
async fn echo_and_buildinfo() {
    let app = app();
    let (status, headers, body) = send(app.router(), get("/api/echo")).await;
    assert_eq!(status, 200);
    assert_eq!(body.as_ref(), b"echo");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let (status, _, body) = send(app.router(), get("/api/status/buildinfo")).await;
    assert_eq!(status, 200);
    insta::assert_snapshot!(String::from_utf8(body.to_vec()).unwrap());
}

#[tokio::test]
async fn trace_by_id_bad_parameters() {
    let app = app();
    for (uri, expected) in [
        ("/api/traces/xyz", 400),
        ("/api/v2/traces/0102030405060708090a0b0c0d0e0f1011", 400),
        ("/api/traces/ff?start=20&end=10", 400),
        ("/api/v2/traces/ff?start=10&end=10", 400),
        ("/api/traces/ff?start=abc&end=10", 400),
        ("/api/traces/ff", 404),
        ("/api/v2/traces/ff", 404),
    ] {
        let (status, headers, body) = send(app.router(), get(uri)).await;
        assert_eq!(status.as_u16(), expected, "{uri}");
        if expected == 400 {
            assert!(
                headers["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/plain")
            );
            assert!(!body.is_empty(), "{uri}");
        } else {
            assert!(body.is_empty(), "{uri}");
        }
    }
    let req = Request::get("/api/traces/ff")
        .header("x-scope-orgid", "x")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(app.router(), req).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("tenant"));
}

#[tokio::test]
async fn trace_by_id_passes_tenant_and_range() {
    let app = app();
    let req = Request::get(format!("/api/traces/{TRACE_HEX}?start=100&end=200"))
        .header("x-scope-orgid", "acme")
        .body(Body::empty())
        .unwrap();
    let (status, _, _) = send(app.router(), req).await;
    assert_eq!(status, 200);
    let seen = app.reader.seen.lock().unwrap().pop().unwrap();
    assert_eq!(seen.0.as_str(), "acme");
    assert_eq!(seen.1, Some(TimeRange::from_unix_seconds(100, 200)));
}

#[tokio::test]
async fn trace_by_id_json() {
    let app = app();
    let (status, headers, v1) = send(app.router(), get(&format!("/api/traces/{TRACE_HEX}"))).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    insta::assert_snapshot!("trace_v1_json", String::from_utf8(v1.to_vec()).unwrap());
    let req = Request::get(format!("/api/v2/traces/{}", TRACE_HEX.to_uppercase()))
        .header("accept", "application/json")
        .body(Body::empty())
        .unwrap();
    let (status, _, v2) = send(app.router(), req).await;
    assert_eq!(status, 200);
    insta::assert_snapshot!("trace_v2_json", String::from_utf8(v2.to_vec()).unwrap());
}

#[tokio::test]
async fn trace_by_id_protobuf() {
    let app = app();
    let accept = |uri: String| {
        Request::get(uri)
            .header("accept", "application/protobuf")
            .body(Body::empty())
            .unwrap()
    };
    let (status, headers, v1) =
        send(app.router(), accept(format!("/api/traces/{TRACE_HEX}"))).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/protobuf");
    assert_eq!(TracesData::decode(v1).unwrap(), sample_trace());

    let (status, _, v2) = send(app.router(), accept(format!("/api/v2/traces/{TRACE_HEX}"))).await;
    assert_eq!(status, 200);
    let resp = crate::tempopb::TraceByIdResponse::decode(v2.clone()).unwrap();
    assert_eq!(
        resp.trace.unwrap().resource_spans,
        sample_trace().resource_spans
    );
    assert_eq!(resp.metrics.unwrap().inspected_bytes, 1234);
    // Hand-checked layout: field 1 (trace) = the TracesData bytes, then field 2 (metrics) =
    // { field 1 varint 1234 = 0xd2 0x09 }, status COMPLETE omitted.
    let inner = sample_trace().encode_to_vec();
    let mut expected = vec![0x0a];
    prost::encoding::encode_varint(inner.len() as u64, &mut expected);
    expected.extend(&inner);
    expected.extend([0x12, 0x03, 0x08, 0xd2, 0x09]);
    assert_eq!(v2.as_ref(), expected.as_slice());
}

#[test]
fn v2_protobuf_always_carries_the_trace_field() {
    let bytes = crate::query::v2_protobuf(TraceLookup {
        trace: TracesData::default(),
        inspected_bytes: 5,
    });
    assert_eq!(bytes, vec![0x0a, 0x00, 0x12, 0x02, 0x08, 0x05]);
}

#[tokio::test]
async fn query_errors_are_plain_text() {
    let reader = FakeReader {
        error: Some(Error::unavailable(
            "querier down",
            Duration::from_millis(1500),
        )),
        ..Default::default()
    };
    let app = app_with(GatewayConfig::default(), reader);
    let (status, headers, body) = send(app.router(), get("/api/traces/ff")).await;
    assert_eq!(status, 503);
    assert_eq!(headers["retry-after"], "2");
    assert_eq!(body.as_ref(), b"querier down");

    let reader = FakeReader {
        error: Some(Error::internal("secret path /x")),
        ..Default::default()
    };
    let app = app_with(GatewayConfig::default(), reader);
    let (status, _, body) = send(app.router(), get("/api/v2/traces/ff")).await;
    assert_eq!(status, 500);
    assert_eq!(body.as_ref(), b"internal error");
}

#[tokio::test]
async fn metrics_use_route_templates() {
    let mut registry = prometheus_client::registry::Registry::default();
    let mut app = app();
    app.state.metrics = Arc::new(GatewayMetrics::register(&mut registry));
    send(app.router(), get(&format!("/api/traces/{TRACE_HEX}"))).await;
    send(app.router(), get("/nope")).await;
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains(r#"sextant_http_requests_total{route="/api/traces/{id}",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(!text.contains(TRACE_HEX));
}
