//! A tenant's limits: the effective values, its overrides and the defaults; replaced (PUT) or
//! merge-patched (PATCH, RFC 7386) under a required `If-Match`.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method};
use serde::Serialize;
use serde_json::Value;
use sextant_model::Limits;
use sextant_tenancy::{LimitOverrides, Tenant, TenantStore, TenantUpdate};
use utoipa::ToSchema;

use crate::audit::tenant_change;
use crate::auth::Actor;
use crate::body::{JsonBody, decode_fields, merge_patch};
use crate::error::{AdminError, ErrorBody, FieldDetail, Result};
use crate::etag::{IfMatch, etag_header};
use crate::keys::{changeable_tenant, existing_tenant};
use crate::state::AdminState;
use crate::tenants::stale;
use crate::views::path_tenant;

/// The limits of DESIGN.md §3 (one set of names everywhere). Durations are strings such as
/// `"336h"` or `"30m"`; for the byte quotas and `query_rate`, 0 means none. In `overrides`
/// only the set fields appear; `effective` and `defaults` have all of them.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Limits)]
pub(crate) struct LimitFields {
    ingestion_rate_bytes: Option<u64>,
    ingestion_burst_bytes: Option<u64>,
    max_traces_per_tenant: Option<u64>,
    max_bytes_per_trace: Option<u64>,
    max_attribute_bytes: Option<u64>,
    #[schema(example = "336h")]
    block_retention: Option<String>,
    #[schema(example = "168h")]
    max_search_duration: Option<String>,
    max_search_bytes: Option<u64>,
    #[schema(example = "30s")]
    search_timeout: Option<String>,
    max_spans_per_span_set: Option<u64>,
    #[schema(example = "24h")]
    max_metrics_duration: Option<String>,
    max_metrics_series: Option<u64>,
    daily_ingest_bytes: Option<u64>,
    monthly_ingest_bytes: Option<u64>,
    query_rate: Option<u64>,
}

/// A tenant's limits.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LimitsDocument {
    /// What applies: the overrides over the defaults, field by field.
    #[schema(value_type = LimitFields)]
    pub(crate) effective: Value,
    /// The tenant's own values (only the set fields).
    #[schema(value_type = LimitFields)]
    pub(crate) overrides: Value,
    /// The configured defaults.
    #[schema(value_type = LimitFields)]
    pub(crate) defaults: Value,
}

/// A duration the way operators write them: whole hours, minutes or seconds when it is one.
fn compact(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_nanos() != 0 {
        format!("{}ms", d.as_millis())
    } else if secs != 0 && secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs != 0 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// `value` as JSON with every duration (the string fields) written compactly.
fn with_compact_durations<T: Serialize>(value: &T) -> Value {
    let mut json = serde_json::to_value(value).unwrap_or(Value::Null);
    if let Value::Object(fields) = &mut json {
        for field in fields.values_mut() {
            if let Value::String(s) = field
                && let Ok(d) = humantime::parse_duration(s)
            {
                *s = compact(d);
            }
        }
    }
    json
}

fn document(overrides: &LimitOverrides, defaults: &Limits) -> LimitsDocument {
    LimitsDocument {
        effective: with_compact_durations(&overrides.apply(defaults)),
        overrides: with_compact_durations(overrides),
        defaults: with_compact_durations(defaults),
    }
}

fn answer(tenant: &Tenant, defaults: &Limits) -> Response {
    (
        [etag_header(tenant.version)],
        Json(document(&tenant.limits, defaults)),
    )
        .into_response()
}

/// The tenant's limits, with its version as `ETag`.
#[utoipa::path(
    get,
    path = "/admin/api/v1/tenants/{id}/limits",
    tag = "limits",
    params(("id" = String, Path, description = "Tenant ID")),
    responses(
        (status = 200, description = "Effective limits, overrides and defaults", body = LimitsDocument,
         headers(("ETag" = String, description = "The tenant's version, for If-Match"))),
        (status = 404, description = "No such tenant", body = ErrorBody),
    )
)]
pub(crate) async fn get(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response> {
    let tenant = existing_tenant(&state, &path_tenant(&id)?).await?;
    Ok(answer(&tenant, &state.defaults))
}

/// Decodes and validates overrides, naming every bad field: unknown, wrong type, invalid
/// value, and a burst below the rate.
fn checked(value: Value, defaults: &Limits) -> Result<LimitOverrides> {
    let (overrides, mut details): (LimitOverrides, _) = decode_fields(value, &[]);
    for e in overrides.validate() {
        if !details.iter().any(|d| d.field == e.field) {
            details.push(FieldDetail::new(e.field, e.message));
        }
    }
    let effective = overrides.apply(defaults);
    if effective.ingestion_burst_bytes < effective.ingestion_rate_bytes
        && !details.iter().any(|d| d.field.starts_with("ingestion_"))
    {
        details.push(FieldDetail::new(
            "ingestion_burst_bytes",
            format!(
                "must be at least ingestion_rate_bytes ({})",
                effective.ingestion_rate_bytes
            ),
        ));
    }
    if details.is_empty() {
        Ok(overrides)
    } else {
        Err(AdminError::Validation(details))
    }
}

async fn change(
    state: AdminState,
    actor: String,
    id: String,
    headers: HeaderMap,
    method: Method,
    body: Value,
) -> Result<Response> {
    let if_match = IfMatch::required(&headers)?;
    let tenant = changeable_tenant(&state, &path_tenant(&id)?).await?;
    let (value, action) = if method == Method::PATCH {
        let mut current = serde_json::to_value(&tenant.limits).unwrap_or(Value::Null);
        merge_patch(&mut current, &body);
        (current, "limits.patch")
    } else {
        (body, "limits.put")
    };
    let overrides = checked(value, &state.defaults)?;
    let update = TenantUpdate {
        limits: Some(overrides),
        ..TenantUpdate::default()
    };
    let audit = tenant_change(&actor, action, "limits", |t| {
        Some(with_compact_durations(&t.limits))
    });
    let after = state
        .db
        .update_tenant_audited(&tenant.id, update, if_match.expected(), audit)
        .await
        .map_err(stale)?;
    Ok(answer(&after, &state.defaults))
}

/// Replaces the tenant's overrides with the body (fields left out follow the defaults).
/// `If-Match` is required.
#[utoipa::path(
    put,
    path = "/admin/api/v1/tenants/{id}/limits",
    tag = "limits",
    params(
        ("id" = String, Path, description = "Tenant ID"),
        ("If-Match" = String, Header, description = "The ETag of the last GET (required)"),
    ),
    request_body(content = LimitFields, description = "The new overrides"),
    responses(
        (status = 200, description = "Updated", body = LimitsDocument),
        (status = 400, description = "Invalid fields, every one named", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 412, description = "The tenant changed since that ETag", body = ErrorBody),
        (status = 428, description = "If-Match missing", body = ErrorBody),
    )
)]
pub(crate) async fn put(
    State(state): State<AdminState>,
    Actor(actor): Actor,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response> {
    change(state, actor, id, headers, Method::PUT, body).await
}

/// Merges the body into the tenant's overrides (RFC 7386: `null` removes an override).
/// `Content-Type: application/merge-patch+json` (or application/json); `If-Match` is required.
#[utoipa::path(
    patch,
    path = "/admin/api/v1/tenants/{id}/limits",
    tag = "limits",
    params(
        ("id" = String, Path, description = "Tenant ID"),
        ("If-Match" = String, Header, description = "The ETag of the last GET (required)"),
    ),
    request_body(content = LimitFields, content_type = "application/merge-patch+json",
                 description = "A JSON merge patch of the overrides"),
    responses(
        (status = 200, description = "Updated", body = LimitsDocument),
        (status = 400, description = "Invalid fields, every one named", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 412, description = "The tenant changed since that ETag", body = ErrorBody),
        (status = 428, description = "If-Match missing", body = ErrorBody),
    )
)]
pub(crate) async fn patch(
    State(state): State<AdminState>,
    Actor(actor): Actor,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response> {
    change(state, actor, id, headers, Method::PATCH, body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_names_every_limit() {
        let doc = crate::openapi();
        let json = serde_json::to_value(&doc).unwrap();
        let props = json["components"]["schemas"]["Limits"]["properties"]
            .as_object()
            .unwrap();
        let mut documented: Vec<&String> = props.keys().collect();
        let limits = serde_json::to_value(Limits::default()).unwrap();
        let mut actual: Vec<&String> = limits.as_object().unwrap().keys().collect();
        documented.sort();
        actual.sort();
        assert_eq!(documented, actual);
    }

    #[test]
    fn durations_print_compactly() {
        assert_eq!(compact(Duration::from_secs(336 * 3600)), "336h");
        assert_eq!(compact(Duration::from_secs(90)), "90s");
        assert_eq!(compact(Duration::from_secs(120)), "2m");
        assert_eq!(compact(Duration::from_millis(1500)), "1500ms");
        assert_eq!(compact(Duration::ZERO), "0s");
        for d in ["336h", "90s", "2m", "1500ms", "0s"] {
            assert_eq!(compact(humantime::parse_duration(d).unwrap()), d);
        }
    }
}
