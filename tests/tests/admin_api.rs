//! The admin API end to end, as an operator onboarding a tenant of a hosted offering: an admin
//! token (and a signed-in admin user's session) → create the tenant → create keys → the
//! tenant's services send with the OpenTelemetry SDK using the key → read back → patch the
//! rate limit down → ingest is throttled → patch retention down → old blocks disappear and
//! their traces 404 → delete the tenant → its objects are gone from the bucket (S3 through
//! moto) and its keys fail. Every step is through `/admin/api/v1` on the public listener.

use std::time::Duration;

use prost::Message;
use reqwest::{Method, StatusCode};
use serde_json::{Value as Json, json};
use sextant_tests::{
    Auth, Expected, Moto, Options, ReadApi, Sextant, assert_all_readable, basic, post_otlp,
    request, run_script, trace, wait_until,
};

const TENANT: &str = "acme-hosted";
const BUCKET: &str = "sextant-admin";
/// How long a change may take to reach every snapshot (the figure).
const PROPAGATION: Duration = Duration::from_secs(5);

/// An admin API client with one credential.
struct Admin<'a> {
    server: &'a Sextant,
    authorization: String,
}

impl Admin<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}/admin/api/v1{path}", self.server.http_url())
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Json>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Json) {
        let mut req = self
            .server
            .client()
            .request(method.clone(), self.url(path))
            .header("authorization", &self.authorization);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Json::String(text));
        (status, headers, json)
    }

    /// A request that must answer `want`; the JSON body.
    async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<Json>,
        headers: &[(&str, &str)],
        want: u16,
    ) -> (reqwest::header::HeaderMap, Json) {
        let (status, h, json) = self.send(method.clone(), path, body, headers).await;
        assert_eq!(status.as_u16(), want, "{method} {path}: {json}");
        (h, json)
    }

    /// Patches the tenant's limits with the ETag of a fresh read.
    async fn patch_limits(&self, patch: Json) -> Json {
        let path = format!("/tenants/{TENANT}/limits");
        let (headers, _) = self.expect(Method::GET, &path, None, &[], 200).await;
        let etag = header(&headers, "etag");
        let (_, doc) = self
            .expect(
                Method::PATCH,
                &path,
                Some(patch),
                &[
                    ("if-match", &etag),
                    ("content-type", "application/merge-patch+json"),
                ],
                200,
            )
            .await;
        doc
    }
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
        .to_str()
        .expect("ascii header")
        .to_owned()
}

/// A three-span trace whose spans all started and ended `age` ago.
fn old_trace(age: Duration) -> (Vec<u8>, sextant_model::otlp::TracesData) {
    let (id, mut spans) = trace(3);
    let shift = u64::try_from(age.as_nanos()).expect("age fits");
    for span in &mut spans {
        span.start_time_unix_nano -= shift;
        span.end_time_unix_nano -= shift;
    }
    (id, request("archive", spans))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_onboards_limits_retains_and_deletes_a_tenant_through_the_admin_api() {
    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    let server = Sextant::start(
        Options::new()
            .fast_blocks()
            .s3(&moto.endpoint(), &format!("s3://{BUCKET}/traces"))
            .env("SEXTANT_COMPACTOR__INTERVAL", "100ms")
            .env("SEXTANT_COMPACTOR__GRACE_PERIOD", "100ms")
            .env("SEXTANT_TENANT_DELETION__INTERVAL", "100ms")
            .env("SEXTANT_TENANT_DELETION__DELAY", "500ms"),
    )
    .await;

    // The operator signs in: the bootstrap admin token works as Bearer and as Basic with an
    // empty user; an admin user's password gives a session token that works as Bearer.
    let token = server.admin_token();
    let admin = Admin {
        server: &server,
        authorization: format!("Bearer {token}"),
    };
    let as_basic = Admin {
        server: &server,
        authorization: basic("", &token),
    };
    as_basic
        .expect(Method::GET, "/tenants", None, &[], 200)
        .await;
    let created = server
        .cli_with_stdin(
            &["admin", "user", "create", "ops"],
            "correct horse battery\n",
        )
        .await;
    assert!(created.success, "admin user create: {}", created.stderr);
    let (_, login) = Admin {
        server: &server,
        authorization: String::new(),
    }
    .expect(
        Method::POST,
        "/login",
        Some(json!({"username": "ops", "password": "correct horse battery"})),
        &[],
        200,
    )
    .await;
    let session = Admin {
        server: &server,
        authorization: format!("Bearer {}", login["token"].as_str().expect("token")),
    };

    // Onboarding: the tenant, then a write key and a read key.
    session
        .expect(
            Method::POST,
            "/tenants",
            Some(json!({"id": TENANT, "display_name": "Acme (hosted)"})),
            &[],
            201,
        )
        .await;
    let (_, write) = admin
        .expect(
            Method::POST,
            &format!("/tenants/{TENANT}/keys"),
            Some(json!({"name": "collector", "scopes": ["traces:write"]})),
            &[],
            201,
        )
        .await;
    let (_, read) = admin
        .expect(
            Method::POST,
            &format!("/tenants/{TENANT}/keys"),
            Some(json!({"name": "grafana", "scopes": ["traces:read"]})),
            &[],
            201,
        )
        .await;
    let write = Auth::new(TENANT, write["secret"].as_str().expect("write secret"));
    let read = Auth::new(TENANT, read["secret"].as_str().expect("read secret"));
    server.wait_key_accepted(&write).await;
    server.wait_key_accepted(&read).await;

    // An old trace first, alone in its block, so retention can take it later.
    let (old_id, old) = old_trace(Duration::from_secs(3 * 3600));
    let resp = post_otlp(
        server.client(),
        &format!("{}/v1/traces", server.otlp_http_url()),
        Some(&write),
        "application/x-protobuf",
        None,
        old.encode_to_vec(),
    )
    .await;
    assert_eq!(resp.status(), 200, "old trace accepted");
    server.wait_all_in_blocks(Duration::from_secs(10)).await;

    // The tenant's services send with the OpenTelemetry SDK and the write key; Grafana reads
    // with the read key.
    let mut expected = Expected::default();
    expected
        .add_script(
            "send_traces.py",
            &[
                "--exporter",
                "http",
                "--endpoint",
                &server.otlp_http_url(),
                "--authorization",
                &write.basic(),
            ],
        )
        .await;
    assert_all_readable(&server, Some(&read), &expected, &ReadApi::ALL, "onboarded").await;
    assert_eq!(server.read_status(&read, &old_id).await, 200);
    server.wait_all_in_blocks(Duration::from_secs(10)).await;
    let objects = moto.list_keys(BUCKET, &format!("traces/{TENANT}/")).await;
    assert!(!objects.is_empty(), "no block of {TENANT} in the bucket");

    // Usage is metered per day (written by the usage flush, polled).
    wait_until(
        PROPAGATION * 4,
        "usage to show accepted spans",
        async || {
            let (_, usage) = admin
                .expect(
                    Method::GET,
                    &format!("/tenants/{TENANT}/usage"),
                    None,
                    &[],
                    200,
                )
                .await;
            usage.to_string().contains("accepted_spans")
                && usage["totals"]["accepted_spans"].as_u64().unwrap_or(0) > 0
        },
    )
    .await;

    // Rate limit down: the SDK's exports are throttled with 429.
    let doc = admin
        .patch_limits(json!({"ingestion_rate_bytes": 1000, "ingestion_burst_bytes": 8000}))
        .await;
    assert_eq!(doc["overrides"]["ingestion_rate_bytes"], 1000, "{doc}");
    assert_eq!(doc["effective"]["ingestion_burst_bytes"], 8000, "{doc}");
    // The overrides exporter and the billing counters show the tenant.
    wait_until(
        PROPAGATION,
        "sextant_limits_overrides to show the new rate",
        async || {
            server
                .metric(
                    "sextant_limits_overrides",
                    &[("tenant", TENANT), ("limit_name", "ingestion_rate_bytes")],
                )
                .await
                == 1000.0
        },
    )
    .await;
    assert!(
        server
            .metric("sextant_usage_accepted_spans_total", &[("tenant", TENANT)])
            .await
            > 0.0,
        "no billing counter for {TENANT}"
    );
    assert!(
        server
            .metric("sextant_usage_queries_total", &[("tenant", TENANT)])
            .await
            > 0.0,
        "no query counter for {TENANT}"
    );
    wait_until(
        PROPAGATION,
        "the lowered rate limit to throttle",
        async || {
            let endpoint = server.otlp_http_url();
            let authorization = write.basic();
            let out = run_script(
                "throttled_send.py",
                &[
                    "--exporter",
                    "http",
                    "--endpoint",
                    &endpoint,
                    "--authorization",
                    &authorization,
                    "--exports",
                    "3",
                    "--spans",
                    "10",
                    "--pad-bytes",
                    "600",
                ],
            )
            .await;
            out.to_string().contains("429")
        },
    )
    .await;

    // Retention down to one hour: the three-hour-old block is retired and deleted; its trace
    // 404s, the fresh traces stay.
    admin
        .patch_limits(json!({"block_retention": "1h", "ingestion_rate_bytes": null, "ingestion_burst_bytes": null}))
        .await;
    wait_until(
        PROPAGATION * 2,
        "retention to drop the old trace",
        async || server.read_status(&read, &old_id).await == 404,
    )
    .await;
    assert_all_readable(
        &server,
        Some(&read),
        &expected,
        &[ReadApi::V2Json],
        "after retention",
    )
    .await;

    // The audit log has every mutation, newest first, with the actor.
    let (_, audit) = admin
        .expect(
            Method::GET,
            &format!("/audit?tenant={TENANT}"),
            None,
            &[],
            200,
        )
        .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in ["tenant.create", "key.create", "limits.patch"] {
        assert!(actions.contains(&action), "audit lacks {action}: {audit}");
    }
    assert!(
        audit.to_string().contains("user:ops"),
        "the signed-in user is not the actor of the tenant creation: {audit}"
    );
    assert!(
        !audit.to_string().contains(&write.key),
        "the audit log holds a key secret"
    );

    // Deletion: 202, then the keys fail, the bucket loses the tenant's objects, the tenant
    // goes away and its ID can be used again.
    admin
        .expect(
            Method::DELETE,
            &format!("/tenants/{TENANT}"),
            None,
            &[],
            202,
        )
        .await;
    admin
        .expect(
            Method::POST,
            "/tenants",
            Some(json!({"id": TENANT, "display_name": "too early"})),
            &[],
            409,
        )
        .await;
    wait_until(
        PROPAGATION,
        "the deleted tenant's keys to fail",
        async || {
            let w = server.write_status(&write).await;
            let r = server.read_status(&read, &expected.trace_ids[0]).await;
            (w == 401 || w == 403) && (r == 401 || r == 403)
        },
    )
    .await;
    wait_until(
        PROPAGATION * 4,
        "the tenant's objects to leave the bucket",
        async || {
            moto.list_keys(BUCKET, &format!("traces/{TENANT}/"))
                .await
                .is_empty()
        },
    )
    .await;
    wait_until(PROPAGATION * 4, "the tenant row to go", async || {
        admin
            .send(Method::GET, &format!("/tenants/{TENANT}"), None, &[])
            .await
            .0
            == StatusCode::NOT_FOUND
    })
    .await;
    // The bootstrap tenant's data is untouched.
    assert_eq!(
        server.write_status(&server.single()).await,
        200,
        "another tenant's ingest after the deletion"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_refuses_tenant_keys_and_stale_writes() {
    let server = Sextant::start(Options::new()).await;
    let admin = Admin {
        authorization: format!("Bearer {}", server.admin_token()),
        server: &server,
    };
    // A tenant's API key is a credential, but not an admin one; nothing is 401.
    let tenant_key = Admin {
        authorization: server.single().bearer(),
        server: &server,
    };
    tenant_key
        .expect(Method::GET, "/tenants", None, &[], 403)
        .await;
    let (status, headers, body) = Admin {
        authorization: String::new(),
        server: &server,
    }
    .send(Method::GET, "/tenants", None, &[])
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(headers.contains_key("www-authenticate"));
    assert!(body["error"]["code"].is_string(), "error envelope: {body}");

    // Admin requests are access-logged and counted like every other public request.
    assert_eq!(
        server
            .metric(
                "sextant_http_requests_total",
                &[("route", "/admin/api/v1/tenants"), ("status", "403")]
            )
            .await,
        1.0,
        "the admin API's requests are not counted"
    );

    // Optimistic concurrency on limits.
    let path = "/tenants/single-tenant/limits";
    let (headers, _) = admin.expect(Method::GET, path, None, &[], 200).await;
    let etag = header(&headers, "etag");
    admin
        .expect(Method::PUT, path, Some(json!({"query_rate": 5})), &[], 428)
        .await;
    admin
        .expect(
            Method::PUT,
            path,
            Some(json!({"query_rate": 5})),
            &[("if-match", &etag)],
            200,
        )
        .await;
    admin
        .expect(
            Method::PUT,
            path,
            Some(json!({"query_rate": 6})),
            &[("if-match", &etag)],
            412,
        )
        .await;
    // Validation names every bad field.
    let (headers, _) = admin.expect(Method::GET, path, None, &[], 200).await;
    let etag = header(&headers, "etag");
    let (_, bad) = admin
        .expect(
            Method::PUT,
            path,
            Some(json!({"query_rate": "fast", "no_such_limit": 1, "block_retention": "soon"})),
            &[("if-match", &etag)],
            400,
        )
        .await;
    let text = bad.to_string();
    for field in ["query_rate", "no_such_limit", "block_retention"] {
        assert!(
            text.contains(field),
            "validation error lacks {field}: {bad}"
        );
    }

    // The OpenAPI document is served without credentials and lists the routes.
    let doc: Json = server
        .client()
        .get(format!("{}/admin/api/v1/openapi.json", server.http_url()))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("openapi json");
    assert!(
        doc["paths"]
            .as_object()
            .is_some_and(|p| p.keys().any(|k| k.contains("/limits"))),
        "openapi paths: {}",
        doc["paths"]
    );

    // The Grafana datasource provisioning names the tenant as the basic-auth user.
    let resp = server
        .client()
        .get(format!(
            "{}/admin/api/v1/tenants/single-tenant/grafana-datasources",
            server.http_url()
        ))
        .header("authorization", &admin.authorization)
        .send()
        .await
        .expect("grafana");
    assert_eq!(resp.status(), 200);
    let yaml = resp.text().await.expect("yaml");
    let unquoted = yaml.replace('"', "");
    assert!(unquoted.contains("type: tempo"), "{yaml}");
    assert!(unquoted.contains("basicAuthUser: single-tenant"), "{yaml}");
}
