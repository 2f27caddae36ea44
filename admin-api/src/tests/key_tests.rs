use http::{Method, StatusCode, header};
use serde_json::json;

use super::*;

#[tokio::test]
async fn keys_are_created_listed_and_revoked() {
    let app = TestApp::new().await;
    app.create_tenant("acme").await;
    let expires = crate::views::rfc3339(app.clock.now() + Duration::from_secs(86_400));
    let a = app
        .post(
            "/admin/api/v1/tenants/acme/keys",
            json!({"name": "collector", "scopes": ["traces:write"], "expires_at": expires,
                   "read_tenants": []}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.headers[header::CACHE_CONTROL], "no-store");
    let key_id = a.json["key_id"].as_str().unwrap().to_owned();
    assert_eq!(
        a.headers[header::LOCATION],
        format!("/admin/api/v1/tenants/acme/keys/{key_id}").as_str()
    );
    let secret = a.json["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with(&format!("sxt_{key_id}_")));
    assert_eq!(a.json["prefix"], format!("sxt_{key_id}"));
    assert_eq!(a.json["name"], "collector");
    assert_eq!(a.json["scopes"], json!(["traces:write"]));
    assert_eq!(a.json["expires_at"], expires);

    // The key works at the edge once the snapshot has it.
    app.refresh().await;
    let identity = sextant_model::Authenticator::authenticate(&*app.control, &secret).unwrap();
    assert!(matches!(identity, sextant_model::Identity::Key(k) if k.write && !k.read));

    // Listed without the secret (shown once).
    let a = app.get("/admin/api/v1/tenants/acme/keys").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(!a.text.contains(&secret[key_id.len() + 5..]), "{}", a.text);
    let items = a.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert!(items[0].get("secret").is_none());
    assert_eq!(items[0]["revoked_at"], Value::Null);

    let a = app
        .send(
            Method::DELETE,
            &format!("/admin/api/v1/tenants/acme/keys/{key_id}"),
            admin(),
            &[],
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert!(a.json["revoked_at"].is_string());
    app.refresh().await;
    assert!(sextant_model::Authenticator::authenticate(&*app.control, &secret).is_err());
}

#[tokio::test]
async fn another_tenants_key_is_not_found() {
    let app = TestApp::new().await;
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    let a = app
        .post(
            "/admin/api/v1/tenants/globex/keys",
            json!({"name": "g", "scopes": ["traces:read"]}),
        )
        .await;
    let key_id = a.json["key_id"].as_str().unwrap().to_owned();
    for path in [
        format!("/admin/api/v1/tenants/acme/keys/{key_id}"),
        "/admin/api/v1/tenants/acme/keys/aaaaaaaaaaaa".to_owned(),
        "/admin/api/v1/tenants/acme/keys/not-a-key-id".to_owned(),
        format!("/admin/api/v1/tenants/nobody/keys/{key_id}"),
        format!("/admin/api/v1/tenants/NOT%20VALID/keys/{key_id}"),
    ] {
        let a = app.send(Method::DELETE, &path, admin(), &[], None).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}: {}", a.text);
        assert_eq!(a.code(), "not_found");
    }
    // Still valid.
    let a = app.get("/admin/api/v1/tenants/globex/keys").await;
    assert_eq!(a.json["items"][0]["revoked_at"], Value::Null);
    assert_eq!(
        app.get("/admin/api/v1/tenants/nobody/keys").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn key_validation_names_every_field() {
    let app = TestApp::new().await;
    app.create_tenant("acme").await;
    let a = app
        .post(
            "/admin/api/v1/tenants/acme/keys",
            json!({"name": "", "scopes": ["traces:write", "traces:admin"],
                   "expires_at": "2000-01-01T00:00:00Z", "read_tenants": ["ok-one", "NO"],
                   "colour": "red"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text);
    assert_eq!(a.code(), "validation_failed");
    let mut fields = a.fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "colour",
            "expires_at",
            "name",
            "read_tenants[1]",
            "scopes[1]"
        ]
    );

    let a = app
        .post(
            "/admin/api/v1/tenants/acme/keys",
            json!({"name": 3, "scopes": "traces:read"}),
        )
        .await;
    assert_eq!(a.fields(), ["name", "scopes"]);
    let a = app.post("/admin/api/v1/tenants/acme/keys", json!({})).await;
    assert_eq!(a.fields(), ["name", "scopes"]);
    let a = app
        .post(
            "/admin/api/v1/tenants/acme/keys",
            json!({"name": "x", "scopes": []}),
        )
        .await;
    assert_eq!(a.fields(), ["scopes"]);
    // Not JSON at all.
    let a = app
        .send(
            Method::POST,
            "/admin/api/v1/tenants/acme/keys",
            admin(),
            &[],
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}
