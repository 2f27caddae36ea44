//! Grafana datasource provisioning for one tenant: a Tempo datasource pointed at this server
//! with the tenant's credentials (Basic: the tenant ID and a read key), and its Prometheus
//! datasource when one is configured, wired for the service map and traces-to-metrics.
//!
//! Grafana expands `$NAME` and `${NAME}` from its environment in provisioning files and reads
//! `$$` as a literal `$`: every literal value here is escaped that way, and the key placeholder
//! `$SEXTANT_READ_KEY` is left for Grafana to expand.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use serde::Deserialize;
use sextant_model::TenantId;
use sextant_tenancy::{NewKey, Scopes};
use utoipa::IntoParams;

use crate::auth::Actor;
use crate::config::GrafanaProvisioning;
use crate::error::{ErrorBody, Result};
use crate::keys::{create_and_answer, existing_tenant};
use crate::state::AdminState;
use crate::views::path_tenant;
use crate::yaml::Yaml;

/// The environment variable Grafana is expected to hold the tenant's read key in.
pub(crate) const KEY_PLACEHOLDER: &str = "$SEXTANT_READ_KEY";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct GrafanaParams {
    /// Create a fresh read-only key (audited) and put it in the file instead of the
    /// `$SEXTANT_READ_KEY` placeholder.
    #[serde(default)]
    mint_key: bool,
}

/// A literal value for a provisioning file: `$` doubled so Grafana does not expand it.
fn literal(s: &str) -> Yaml {
    Yaml::Str(s.replace('$', "$$"))
}

/// The uid of the tenant's Tempo datasource.
fn traces_uid(tenant: &TenantId) -> String {
    format!("sextant-traces-{tenant}")
}

fn metrics_uid(tenant: &TenantId) -> String {
    format!("sextant-metrics-{tenant}")
}

/// The provisioning document; `password` is already in its final form (a placeholder to
/// expand, or an escaped key).
pub(crate) fn provisioning(cfg: &GrafanaProvisioning, tenant: &TenantId, password: Yaml) -> String {
    let prometheus_url = cfg
        .prometheus_url
        .as_deref()
        .map(|url| url.replace("{tenant}", tenant.as_str()));
    let mut json_data = vec![
        ("nodeGraph", Yaml::map([("enabled", Yaml::Bool(true))])),
        (
            "streamingEnabled",
            Yaml::map([("search", Yaml::Bool(true)), ("metrics", Yaml::Bool(true))]),
        ),
        ("search", Yaml::map([("hide", Yaml::Bool(false))])),
    ];
    if prometheus_url.is_some() {
        let uid = metrics_uid(tenant);
        json_data.push(("serviceMap", Yaml::map([("datasourceUid", literal(&uid))])));
        json_data.push((
            "tracesToMetrics",
            Yaml::map([
                ("datasourceUid", literal(&uid)),
                (
                    "tags",
                    Yaml::Seq(vec![Yaml::map([
                        ("key", literal("service.name")),
                        ("value", literal("service")),
                    ])]),
                ),
                (
                    "queries",
                    Yaml::Seq(vec![
                        Yaml::map([
                            ("name", literal("Request rate")),
                            (
                                "query",
                                literal("sum(rate(traces_spanmetrics_calls_total{$__tags}[5m]))"),
                            ),
                        ]),
                        Yaml::map([
                            ("name", literal("Error rate")),
                            (
                                "query",
                                literal(
                                    "sum(rate(traces_spanmetrics_calls_total{$__tags, \
                                     status_code=\"STATUS_CODE_ERROR\"}[5m]))",
                                ),
                            ),
                        ]),
                    ]),
                ),
            ]),
        ));
    }
    let tempo = Yaml::map([
        ("name", literal(&format!("Traces ({tenant})"))),
        ("type", literal("tempo")),
        ("uid", literal(&traces_uid(tenant))),
        ("access", literal("proxy")),
        ("url", literal(&cfg.tempo_url)),
        ("basicAuth", Yaml::Bool(true)),
        ("basicAuthUser", literal(tenant.as_str())),
        ("editable", Yaml::Bool(false)),
        ("jsonData", Yaml::map(json_data)),
        (
            "secureJsonData",
            Yaml::map([("basicAuthPassword", password)]),
        ),
    ]);
    let mut datasources = vec![tempo];
    if let Some(url) = prometheus_url {
        datasources.push(Yaml::map([
            ("name", literal(&format!("Span metrics ({tenant})"))),
            ("type", literal("prometheus")),
            ("uid", literal(&metrics_uid(tenant))),
            ("access", literal("proxy")),
            ("url", literal(&url)),
            ("editable", Yaml::Bool(false)),
        ]));
    }
    Yaml::map([
        ("apiVersion", Yaml::Int(1)),
        ("datasources", Yaml::Seq(datasources)),
    ])
    .to_document()
}

/// Grafana datasource provisioning YAML for the tenant (`/etc/grafana/provisioning/datasources/`).
/// Without `mint_key`, the password is `$SEXTANT_READ_KEY`, which Grafana reads from its
/// environment; with `mint_key=true`, a new read-only key is created and written in.
#[utoipa::path(
    get,
    path = "/admin/api/v1/tenants/{id}/grafana-datasources",
    tag = "grafana",
    params(("id" = String, Path, description = "Tenant ID"), GrafanaParams),
    responses(
        (status = 200, description = "Provisioning file", content_type = "application/yaml", body = String),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 409, description = "The tenant is being deleted (mint_key)", body = ErrorBody),
    )
)]
pub(crate) async fn datasources(
    State(state): State<AdminState>,
    Actor(actor): Actor,
    Path(id): Path<String>,
    Query(params): Query<GrafanaParams>,
) -> Result<Response> {
    let tenant = path_tenant(&id)?;
    existing_tenant(&state, &tenant).await?;
    let password = if params.mint_key {
        let new = NewKey {
            tenant: tenant.clone(),
            scopes: Scopes {
                write: false,
                read: true,
            },
            read_tenants: Vec::new(),
            expires_at: None,
            description: "grafana datasource".into(),
        };
        let created = create_and_answer(&state, &actor, "grafana.mint_key", new).await?;
        literal(&created.secret)
    } else {
        Yaml::str(KEY_PLACEHOLDER)
    };
    let body = provisioning(&state.config.grafana, &tenant, password);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/yaml"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}
