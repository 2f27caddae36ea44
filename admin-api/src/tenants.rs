//! Tenants: list (paged), create, read, update, suspend, resume, delete.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use sextant_model::{TenantId, TenantStatus};
use sextant_tenancy::{Tenant, TenantQuery, TenantStore, TenantUpdate};
use utoipa::{IntoParams, ToSchema};

use crate::audit::{page_limit, tenant_change};
use crate::auth::Actor;
use crate::body::{JsonBody, decode_fields};
use crate::error::{AdminError, ErrorBody, FieldDetail, Result};
use crate::etag::{IfMatch, etag_header};
use crate::keys::{existing_tenant, refuse_deleting};
use crate::state::AdminState;
use crate::views::{TenantView, json, path_tenant};

/// A tenant answered with its version as `ETag`.
pub(crate) fn tenant_response(status: StatusCode, tenant: &Tenant) -> Response {
    (
        status,
        [etag_header(tenant.version)],
        Json(TenantView::from(tenant)),
    )
        .into_response()
}

/// Maps the store's stale-version refusal to 412 (the other errors as usual).
pub(crate) fn stale(error: sextant_tenancy::Error) -> AdminError {
    match error {
        sextant_tenancy::Error::Stale { current } => AdminError::Stale { current },
        other => other.into(),
    }
}

fn check_display_name(name: &str, details: &mut Vec<FieldDetail>) {
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        details.push(FieldDetail::new(
            "display_name",
            "must be at most 200 printable characters",
        ));
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// Only tenants in this status: `active`, `suspended` or `deleting`.
    status: Option<String>,
    /// Only tenants after this ID: the previous page's `next`.
    after: Option<String>,
    /// Tenants per page, 1 to 1000 (default 100).
    limit: Option<String>,
}

/// A page of tenants, ordered by ID.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TenantPageView {
    pub(crate) items: Vec<TenantView>,
    /// `after` for the next page; null on the last page.
    pub(crate) next: Option<String>,
}

/// Tenants ordered by ID, a page at a time.
#[utoipa::path(
    get,
    path = "/admin/api/v1/tenants",
    tag = "tenants",
    params(ListParams),
    responses(
        (status = 200, description = "A page of tenants", body = TenantPageView),
        (status = 400, description = "Invalid parameters", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<AdminState>,
    Query(params): Query<ListParams>,
) -> Result<Json<TenantPageView>> {
    let mut details = Vec::new();
    let status = match params.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => {
            let parsed = TenantStatus::parse(s);
            if parsed.is_none() {
                details.push(FieldDetail::new(
                    "status",
                    "must be active, suspended or deleting",
                ));
            }
            parsed
        }
    };
    let after = match params.after.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(a) => match TenantId::new(a) {
            Ok(id) => Some(id),
            Err(_) => {
                details.push(FieldDetail::new("after", "not a tenant ID (a page's next)"));
                None
            }
        },
    };
    let limit = page_limit(
        params.limit.as_deref(),
        TenantQuery::MAX_LIMIT,
        &mut details,
    );
    if !details.is_empty() {
        return Err(AdminError::Validation(details));
    }
    let page = state
        .db
        .list_tenants_page(&TenantQuery {
            status,
            after,
            limit,
        })
        .await?;
    Ok(Json(TenantPageView {
        items: page.tenants.iter().map(TenantView::from).collect(),
        next: page.next.map(|n| n.to_string()),
    }))
}

/// A tenant to create.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTenantRequest {
    /// `[a-z0-9][a-z0-9_-]{2,63}`; immutable, the storage prefix.
    #[serde(default)]
    pub(crate) id: String,
    /// Free text, at most 200 characters.
    #[serde(default)]
    pub(crate) display_name: String,
}

/// Creates an active tenant without overrides. The ID of a tenant being deleted cannot be
/// reused until its data is gone (409).
#[utoipa::path(
    post,
    path = "/admin/api/v1/tenants",
    tag = "tenants",
    request_body = CreateTenantRequest,
    responses(
        (status = 201, description = "Created", body = TenantView,
         headers(("Location" = String, description = "The tenant's URL"), ("ETag" = String, description = "Its version"))),
        (status = 400, description = "Invalid fields", body = ErrorBody),
        (status = 409, description = "The ID exists (or is being deleted)", body = ErrorBody),
    )
)]
pub(crate) async fn create(
    State(state): State<AdminState>,
    Actor(actor): Actor,
    JsonBody(body): JsonBody,
) -> Result<Response> {
    let (request, mut details): (CreateTenantRequest, _) = decode_fields(body, &["id"]);
    let id = TenantId::new(&request.id);
    if id.is_err() && !details.iter().any(|d| d.field == "id") {
        details.push(FieldDetail::new(
            "id",
            "must match [a-z0-9][a-z0-9_-]{2,63}",
        ));
    }
    check_display_name(&request.display_name, &mut details);
    let Ok(id) = id else {
        return Err(AdminError::Validation(details));
    };
    if !details.is_empty() {
        return Err(AdminError::Validation(details));
    }
    if let Some(existing) = state.db.get_tenant(&id).await? {
        let why = if existing.status == TenantStatus::Deleting {
            "is being deleted; its ID can be reused once its data is gone"
        } else {
            "already exists"
        };
        return Err(AdminError::Conflict(format!("tenant {id} {why}")));
    }
    let audit = tenant_change(&actor, "tenant.create", "", |t| json(&TenantView::from(t)));
    let tenant = state
        .db
        .create_tenant_audited(&id, &request.display_name, audit)
        .await
        .map_err(|e| match e.kind() {
            sextant_model::ErrorKind::Conflict => {
                AdminError::Conflict(format!("tenant {id} already exists"))
            }
            _ => e.into(),
        })?;
    let mut response = tenant_response(StatusCode::CREATED, &tenant);
    let location = HeaderValue::from_str(&format!("/admin/api/v1/tenants/{id}"))
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// One tenant, with its version as `ETag`.
#[utoipa::path(
    get,
    path = "/admin/api/v1/tenants/{id}",
    tag = "tenants",
    params(("id" = String, Path, description = "Tenant ID")),
    responses(
        (status = 200, description = "The tenant", body = TenantView,
         headers(("ETag" = String, description = "Its version, for If-Match"))),
        (status = 404, description = "No such tenant", body = ErrorBody),
    )
)]
pub(crate) async fn get(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response> {
    let tenant = existing_tenant(&state, &path_tenant(&id)?).await?;
    Ok(tenant_response(StatusCode::OK, &tenant))
}

/// What a PATCH of a tenant may change.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchTenantRequest {
    #[serde(default)]
    #[schema(nullable = false)]
    pub(crate) display_name: Option<String>,
    /// `active` or `suspended` (deletion is `DELETE`).
    #[serde(default)]
    #[schema(nullable = false)]
    pub(crate) status: Option<String>,
}

/// Applies `update` (checking `If-Match` when given) and records it under `action`.
async fn apply(
    state: &AdminState,
    actor: &str,
    action: &'static str,
    before: &Tenant,
    update: TenantUpdate,
    if_match: IfMatch,
) -> Result<Tenant> {
    let audit = tenant_change(actor, action, "", |t| json(&TenantView::from(t)));
    state
        .db
        .update_tenant_audited(&before.id, update, if_match.expected(), audit)
        .await
        .map_err(stale)
}

/// Changes the display name and/or the status (`active`, `suspended`). `If-Match` is honoured
/// when given.
#[utoipa::path(
    patch,
    path = "/admin/api/v1/tenants/{id}",
    tag = "tenants",
    params(
        ("id" = String, Path, description = "Tenant ID"),
        ("If-Match" = Option<String>, Header, description = "The ETag the tenant must still have"),
    ),
    request_body = PatchTenantRequest,
    responses(
        (status = 200, description = "Updated", body = TenantView),
        (status = 400, description = "Invalid fields", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 409, description = "The tenant is being deleted", body = ErrorBody),
        (status = 412, description = "If-Match does not match", body = ErrorBody),
    )
)]
pub(crate) async fn patch(
    State(state): State<AdminState>,
    Actor(actor): Actor,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response> {
    let if_match = IfMatch::from_headers(&headers)?;
    let tenant = existing_tenant(&state, &path_tenant(&id)?).await?;
    let (request, mut details): (PatchTenantRequest, _) = decode_fields(body, &[]);
    if let Some(name) = &request.display_name {
        check_display_name(name, &mut details);
    }
    let status = match request.status.as_deref() {
        None => None,
        Some("active") => Some(TenantStatus::Active),
        Some("suspended") => Some(TenantStatus::Suspended),
        Some("deleting") => {
            details.push(FieldDetail::new("status", "delete a tenant with DELETE"));
            None
        }
        Some(_) => {
            details.push(FieldDetail::new("status", "must be active or suspended"));
            None
        }
    };
    if !details.is_empty() {
        return Err(AdminError::Validation(details));
    }
    refuse_deleting(&tenant)?;
    let update = TenantUpdate {
        display_name: request.display_name,
        status,
        ..TenantUpdate::default()
    };
    let after = apply(&state, &actor, "tenant.update", &tenant, update, if_match).await?;
    Ok(tenant_response(StatusCode::OK, &after))
}

async fn set_status(
    state: AdminState,
    actor: String,
    id: String,
    headers: HeaderMap,
    status: TenantStatus,
    action: &'static str,
) -> Result<Response> {
    let if_match = IfMatch::from_headers(&headers)?;
    let tenant = existing_tenant(&state, &path_tenant(&id)?).await?;
    refuse_deleting(&tenant)?;
    if tenant.status == status {
        if let IfMatch::Version(v) = if_match
            && v != tenant.version
        {
            return Err(AdminError::Stale {
                current: tenant.version,
            });
        }
        return Ok(tenant_response(StatusCode::OK, &tenant));
    }
    let update = TenantUpdate {
        status: Some(status),
        ..TenantUpdate::default()
    };
    let after = apply(&state, &actor, action, &tenant, update, if_match).await?;
    Ok(tenant_response(StatusCode::OK, &after))
}

/// Suspends the tenant: ingest is refused (403), reads stay allowed.
#[utoipa::path(
    post,
    path = "/admin/api/v1/tenants/{id}/suspend",
    tag = "tenants",
    params(
        ("id" = String, Path, description = "Tenant ID"),
        ("If-Match" = Option<String>, Header, description = "The ETag the tenant must still have"),
    ),
    responses(
        (status = 200, description = "Suspended (or already was)", body = TenantView),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 409, description = "The tenant is being deleted", body = ErrorBody),
        (status = 412, description = "If-Match does not match", body = ErrorBody),
    )
)]
pub(crate) async fn suspend(
    State(state): State<AdminState>,
    Actor(actor): Actor,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    set_status(
        state,
        actor,
        id,
        headers,
        TenantStatus::Suspended,
        "tenant.suspend",
    )
    .await
}

/// Resumes a suspended tenant.
#[utoipa::path(
    post,
    path = "/admin/api/v1/tenants/{id}/resume",
    tag = "tenants",
    params(
        ("id" = String, Path, description = "Tenant ID"),
        ("If-Match" = Option<String>, Header, description = "The ETag the tenant must still have"),
    ),
    responses(
        (status = 200, description = "Active (or already was)", body = TenantView),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 409, description = "The tenant is being deleted", body = ErrorBody),
        (status = 412, description = "If-Match does not match", body = ErrorBody),
    )
)]
pub(crate) async fn resume(
    State(state): State<AdminState>,
    Actor(actor): Actor,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    set_status(
        state,
        actor,
        id,
        headers,
        TenantStatus::Active,
        "tenant.resume",
    )
    .await
}

/// Starts deleting the tenant: it becomes `deleting` (every request refused) and a background
/// job removes its data and then the tenant itself; until then its ID cannot be reused.
#[utoipa::path(
    delete,
    path = "/admin/api/v1/tenants/{id}",
    tag = "tenants",
    params(
        ("id" = String, Path, description = "Tenant ID"),
        ("If-Match" = Option<String>, Header, description = "The ETag the tenant must still have"),
    ),
    responses(
        (status = 202, description = "Deletion started (or already was)", body = TenantView),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 412, description = "If-Match does not match", body = ErrorBody),
    )
)]
pub(crate) async fn delete(
    State(state): State<AdminState>,
    Actor(actor): Actor,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let if_match = IfMatch::from_headers(&headers)?;
    let tenant = existing_tenant(&state, &path_tenant(&id)?).await?;
    if tenant.status == TenantStatus::Deleting {
        return Ok(tenant_response(StatusCode::ACCEPTED, &tenant));
    }
    let update = TenantUpdate {
        status: Some(TenantStatus::Deleting),
        ..TenantUpdate::default()
    };
    let after = apply(&state, &actor, "tenant.delete", &tenant, update, if_match).await?;
    Ok(tenant_response(StatusCode::ACCEPTED, &after))
}
