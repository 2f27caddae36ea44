use http::{Method, StatusCode};
use serde_json::json;
use sextant_tenancy::TenantStore;

use super::*;

const GEN: &str = "/admin/api/v1/tenants/acme/metrics-generator";

#[tokio::test]
async fn header_values_are_write_only() {
    let app = TestApp::new().await;
    app.create_tenant("acme").await;
    let a = app.get(GEN).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json["remote_write"], Value::Null);
    let body = json!({
        "processors": ["span-metrics", "service-graphs"],
        "dimensions": ["http.method"],
        "remote_write": {"url": "https://prom.example.com/api/v1/write",
                         "headers": {"Authorization": "Bearer s3cret", "X-Extra": "one"}}
    });
    let a = app.send(Method::PUT, GEN, admin(), &[], Some(body)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert!(!a.text.contains("s3cret"));
    assert_eq!(
        a.json["remote_write"]["headers"],
        json!({"Authorization": null, "X-Extra": null})
    );
    let etag = a.etag();
    let got = app.get(GEN).await;
    assert_eq!(got.json, a.json);
    assert!(!got.text.contains("s3cret"));

    // Round trip of what GET gave, one value replaced, one header dropped, one added.
    let mut body = got.json.clone();
    body["remote_write"]["headers"] = json!({"Authorization": null, "X-New": "two"});
    let a = app
        .send(
            Method::PUT,
            GEN,
            admin(),
            &[("if-match", &etag)],
            Some(body),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let stored = app.db.get_tenant(&tid("acme")).await.unwrap().unwrap();
    let headers = &stored.generator.remote_write.unwrap().headers;
    assert_eq!(
        headers.get("Authorization").map(String::as_str),
        Some("Bearer s3cret")
    );
    assert_eq!(headers.get("X-New").map(String::as_str), Some("two"));
    assert!(!headers.contains_key("X-Extra"));

    // A stale If-Match is refused; null for a header never stored is named.
    let a = app
        .send(
            Method::PUT,
            GEN,
            admin(),
            &[("if-match", &etag)],
            Some(json!({})),
        )
        .await;
    assert_eq!(a.status, StatusCode::PRECONDITION_FAILED);
    let a = app
        .send(
            Method::PUT,
            GEN,
            admin(),
            &[],
            Some(
                json!({"remote_write": {"url": "https://x/w", "headers": {"Nope": null}},
                        "processors": ["nope"], "max_active_series": "lots", "extra": true}),
            ),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text);
    let mut fields = a.fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "extra",
            "max_active_series",
            "processors",
            "remote_write.headers.Nope"
        ]
    );
}

#[tokio::test]
async fn semantic_generator_errors_are_named() {
    let app = TestApp::new().await;
    app.create_tenant("acme").await;
    let a = app
        .send(
            Method::PUT,
            GEN,
            admin(),
            &[],
            Some(json!({"histogram_buckets": [1.0, 0.5], "remote_write": {"url": "ftp://x"}})),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text);
    let fields = a.fields();
    assert!(
        fields.iter().any(|f| f.starts_with("histogram_buckets")),
        "{fields:?}"
    );
    assert!(fields.iter().any(|f| f == "remote_write.url"), "{fields:?}");
}
