use http::{Method, StatusCode, header};
use serde_json::json;

use super::*;

#[tokio::test]
async fn tenants_are_created_read_updated_and_deleted() {
    let app = TestApp::new().await;
    let a = app
        .post(
            "/admin/api/v1/tenants",
            json!({"id": "acme", "display_name": "Acme Inc"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.headers[header::LOCATION], "/admin/api/v1/tenants/acme");
    assert_eq!(a.json["id"], "acme");
    assert_eq!(a.json["status"], "active");
    assert_eq!(a.json["display_name"], "Acme Inc");
    let v1 = a.json["version"].as_u64().unwrap();
    assert_eq!(a.etag(), format!("\"{v1}\""));
    assert!(crate::views::parse_rfc3339(a.json["created_at"].as_str().unwrap()).is_some());

    let a = app
        .post("/admin/api/v1/tenants", json!({"id": "acme"}))
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text);
    let a = app
        .post(
            "/admin/api/v1/tenants",
            json!({"id": "Not Valid!", "display_name": 7}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.fields(), ["display_name", "id"]);
    let a = app
        .post("/admin/api/v1/tenants", json!({"display_name": "x"}))
        .await;
    assert_eq!(a.fields(), ["id"]);

    let a = app.get("/admin/api/v1/tenants/acme").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.etag(), format!("\"{v1}\""));
    assert_eq!(
        app.get("/admin/api/v1/tenants/nobody").await.status,
        StatusCode::NOT_FOUND
    );

    // PATCH with a stale If-Match: 412 and nothing changes; with the current one: applied.
    let patch = |etag: &str, body| {
        let etag = etag.to_owned();
        let app = &app;
        async move {
            app.send(
                Method::PATCH,
                "/admin/api/v1/tenants/acme",
                admin(),
                &[("if-match", etag.as_str())],
                Some(body),
            )
            .await
        }
    };
    let a = patch("\"999\"", json!({"display_name": "Nope"})).await;
    assert_eq!(a.status, StatusCode::PRECONDITION_FAILED, "{}", a.text);
    assert_eq!(a.code(), "precondition_failed");
    let a = patch(
        &format!("\"{v1}\""),
        json!({"display_name": "Acme", "status": "suspended"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["status"], "suspended");
    let v2 = a.json["version"].as_u64().unwrap();
    assert!(v2 > v1);
    assert_eq!(a.etag(), format!("\"{v2}\""));
    let a = patch("*", json!({"status": "deleting", "colour": 1})).await;
    assert_eq!(a.fields(), ["colour", "status"]);

    // Resume, suspend, resume.
    let a = app
        .send(
            Method::POST,
            "/admin/api/v1/tenants/acme/resume",
            admin(),
            &[],
            None,
        )
        .await;
    assert_eq!(a.json["status"], "active", "{}", a.text);
    let a = app
        .send(
            Method::POST,
            "/admin/api/v1/tenants/acme/suspend",
            admin(),
            &[],
            None,
        )
        .await;
    assert_eq!(a.json["status"], "suspended");
    app.refresh().await;
    assert_eq!(
        sextant_model::Authenticator::tenant_status(&*app.control, &tid("acme")),
        Some(sextant_model::TenantStatus::Suspended)
    );

    // DELETE: 202, deleting; the ID cannot be reused meanwhile.
    let a = app
        .send(
            Method::DELETE,
            "/admin/api/v1/tenants/acme",
            admin(),
            &[],
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text);
    assert_eq!(a.json["status"], "deleting");
    let a = app
        .send(
            Method::DELETE,
            "/admin/api/v1/tenants/acme",
            admin(),
            &[],
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let a = app
        .post("/admin/api/v1/tenants", json!({"id": "acme"}))
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    let a = app
        .send(
            Method::POST,
            "/admin/api/v1/tenants/acme/resume",
            admin(),
            &[],
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    let a = app
        .post(
            "/admin/api/v1/tenants/acme/keys",
            json!({"name": "k", "scopes": ["traces:read"]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    // Once the background job purged it, the ID is free again.
    assert!(app.db.purge_tenant(&tid("acme")).await.unwrap());
    let a = app
        .post("/admin/api/v1/tenants", json!({"id": "acme"}))
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
}

#[tokio::test]
async fn tenants_page_with_a_status_filter() {
    let app = TestApp::new().await;
    for i in 0..7 {
        let id = format!("t{i:02}");
        app.create_tenant(&id).await;
        if i % 2 == 1 {
            app.send(
                Method::POST,
                &format!("/admin/api/v1/tenants/{id}/suspend"),
                admin(),
                &[],
                None,
            )
            .await;
        }
    }
    let mut seen = Vec::new();
    let mut url = "/admin/api/v1/tenants?status=active&limit=2".to_owned();
    let mut pages = 0;
    loop {
        let a = app.get(&url).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        pages += 1;
        for t in a.json["items"].as_array().unwrap() {
            assert_eq!(t["status"], "active");
            seen.push(t["id"].as_str().unwrap().to_owned());
        }
        match a.json["next"].as_str() {
            Some(next) => url = format!("/admin/api/v1/tenants?status=active&limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["single-tenant", "t00", "t02", "t04", "t06"]);
    assert!(pages >= 3);
    let a = app.get("/admin/api/v1/tenants?status=suspended").await;
    assert_eq!(a.json["items"].as_array().unwrap().len(), 3);
    assert_eq!(a.json["next"], Value::Null);
    let a = app
        .get("/admin/api/v1/tenants?status=gone&limit=0&after=BAD")
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.fields(), ["status", "after", "limit"]);
}
