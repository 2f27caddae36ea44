//! Per-tenant limits at the edge: the ingest token bucket on decompressed bytes, batches over
//! the burst, daily and monthly quotas, the query rate, and usage metering. Time is the app's
//! manual clock.

use sextant_model::{Discard, DiscardReason};

use super::*;

fn limits(rate: u64, burst: u64) -> Limits {
    Limits {
        ingestion_rate_bytes: rate,
        ingestion_burst_bytes: burst,
        ..Default::default()
    }
}

fn push(len: usize, tenant: &str) -> Request<Body> {
    Request::post("/v1/traces")
        .header("content-type", "application/x-protobuf")
        .header("x-scope-orgid", tenant)
        .body(Body::from(vec![0u8; len]))
        .unwrap()
}

fn recorded(app: &App) -> Vec<(String, UsageDelta)> {
    app.usage
        .recorded
        .lock()
        .unwrap()
        .drain(..)
        .map(|(t, _, d)| (t.to_string(), d))
        .collect()
}

fn refused_delta(reason: DiscardReason, bytes: u64) -> UsageDelta {
    UsageDelta {
        discarded: vec![Discard {
            reason,
            spans: 0,
            bytes,
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn the_bucket_admits_the_rate_in_decompressed_bytes() {
    let app = app();
    app.tenants.set("aaa", limits(1000, 2000));
    // 2000 zeros gzip to a few dozen bytes; the bucket counts the 2000.
    let req = Request::post("/v1/traces")
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .header("x-scope-orgid", "aaa")
        .body(Body::from(gzip(&[0; 2000])))
        .unwrap();
    assert_eq!(send(app.router(), req).await.0, 200);
    let (status, headers, body) = send(app.router(), push(1, "aaa")).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "1");
    let rpc = RpcStatus::decode(body).unwrap();
    assert_eq!(rpc.code, tonic::Code::ResourceExhausted as i32);
    assert!(rpc.message.contains("rate limit"), "{rpc:?}");
    // Another tenant has its own bucket.
    assert_eq!(send(app.router(), push(2000, "bbb")).await.0, 200);
    // Half a second refills 500 bytes: 501 wait, 500 pass.
    app.clock.advance(Duration::from_millis(500));
    assert_eq!(send(app.router(), push(501, "aaa")).await.0, 429);
    assert_eq!(send(app.router(), push(500, "aaa")).await.0, 200);
    // Empty: 1500 bytes need 1.5 s, announced as 2.
    let (status, headers, _) = send(app.router(), push(1500, "aaa")).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "2");
    app.clock.advance(Duration::from_millis(1500));
    assert_eq!(send(app.router(), push(1500, "aaa")).await.0, 200);

    let pushed: Vec<usize> = app
        .sink
        .pushes
        .lock()
        .unwrap()
        .iter()
        .map(|(_, p)| p.body.len())
        .collect();
    assert_eq!(pushed, [2000, 2000, 500, 1500]);
    let deltas = recorded(&app);
    let refused: Vec<&UsageDelta> = deltas
        .iter()
        .filter(|(_, d)| !d.discarded.is_empty())
        .map(|(_, d)| d)
        .collect();
    assert_eq!(
        refused,
        [
            &refused_delta(DiscardReason::RateLimited, 1),
            &refused_delta(DiscardReason::RateLimited, 501),
            &refused_delta(DiscardReason::RateLimited, 1500),
        ]
    );
}

#[tokio::test]
async fn a_limit_change_takes_effect_on_the_next_request() {
    let app = app();
    app.tenants.set("aaa", limits(10, 10));
    assert_eq!(send(app.router(), push(10, "aaa")).await.0, 200);
    assert_eq!(send(app.router(), push(10, "aaa")).await.0, 429);
    app.tenants.set("aaa", limits(100, 100));
    assert_eq!(send(app.router(), push(100, "aaa")).await.0, 200);
}

#[tokio::test]
async fn a_batch_over_the_burst_is_413_without_retry_hint() {
    let app = app();
    app.tenants.set("aaa", limits(1000, 2000));
    for ct in ["application/x-protobuf", "application/json"] {
        let req = Request::post("/v1/traces")
            .header("content-type", ct)
            .header("x-scope-orgid", "aaa")
            .body(Body::from(vec![b' '; 2001]))
            .unwrap();
        let (status, headers, body) = send(app.router(), req).await;
        assert_eq!(status, 413);
        assert!(!headers.contains_key("retry-after"));
        if ct == "application/json" {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["code"], tonic::Code::InvalidArgument as i32);
            assert!(v["message"].as_str().unwrap().contains("burst"), "{v}");
            assert!(v.get("details").is_none());
        }
    }
    // The bucket was not touched: a full burst still passes.
    assert_eq!(send(app.router(), push(2000, "aaa")).await.0, 200);
    assert!(app.sink.pushes.lock().unwrap().len() == 1);
}

#[tokio::test]
async fn quotas_refuse_until_the_utc_reset() {
    let app = app();
    app.tenants.set(
        "aaa",
        Limits {
            daily_ingest_bytes: 1000,
            monthly_ingest_bytes: 10_000,
            ..Default::default()
        },
    );
    let set_usage = |day, month| {
        app.usage.usage.lock().unwrap().insert(
            tid("aaa"),
            PeriodUsage {
                day_bytes: day,
                month_bytes: month,
            },
        );
    };
    // Under the quota, a batch that crosses it is still accepted.
    set_usage(999, 999);
    assert_eq!(send(app.router(), push(500, "aaa")).await.0, 200);
    // At the daily quota: refused until 00:00 UTC (the clock is at 12:00).
    set_usage(1000, 1000);
    let (status, headers, body) = send(app.router(), push(10, "aaa")).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], (12 * 3600).to_string().as_str());
    let rpc = RpcStatus::decode(body).unwrap();
    assert_eq!(rpc.code, tonic::Code::ResourceExhausted as i32);
    assert!(rpc.details.is_empty(), "{rpc:?}");
    assert!(rpc.message.contains("daily"), "{rpc:?}");
    // The monthly quota: until 2024-03-01T00:00Z.
    set_usage(0, 10_000);
    let (status, headers, _) = send(app.router(), push(10, "aaa")).await;
    assert_eq!(status, 429);
    assert_eq!(
        headers["retry-after"],
        (1_709_251_200 - START_UNIX).to_string().as_str()
    );
    assert_eq!(app.sink.pushes.lock().unwrap().len(), 1);
    let deltas = recorded(&app);
    assert_eq!(
        deltas.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>(),
        [
            UsageDelta {
                accepted_bytes: 500,
                ..Default::default()
            },
            refused_delta(DiscardReason::QuotaExceeded, 10),
            refused_delta(DiscardReason::QuotaExceeded, 10),
        ]
    );
}

#[tokio::test]
async fn usage_counts_accepted_bytes_spans_and_discards() {
    let app = app();
    app.set_answer(Ok(PushOutcome {
        accepted_spans: 3,
        rejected_spans: 2,
        message: "invalid span id".into(),
        discarded: vec![(DiscardReason::InvalidSpanId, 2)],
    }));
    assert_eq!(send(app.router(), push(40, "aaa")).await.0, 200);
    app.set_answer(Err(Error::unavailable("wal full", Duration::from_secs(1))));
    assert_eq!(send(app.router(), push(30, "aaa")).await.0, 503);
    app.set_answer(Err(Error::bad_request("undecodable")));
    assert_eq!(send(app.router(), push(20, "aaa")).await.0, 400);
    let recorded: Vec<(TenantId, SystemTime, UsageDelta)> =
        app.usage.recorded.lock().unwrap().drain(..).collect();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(START_UNIX);
    assert_eq!(
        recorded,
        [
            (
                tid("aaa"),
                now,
                UsageDelta {
                    accepted_bytes: 40,
                    accepted_spans: 3,
                    queries: 0,
                    discarded: vec![Discard {
                        reason: DiscardReason::InvalidSpanId,
                        spans: 2,
                        bytes: 0,
                    }],
                }
            ),
            (
                tid("aaa"),
                now,
                refused_delta(DiscardReason::Unavailable, 30)
            ),
        ]
    );
}

#[tokio::test]
async fn query_rate_limits_reads_per_tenant() {
    let app = app();
    app.tenants.set(
        "aaa",
        Limits {
            query_rate: 2,
            ..Default::default()
        },
    );
    let read = |org: &str| {
        Request::get(format!("/api/traces/{TRACE_HEX}"))
            .header("x-scope-orgid", org)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(send(app.router(), read("aaa")).await.0, 200);
    assert_eq!(send(app.router(), read("aaa")).await.0, 200);
    let (status, headers, body) = send(app.router(), read("aaa")).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "1");
    assert!(String::from_utf8_lossy(&body).contains("query rate"));
    // Another tenant, and a tenant without a query rate, are not limited.
    for _ in 0..5 {
        assert_eq!(send(app.router(), read("bbb")).await.0, 200);
    }
    // A federated read is charged to every tenant named.
    assert_eq!(send(app.router(), read("bbb|aaa")).await.0, 429);
    // One request every 500 ms.
    app.clock.advance(Duration::from_millis(500));
    assert_eq!(send(app.router(), read("aaa")).await.0, 200);
    assert_eq!(send(app.router(), read("aaa")).await.0, 429);
    // Writes are not queries.
    assert_eq!(send(app.router(), push(10, "aaa")).await.0, 200);
    // Echo and build info are never limited.
    assert_eq!(send(app.router(), get("/api/echo")).await.0, 200);
}

#[tokio::test]
async fn refusals_are_counted_per_tenant_and_reason() {
    let mut registry = prometheus_client::registry::Registry::default();
    let mut app = app();
    app.state.metrics = Arc::new(GatewayMetrics::register(&mut registry));
    app.tenants.set(
        "aaa",
        Limits {
            ingestion_rate_bytes: 100,
            ingestion_burst_bytes: 100,
            query_rate: 1,
            ..Default::default()
        },
    );
    assert_eq!(send(app.router(), push(100, "aaa")).await.0, 200);
    assert_eq!(send(app.router(), push(60, "aaa")).await.0, 429);
    assert_eq!(send(app.router(), push(101, "aaa")).await.0, 413);
    let read = Request::get(format!("/api/traces/{TRACE_HEX}"))
        .header("x-scope-orgid", "aaa")
        .body(Body::empty())
        .unwrap();
    send(app.router(), read).await;
    let read = Request::get(format!("/api/traces/{TRACE_HEX}"))
        .header("x-scope-orgid", "aaa")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(app.router(), read).await.0, 429);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for line in [
        r#"sextant_gateway_refused_requests_total{tenant="aaa",reason="rate_limited"} 1"#,
        r#"sextant_gateway_refused_bytes_total{tenant="aaa",reason="rate_limited"} 60"#,
        r#"sextant_gateway_refused_requests_total{tenant="aaa",reason="batch_too_large"} 1"#,
        r#"sextant_gateway_refused_bytes_total{tenant="aaa",reason="batch_too_large"} 101"#,
        r#"sextant_gateway_refused_requests_total{tenant="aaa",reason="query_rate_limited"} 1"#,
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
}
