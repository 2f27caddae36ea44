use http::{Method, StatusCode};
use serde_json::json;

use super::*;

const LIMITS: &str = "/admin/api/v1/tenants/acme/limits";

#[tokio::test]
async fn limits_need_if_match_and_merge_patch_removes_with_null() {
    let app = TestApp::new().await;
    app.create_tenant("acme").await;
    let a = app.get(LIMITS).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json["overrides"], json!({}));
    assert_eq!(a.json["defaults"]["block_retention"], "336h");
    assert_eq!(a.json["effective"], a.json["defaults"]);
    let etag = a.etag();

    // No If-Match: 428; a stale one: 412.
    let body = json!({"block_retention": "24h", "query_rate": 5});
    let a = app
        .send(Method::PUT, LIMITS, admin(), &[], Some(body.clone()))
        .await;
    assert_eq!(a.status, StatusCode::PRECONDITION_REQUIRED, "{}", a.text);
    assert_eq!(a.code(), "precondition_required");
    let a = app
        .send(
            Method::PUT,
            LIMITS,
            admin(),
            &[("if-match", "\"12345\"")],
            Some(body.clone()),
        )
        .await;
    assert_eq!(a.status, StatusCode::PRECONDITION_FAILED, "{}", a.text);

    let a = app
        .send(
            Method::PUT,
            LIMITS,
            admin(),
            &[("if-match", &etag)],
            Some(body),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        a.json["overrides"],
        json!({"block_retention": "24h", "query_rate": 5})
    );
    assert_eq!(a.json["effective"]["block_retention"], "24h");
    assert_eq!(a.json["effective"]["ingestion_rate_bytes"], 15_000_000);
    let etag2 = a.etag();
    assert_ne!(etag2, etag);
    assert_eq!(app.get(LIMITS).await.etag(), etag2);

    // The old ETag is stale now.
    let a = app
        .send(
            Method::PATCH,
            LIMITS,
            admin(),
            &[("if-match", &etag)],
            Some(json!({"query_rate": 1})),
        )
        .await;
    assert_eq!(a.status, StatusCode::PRECONDITION_FAILED);

    // Merge patch: null removes, others merge.
    let a = app
        .send(
            Method::PATCH,
            LIMITS,
            admin(),
            &[
                ("if-match", &etag2),
                ("content-type", "application/merge-patch+json"),
            ],
            Some(json!({"query_rate": null, "max_attribute_bytes": 100})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        a.json["overrides"],
        json!({"block_retention": "24h", "max_attribute_bytes": 100})
    );
    assert_eq!(a.json["effective"]["query_rate"], 0);

    // The control plane serves the new limits after its refresh.
    app.refresh().await;
    let limits = sextant_model::TenantDirectory::limits(&*app.control, &tid("acme"));
    assert_eq!(limits.max_attribute_bytes, 100);
    assert_eq!(limits.block_retention, Duration::from_secs(86_400));
}

#[tokio::test]
async fn limit_validation_names_every_bad_field() {
    let app = TestApp::new().await;
    app.create_tenant("acme").await;
    let etag = app.get(LIMITS).await.etag();
    let a = app
        .send(
            Method::PUT,
            LIMITS,
            admin(),
            &[("if-match", &etag)],
            Some(json!({
                "block_retention": "forever",
                "max_traces_per_tenant": "many",
                "max_bytes_per_trace": 0,
                "search_timeout": "0s",
                "bogus": 1,
            })),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text);
    assert_eq!(a.code(), "validation_failed");
    let mut fields = a.fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "block_retention",
            "bogus",
            "max_bytes_per_trace",
            "max_traces_per_tenant",
            "search_timeout"
        ]
    );
    // Burst below the effective rate.
    let a = app
        .send(
            Method::PATCH,
            LIMITS,
            admin(),
            &[("if-match", &etag)],
            Some(json!({"ingestion_burst_bytes": 10})),
        )
        .await;
    assert_eq!(a.fields(), ["ingestion_burst_bytes"]);
    // Nothing changed.
    assert_eq!(app.get(LIMITS).await.etag(), etag);
}
