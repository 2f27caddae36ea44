use std::collections::BTreeMap;

use http::{Method, StatusCode};
use serde_json::json;
use sextant_model::DiscardReason;
use sextant_tenancy::{StorageLevel, UsageRow, UsageStore, UtcDay};

use super::*;

#[tokio::test]
async fn usage_per_day_with_totals() {
    let app = TestApp::new().await;
    app.create_tenant("acme").await;
    let today = UtcDay::of(app.clock.now());
    let row = |day: UtcDay, bytes: u64| UsageRow {
        tenant: tid("acme"),
        day,
        accepted_bytes: bytes,
        accepted_spans: bytes / 100,
        discarded: BTreeMap::from([(DiscardReason::RateLimited, (3, 300))]),
        queries: 2,
        stored_bytes: 0,
        stored_blocks: 0,
    };
    let old = UtcDay(today.0 - 40);
    app.db
        .add_usage(&[row(today, 1000), row(UtcDay(today.0 - 1), 500), row(old, 7)])
        .await
        .unwrap();
    app.db
        .record_storage(&[StorageLevel {
            tenant: tid("acme"),
            day: today,
            bytes: 4096,
            blocks: 2,
        }])
        .await
        .unwrap();
    let a = app.get("/admin/api/v1/tenants/acme/usage").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["to"], today.to_string());
    assert_eq!(a.json["from"], UtcDay(today.0 - 29).to_string());
    let days = a.json["days"].as_array().unwrap();
    assert_eq!(days.len(), 2);
    assert_eq!(days[1]["accepted_bytes"], 1000);
    assert_eq!(days[1]["stored_bytes"], 4096);
    assert_eq!(days[1]["stored_blocks"], 2);
    assert_eq!(
        days[1]["discarded"],
        json!({"rate_limited": {"spans": 3, "bytes": 300}})
    );
    assert_eq!(a.json["totals"]["accepted_bytes"], 1500);
    assert_eq!(a.json["totals"]["queries"], 4);
    assert_eq!(a.json["totals"]["discarded"]["rate_limited"]["spans"], 6);

    let a = app
        .get(&format!(
            "/admin/api/v1/tenants/acme/usage?from={old}&to={old}"
        ))
        .await;
    assert_eq!(a.json["totals"]["accepted_bytes"], 7);
    for bad in [
        "from=2026-02-30",
        "from=2026-01-02&to=2026-01-01",
        "from=2020-01-01&to=2026-01-01",
    ] {
        let a = app
            .get(&format!("/admin/api/v1/tenants/acme/usage?{bad}"))
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(a.fields(), ["from"]);
    }
    assert_eq!(
        app.get("/admin/api/v1/tenants/nobody/usage").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn every_mutation_is_audited_and_pages_newest_first() {
    let app = TestApp::new().await;
    let session = app.login().await;
    let a = app
        .send(
            Method::POST,
            "/admin/api/v1/tenants",
            Cred::Bearer(session.clone()),
            &[],
            Some(json!({"id": "acme"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let a = app
        .send(
            Method::PATCH,
            "/admin/api/v1/tenants/acme",
            admin(),
            &[],
            Some(json!({"display_name": "Acme"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    app.send(
        Method::POST,
        "/admin/api/v1/tenants/acme/suspend",
        admin(),
        &[],
        None,
    )
    .await;
    app.send(
        Method::POST,
        "/admin/api/v1/tenants/acme/resume",
        admin(),
        &[],
        None,
    )
    .await;
    let key = app
        .post(
            "/admin/api/v1/tenants/acme/keys",
            json!({"name": "k", "scopes": ["traces:write"]}),
        )
        .await;
    let secret = key.json["secret"].as_str().unwrap().to_owned();
    let key_id = key.json["key_id"].as_str().unwrap().to_owned();
    app.send(
        Method::DELETE,
        &format!("/admin/api/v1/tenants/acme/keys/{key_id}"),
        admin(),
        &[],
        None,
    )
    .await;
    let etag = app.get("/admin/api/v1/tenants/acme/limits").await.etag();
    let a = app
        .send(
            Method::PUT,
            "/admin/api/v1/tenants/acme/limits",
            admin(),
            &[("if-match", &etag)],
            Some(json!({"query_rate": 3})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let a = app
        .send(
            Method::PATCH,
            "/admin/api/v1/tenants/acme/limits",
            admin(),
            &[("if-match", &a.etag())],
            Some(json!({"query_rate": null})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    app.send(
        Method::PUT,
        "/admin/api/v1/tenants/acme/metrics-generator",
        admin(),
        &[],
        Some(json!({"remote_write": {"url": "https://p/w", "headers": {"Authorization": "Bearer hush"}}})),
    )
    .await;
    let grafana = app
        .get("/admin/api/v1/tenants/acme/grafana-datasources?mint_key=true")
        .await;
    assert_eq!(grafana.status, StatusCode::OK);
    app.send(
        Method::DELETE,
        "/admin/api/v1/tenants/acme",
        admin(),
        &[],
        None,
    )
    .await;

    // Page through everything, 3 at a time.
    let mut entries = Vec::new();
    let mut url = "/admin/api/v1/audit?tenant=acme&limit=3".to_owned();
    loop {
        let a = app.get(&url).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        assert!(a.json["items"].as_array().unwrap().len() <= 3);
        entries.extend(a.json["items"].as_array().unwrap().iter().cloned());
        match a.json["next"].as_str() {
            Some(next) => url = format!("/admin/api/v1/audit?tenant=acme&limit=3&before={next}"),
            None => break,
        }
    }
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "tenant.delete",
            "grafana.mint_key",
            "generator.put",
            "limits.patch",
            "limits.put",
            "key.revoke",
            "key.create",
            "tenant.resume",
            "tenant.suspend",
            "tenant.update",
            "tenant.create",
        ]
    );
    let ids: Vec<u64> = entries.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    assert_eq!(entries.last().unwrap()["actor"], format!("user:{USER}"));
    assert_eq!(entries[0]["actor"], "bootstrap");
    assert_eq!(entries[0]["before"]["status"], "active");
    assert_eq!(entries[0]["after"]["status"], "deleting");
    let all = serde_json::to_string(&entries).unwrap();
    assert!(
        !all.contains(&secret[20..]),
        "a key secret in the audit log"
    );
    assert!(!all.contains("hush"), "a header value in the audit log");

    // The login itself is audited (no tenant).
    let a = app.get("/admin/api/v1/audit?limit=500").await;
    assert!(
        a.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "session.login" && e["tenant"].is_null())
    );
    let a = app
        .get("/admin/api/v1/audit?limit=0&before=x&tenant=NO")
        .await;
    assert_eq!(a.fields(), ["tenant", "before", "limit"]);
}
