//! A tenant's API keys: create (the secret is answered once), list, revoke.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use sextant_model::{TenantId, TenantStatus};
use sextant_tenancy::{NewKey, Scopes, Tenant, TenantStore};
use utoipa::ToSchema;

use crate::audit::key_change;
use crate::auth::Actor;
use crate::body::{JsonBody, decode_fields};
use crate::error::{AdminError, ErrorBody, FieldDetail, Result};
use crate::state::AdminState;
use crate::views::{CreatedKey, KeyList, KeyView, no_tenant, parse_rfc3339, path_tenant};

/// A key to create.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateKeyRequest {
    /// What the key is for (1 to 200 characters).
    #[serde(default)]
    pub(crate) name: String,
    /// At least one of `traces:write`, `traces:read`.
    #[serde(default)]
    pub(crate) scopes: Vec<String>,
    /// RFC 3339; unset: the key does not expire.
    #[serde(default)]
    #[schema(nullable = false)]
    pub(crate) expires_at: Option<String>,
    /// Further tenants the key may read (`a|b` queries).
    #[serde(default)]
    pub(crate) read_tenants: Vec<String>,
}

/// The tenant, which must exist (404).
pub(crate) async fn existing_tenant(state: &AdminState, id: &TenantId) -> Result<Tenant> {
    state
        .db
        .get_tenant(id)
        .await?
        .ok_or_else(|| no_tenant(id.as_str()))
}

/// The tenant, refused with 409 when it is being deleted (nothing of it changes any more).
pub(crate) async fn changeable_tenant(state: &AdminState, id: &TenantId) -> Result<Tenant> {
    let tenant = existing_tenant(state, id).await?;
    refuse_deleting(&tenant)?;
    Ok(tenant)
}

/// 409 for a tenant being deleted.
pub(crate) fn refuse_deleting(tenant: &Tenant) -> Result<()> {
    if tenant.status == TenantStatus::Deleting {
        return Err(AdminError::Conflict(format!(
            "tenant {} is being deleted",
            tenant.id
        )));
    }
    Ok(())
}

/// The request checked field by field; every problem named.
fn new_key(state: &AdminState, tenant: &TenantId, body: serde_json::Value) -> Result<NewKey> {
    let (request, mut details): (CreateKeyRequest, _) = decode_fields(body, &["name", "scopes"]);
    let name = request.name.trim().to_owned();
    let (bad_name, bad_scopes) = (
        details_has(&details, "name"),
        details_has(&details, "scopes"),
    );
    if !bad_name
        && (name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control))
    {
        details.push(FieldDetail::new(
            "name",
            "must be 1 to 200 printable characters",
        ));
    }
    let mut scopes = Scopes::default();
    if !bad_scopes {
        for (i, scope) in request.scopes.iter().enumerate() {
            match scope.as_str() {
                Scopes::WRITE => scopes.write = true,
                Scopes::READ => scopes.read = true,
                _ => details.push(FieldDetail::new(
                    format!("scopes[{i}]"),
                    "unknown scope (traces:write, traces:read)",
                )),
            }
        }
        if request.scopes.is_empty() {
            details.push(FieldDetail::new("scopes", "needs at least one scope"));
        }
    }
    let mut expires_at = None;
    if let Some(text) = &request.expires_at {
        match parse_rfc3339(text) {
            Some(t) if t > state.now() => expires_at = Some(t),
            Some(_) => details.push(FieldDetail::new("expires_at", "must be in the future")),
            None => details.push(FieldDetail::new(
                "expires_at",
                "must be an RFC 3339 time such as 2030-01-01T00:00:00Z",
            )),
        }
    }
    let mut read_tenants = Vec::new();
    for (i, t) in request.read_tenants.iter().enumerate() {
        match TenantId::new(t) {
            Ok(id) if &id == tenant => {}
            Ok(id) => read_tenants.push(id),
            Err(_) => details.push(FieldDetail::new(
                format!("read_tenants[{i}]"),
                "not a tenant ID ([a-z0-9][a-z0-9_-]{2,63})",
            )),
        }
    }
    if !details.is_empty() {
        return Err(AdminError::Validation(details));
    }
    Ok(NewKey {
        tenant: tenant.clone(),
        scopes,
        read_tenants,
        expires_at,
        description: name,
    })
}

fn details_has(details: &[FieldDetail], field: &str) -> bool {
    details.iter().any(|d| d.field == field)
}

/// Creates a key and answers it with its secret (`Cache-Control: no-store`).
pub(crate) async fn create_and_answer(
    state: &AdminState,
    actor: &str,
    action: &'static str,
    new: NewKey,
) -> Result<CreatedKey> {
    changeable_tenant(state, &new.tenant).await?;
    let (key, secret) = state
        .db
        .create_key_audited(new, &state.pepper, key_change(actor, action))
        .await?;
    Ok(CreatedKey {
        key: KeyView::from(&key),
        secret,
    })
}

/// Creates an API key for the tenant. The answer holds the whole key once; it is never shown
/// again.
#[utoipa::path(
    post,
    path = "/admin/api/v1/tenants/{id}/keys",
    tag = "keys",
    params(("id" = String, Path, description = "Tenant ID")),
    request_body = CreateKeyRequest,
    responses(
        (status = 201, description = "Created; `secret` is shown only now", body = CreatedKey),
        (status = 400, description = "Invalid fields", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 409, description = "The tenant is being deleted", body = ErrorBody),
    )
)]
pub(crate) async fn create_key(
    State(state): State<AdminState>,
    Actor(actor): Actor,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Response> {
    let tenant = path_tenant(&id)?;
    existing_tenant(&state, &tenant).await?;
    let new = new_key(&state, &tenant, body)?;
    let created = create_and_answer(&state, &actor, "key.create", new).await?;
    let location = format!("/admin/api/v1/tenants/{tenant}/keys/{}", created.key.key_id);
    Ok((
        StatusCode::CREATED,
        [
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::LOCATION,
                HeaderValue::from_str(&location)
                    .map_err(|e| AdminError::Internal(e.to_string()))?,
            ),
        ],
        Json(created),
    )
        .into_response())
}

/// The tenant's keys, revoked ones included; never their secrets.
#[utoipa::path(
    get,
    path = "/admin/api/v1/tenants/{id}/keys",
    tag = "keys",
    params(("id" = String, Path, description = "Tenant ID")),
    responses(
        (status = 200, description = "The keys, oldest first", body = KeyList),
        (status = 404, description = "No such tenant", body = ErrorBody),
    )
)]
pub(crate) async fn list_keys(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<KeyList>> {
    let tenant = path_tenant(&id)?;
    existing_tenant(&state, &tenant).await?;
    let keys = state.db.list_keys(&tenant).await?;
    Ok(Json(KeyList {
        items: keys.iter().map(KeyView::from).collect(),
    }))
}

/// Revokes a key of the tenant (at once for new requests, within the snapshot refresh for
/// running processes). Revoking again keeps the first revocation time.
#[utoipa::path(
    delete,
    path = "/admin/api/v1/tenants/{id}/keys/{key_id}",
    tag = "keys",
    params(
        ("id" = String, Path, description = "Tenant ID"),
        ("key_id" = String, Path, description = "Key ID (the part after `sxt_`)"),
    ),
    responses(
        (status = 200, description = "Revoked", body = KeyView),
        (status = 404, description = "No such tenant, or no such key of this tenant", body = ErrorBody),
    )
)]
pub(crate) async fn revoke_key(
    State(state): State<AdminState>,
    Actor(actor): Actor,
    Path((id, key_id)): Path<(String, String)>,
) -> Result<Json<KeyView>> {
    let tenant = path_tenant(&id)?;
    existing_tenant(&state, &tenant).await?;
    let not_found = || AdminError::NotFound(format!("tenant {tenant} has no key {key_id:?}"));
    if !sextant_tenancy::is_key_id(&key_id) {
        return Err(not_found());
    }
    let record_before = state.db.find_key(&key_id).await?.ok_or_else(not_found)?;
    // Another tenant's key is not this tenant's: the same 404 as an unknown key.
    if record_before.key.tenant != tenant {
        return Err(not_found());
    }
    // Revoking again changes nothing, and records nothing.
    let key = if record_before.key.revoked_at.is_some() {
        state.db.revoke_key(&key_id).await?
    } else {
        let audit = key_change(&actor, "key.revoke");
        state.db.revoke_key_audited(&key_id, audit).await?
    };
    Ok(Json(KeyView::from(&key)))
}
