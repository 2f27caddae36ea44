use std::path::PathBuf;

use http::{Method, StatusCode};

use super::*;

/// The committed document; `UPDATE_SNAPSHOTS=1` rewrites it.
fn snapshot_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi.json")
}

#[test]
fn the_openapi_document_matches_the_committed_snapshot() {
    let generated = format!(
        "{}\n",
        serde_json::to_string_pretty(&crate::openapi()).unwrap()
    );
    let path = snapshot_path();
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "admin-api/openapi.json differs from the generated document; run \
         `UPDATE_SNAPSHOTS=1 cargo nextest run -p sextant-admin-api openapi` and review the diff"
    );
}

#[tokio::test]
async fn the_document_is_served_without_credentials() {
    let app = TestApp::new().await;
    let a = app
        .send(
            Method::GET,
            "/admin/api/v1/openapi.json",
            Cred::None,
            &[],
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.json["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = a.json["paths"].as_object().unwrap();
    assert!(paths.contains_key("/admin/api/v1/login"));
    assert!(paths.contains_key("/admin/api/v1/tenants/{id}/keys"));
    let schemes = a.json["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["basic"]["scheme"], "basic");
    assert!(a.json["components"]["schemas"]["ErrorBody"].is_object());
    // Login and the document need no credential; everything else does.
    assert_eq!(
        a.json["paths"]["/admin/api/v1/login"]["post"]["security"],
        serde_json::json!([{}])
    );
    assert!(
        a.json["paths"]["/admin/api/v1/tenants/{id}/keys"]["get"]
            .get("security")
            .is_none()
    );
    assert_eq!(
        a.json["security"],
        serde_json::json!([{"bearer": []}, {"basic": []}])
    );
}
