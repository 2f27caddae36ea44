use http::{StatusCode, header};

use super::*;

#[tokio::test]
async fn provisioning_yaml_has_the_tempo_and_prometheus_datasources() {
    let app = TestApp::new().await;
    app.create_tenant("acme").await;
    let a = app
        .get("/admin/api/v1/tenants/acme/grafana-datasources")
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.headers[header::CONTENT_TYPE], "application/yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&a.text).unwrap();
    assert_eq!(doc["apiVersion"].as_i64(), Some(1));
    let ds = doc["datasources"].as_sequence().unwrap();
    assert_eq!(ds.len(), 2);
    let tempo = &ds[0];
    assert_eq!(tempo["type"].as_str(), Some("tempo"));
    assert_eq!(tempo["url"].as_str(), Some("https://traces.example.com"));
    assert_eq!(tempo["basicAuth"].as_bool(), Some(true));
    assert_eq!(tempo["basicAuthUser"].as_str(), Some("acme"));
    assert_eq!(
        tempo["secureJsonData"]["basicAuthPassword"].as_str(),
        Some("$SEXTANT_READ_KEY")
    );
    let prom = &ds[1];
    assert_eq!(prom["type"].as_str(), Some("prometheus"));
    assert_eq!(
        prom["url"].as_str(),
        Some("https://prom.example.com/acme/prometheus")
    );
    let uid = prom["uid"].as_str().unwrap();
    let jd = &tempo["jsonData"];
    assert_eq!(jd["serviceMap"]["datasourceUid"].as_str(), Some(uid));
    assert_eq!(jd["tracesToMetrics"]["datasourceUid"].as_str(), Some(uid));
    assert_eq!(jd["nodeGraph"]["enabled"].as_bool(), Some(true));
    assert_eq!(jd["streamingEnabled"]["search"].as_bool(), Some(true));
    assert_eq!(jd["streamingEnabled"]["metrics"].as_bool(), Some(true));
    // Grafana would expand `$__tags`: it is written `$$__tags`.
    let query = jd["tracesToMetrics"]["queries"][0]["query"]
        .as_str()
        .unwrap();
    assert!(query.contains("{$$__tags}"), "{query}");
    assert_eq!(
        app.get("/admin/api/v1/tenants/nobody/grafana-datasources")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_minted_key_is_read_only_and_works() {
    let app = TestApp::new().await;
    app.create_tenant("acme").await;
    let a = app
        .get("/admin/api/v1/tenants/acme/grafana-datasources?mint_key=true")
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.headers[header::CACHE_CONTROL], "no-store");
    let doc: serde_yaml::Value = serde_yaml::from_str(&a.text).unwrap();
    let secret = doc["datasources"][0]["secureJsonData"]["basicAuthPassword"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("sxt_"), "{secret}");
    app.refresh().await;
    let identity = sextant_model::Authenticator::authenticate(&*app.control, &secret).unwrap();
    assert!(matches!(identity, sextant_model::Identity::Key(k) if k.read && !k.write));
    let keys = app.get("/admin/api/v1/tenants/acme/keys").await;
    assert_eq!(
        keys.json["items"][0]["scopes"],
        serde_json::json!(["traces:read"])
    );
}

#[tokio::test]
async fn without_prometheus_there_is_only_tempo() {
    let app = TestApp::with_config(AdminConfig::default()).await;
    let a = app
        .get("/admin/api/v1/tenants/single-tenant/grafana-datasources")
        .await;
    let doc: serde_yaml::Value = serde_yaml::from_str(&a.text).unwrap();
    let ds = doc["datasources"].as_sequence().unwrap();
    assert_eq!(ds.len(), 1);
    assert!(ds[0]["jsonData"].get("serviceMap").is_none());
    assert_eq!(ds[0]["url"].as_str(), Some("http://127.0.0.1:3200"));
}
