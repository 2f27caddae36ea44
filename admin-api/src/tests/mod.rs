//! The admin API through its router (`oneshot`), against a real SQLite control-plane database
//! and a real `ControlPlane` authenticating from its snapshot.

mod auth_tests;
mod generator_tests;
mod grafana_tests;
mod key_tests;
mod limits_tests;
mod openapi_tests;
mod tenant_tests;
mod usage_audit_tests;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use base64::Engine;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use sextant_model::{Limits, TenantId};
use sextant_tenancy::{
    AdminStore, ControlPlane, ControlPlaneConfig, Database, DatabaseOptions, ManualClock, Pepper,
    TenantStore, bootstrap,
};
use tower::ServiceExt;

use crate::{AdminConfig, AdminState, GrafanaProvisioning, router};

pub(crate) const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdefghij";
pub(crate) const USER: &str = "alice";
pub(crate) const PASSWORD: &str = "correct horse battery";

/// How a request authenticates.
#[derive(Debug, Clone)]
pub(crate) enum Cred {
    None,
    Bearer(String),
    Basic(String, String),
    Raw(String),
}

/// A built API with its database, control plane and clock.
pub(crate) struct TestApp {
    pub(crate) db: Arc<Database>,
    pub(crate) control: Arc<ControlPlane>,
    pub(crate) clock: ManualClock,
    pub(crate) router: Router,
    /// A read+write key of `single-tenant` (bootstrap).
    pub(crate) tenant_key: String,
}

/// A response, its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) text: String,
    pub(crate) json: Value,
}

impl Answer {
    pub(crate) fn etag(&self) -> String {
        self.headers
            .get(header::ETAG)
            .expect("an ETag")
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// The error envelope's code.
    pub(crate) fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    /// The fields the error envelope names.
    pub(crate) fn fields(&self) -> Vec<String> {
        self.json["error"]["details"]
            .as_array()
            .map(|d| {
                d.iter()
                    .map(|x| x["field"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub(crate) fn admin() -> Cred {
    Cred::Bearer(ADMIN_TOKEN.to_owned())
}

pub(crate) fn tid(s: &str) -> TenantId {
    TenantId::new(s).unwrap()
}

impl TestApp {
    pub(crate) async fn new() -> Self {
        Self::with_config(AdminConfig {
            session_ttl: Duration::from_secs(600),
            grafana: GrafanaProvisioning {
                tempo_url: "https://traces.example.com".into(),
                prometheus_url: Some("https://prom.example.com/{tenant}/prometheus".into()),
            },
        })
        .await
    }

    pub(crate) async fn with_config(config: AdminConfig) -> Self {
        let db = Arc::new(
            Database::connect("sqlite::memory:", &DatabaseOptions::default())
                .await
                .unwrap(),
        );
        let pepper = Pepper::new(b"admin-api-test-pepper".to_vec()).unwrap();
        let boot = bootstrap(&db, &pepper, Some(ADMIN_TOKEN))
            .await
            .unwrap()
            .expect("an empty database bootstraps");
        db.create_admin_user(USER, PASSWORD).await.unwrap();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let clock = ManualClock::new(u64::try_from(now.as_millis()).unwrap());
        let defaults = Limits::default();
        let control = ControlPlane::start(
            Arc::clone(&db),
            ControlPlaneConfig::new(defaults.clone(), pepper.clone()),
            clock.clock(),
        )
        .await
        .unwrap();
        let state = AdminState::new(Arc::clone(&db), control.clone(), pepper, defaults, config)
            .with_clock(clock.clock());
        Self {
            db,
            control,
            clock,
            router: router(state),
            tenant_key: boot.key,
        }
    }

    /// Reloads the control plane's snapshot (new keys and tokens authenticate after it).
    pub(crate) async fn refresh(&self) {
        self.control.refresh().await.unwrap();
    }

    pub(crate) async fn create_tenant(&self, id: &str) {
        self.db.create_tenant(&tid(id), id).await.unwrap();
    }

    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        cred: Cred,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let mut builder = Request::builder().method(method).uri(path);
        match cred {
            Cred::None => {}
            Cred::Bearer(t) => {
                builder = builder.header(header::AUTHORIZATION, format!("Bearer {t}"))
            }
            Cred::Basic(u, p) => {
                let b = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                builder = builder.header(header::AUTHORIZATION, format!("Basic {b}"));
            }
            Cred::Raw(v) => builder = builder.header(header::AUTHORIZATION, v),
        }
        let has_content_type = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let request = match body {
            Some(b) => {
                if !has_content_type {
                    builder = builder.header(header::CONTENT_TYPE, "application/json");
                }
                builder.body(Body::from(b.to_string())).unwrap()
            }
            None => builder.body(Body::empty()).unwrap(),
        };
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            json,
        }
    }

    pub(crate) async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, admin(), &[], None).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, admin(), &[], Some(body))
            .await
    }

    /// A session token for the admin user.
    pub(crate) async fn login(&self) -> String {
        let a = self
            .send(
                Method::POST,
                "/admin/api/v1/login",
                Cred::None,
                &[],
                Some(serde_json::json!({"username": USER, "password": PASSWORD})),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        a.json["token"].as_str().unwrap().to_owned()
    }
}
