//! A tenant's metrics-generator settings. `remote_write.headers` values are write-only (they
//! carry credentials): a GET answers every header name with `null`; on PUT a `null` keeps the
//! stored value of that header, a string replaces it and a name left out removes it.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use serde::Serialize;
use serde_json::Value;
use sextant_model::GeneratorSettings;
use sextant_tenancy::{Tenant, TenantStore, TenantUpdate};
use utoipa::ToSchema;

use crate::audit::tenant_change;
use crate::auth::Actor;
use crate::body::{JsonBody, decode_fields};
use crate::error::{AdminError, ErrorBody, FieldDetail, Result};
use crate::etag::{IfMatch, etag_header};
use crate::keys::{changeable_tenant, existing_tenant};
use crate::state::AdminState;
use crate::tenants::stale;
use crate::views::path_tenant;

/// The metrics-generator settings of one tenant (DESIGN.md §8).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = GeneratorSettings)]
pub(crate) struct GeneratorSchema {
    /// `span-metrics`, `service-graphs`; none: the generator ignores the tenant.
    #[schema(inline, value_type = Vec<String>, example = json!(["span-metrics", "service-graphs"]))]
    processors: Vec<String>,
    /// Span or resource attributes added as span-metrics labels.
    dimensions: Vec<String>,
    /// Latency histogram bucket bounds in seconds, strictly increasing.
    histogram_buckets: Vec<f64>,
    /// The most active series the tenant may have.
    max_active_series: u64,
    /// Where the tenant's series are remote-written; null: the server's default target.
    remote_write: Option<RemoteWriteSchema>,
    /// Adds the span status message as the span-metrics label `status_message` (default
    /// false).
    status_message: bool,
    /// Emits `traces_target_info` per resource and adds `job` and `instance` to span-metrics
    /// series (default false).
    target_info: bool,
}

/// A Prometheus remote-write endpoint.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RemoteWriteTarget)]
pub(crate) struct RemoteWriteSchema {
    /// An `http://` or `https://` URL.
    url: String,
    /// Extra request headers. Write-only values: answered as `null`; on PUT `null` keeps the
    /// stored value, a string replaces it, a name left out is removed.
    #[schema(value_type = BTreeMap<String, Option<String>>)]
    headers: BTreeMap<String, Option<String>>,
    /// Adds `X-Scope-OrgID: <tenant>` unless a header of that name is configured (default
    /// true).
    add_org_id_header: bool,
}

/// The settings as answered and audited: header values replaced by `null`.
pub(crate) fn redacted(settings: &GeneratorSettings) -> Value {
    let mut json = serde_json::to_value(settings).unwrap_or(Value::Null);
    if let Some(Value::Object(headers)) = json
        .get_mut("remote_write")
        .and_then(|rw| rw.get_mut("headers"))
    {
        for value in headers.values_mut() {
            *value = Value::Null;
        }
    }
    json
}

fn answer(tenant: &Tenant) -> Response {
    (
        [etag_header(tenant.version)],
        Json(redacted(&tenant.generator)),
    )
        .into_response()
}

/// The tenant's generator settings (header values `null`), with its version as `ETag`.
#[utoipa::path(
    get,
    path = "/admin/api/v1/tenants/{id}/metrics-generator",
    tag = "generator",
    params(("id" = String, Path, description = "Tenant ID")),
    responses(
        (status = 200, description = "The settings", body = GeneratorSchema,
         headers(("ETag" = String, description = "The tenant's version, for If-Match"))),
        (status = 404, description = "No such tenant", body = ErrorBody),
    )
)]
pub(crate) async fn get(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response> {
    let tenant = existing_tenant(&state, &path_tenant(&id)?).await?;
    Ok(answer(&tenant))
}

/// Fills `null` header values in `body` from `stored`; a `null` without a stored value is a
/// detail.
fn keep_stored_headers(
    body: &mut Value,
    stored: &GeneratorSettings,
    details: &mut Vec<FieldDetail>,
) {
    let Some(Value::Object(headers)) = body
        .get_mut("remote_write")
        .and_then(|rw| rw.get_mut("headers"))
    else {
        return;
    };
    let stored = stored.remote_write.as_ref().map(|rw| &rw.headers);
    let mut unknown = Vec::new();
    for (name, value) in headers.iter_mut() {
        if value.is_null() {
            match stored.and_then(|h| h.get(name)) {
                Some(kept) => *value = Value::String(kept.clone()),
                None => unknown.push(name.clone()),
            }
        }
    }
    // Named once here, and left out so the rest of the target can still be checked.
    for name in unknown {
        headers.remove(&name);
        details.push(FieldDetail::new(
            format!("remote_write.headers.{name}"),
            "null keeps a stored value, and there is none: give the value",
        ));
    }
}

/// Replaces the tenant's generator settings (fields left out take their defaults). `If-Match`
/// is honoured when given.
#[utoipa::path(
    put,
    path = "/admin/api/v1/tenants/{id}/metrics-generator",
    tag = "generator",
    params(
        ("id" = String, Path, description = "Tenant ID"),
        ("If-Match" = Option<String>, Header, description = "The ETag the tenant must still have"),
    ),
    request_body = GeneratorSchema,
    responses(
        (status = 200, description = "Updated", body = GeneratorSchema),
        (status = 400, description = "Invalid fields, every one named", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 409, description = "The tenant is being deleted", body = ErrorBody),
        (status = 412, description = "If-Match does not match", body = ErrorBody),
    )
)]
pub(crate) async fn put(
    State(state): State<AdminState>,
    Actor(actor): Actor,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(mut body): JsonBody,
) -> Result<Response> {
    let if_match = IfMatch::from_headers(&headers)?;
    let tenant = changeable_tenant(&state, &path_tenant(&id)?).await?;
    let mut details = Vec::new();
    keep_stored_headers(&mut body, &tenant.generator, &mut details);
    let (settings, decode_details): (GeneratorSettings, _) = decode_fields(body, &[]);
    details.extend(decode_details);
    for e in settings.validate() {
        let top = e.field.split(['.', '[']).next().unwrap_or("");
        if !details.iter().any(|d| d.field == e.field || d.field == top) {
            details.push(FieldDetail::new(e.field, e.message));
        }
    }
    if !details.is_empty() {
        return Err(AdminError::Validation(details));
    }
    let update = TenantUpdate {
        generator: Some(settings),
        ..TenantUpdate::default()
    };
    let audit = tenant_change(&actor, "generator.put", "metrics-generator", |t| {
        Some(redacted(&t.generator))
    });
    let after = state
        .db
        .update_tenant_audited(&tenant.id, update, if_match.expected(), audit)
        .await
        .map_err(stale)?;
    Ok(answer(&after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_names_every_setting() {
        let json = serde_json::to_value(crate::openapi()).unwrap();
        let schemas = &json["components"]["schemas"];
        let mut documented: Vec<&String> = schemas["GeneratorSettings"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        let defaults = serde_json::to_value(GeneratorSettings::default()).unwrap();
        let mut actual: Vec<&String> = defaults.as_object().unwrap().keys().collect();
        documented.sort();
        actual.sort();
        assert_eq!(documented, actual);
        let target =
            serde_json::to_value(sextant_model::RemoteWriteTarget::new("http://x")).unwrap();
        let mut actual: Vec<&String> = target.as_object().unwrap().keys().collect();
        let mut documented: Vec<&String> = schemas["RemoteWriteTarget"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        documented.sort();
        actual.sort();
        assert_eq!(documented, actual);
    }
}
