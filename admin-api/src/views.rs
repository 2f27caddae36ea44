//! The JSON documents the API answers with, built from tenancy's types; never a secret.

use std::time::SystemTime;

use serde::Serialize;
use sextant_model::TenantId;
use sextant_tenancy::{ApiKey, Tenant};
use utoipa::ToSchema;

use crate::error::{AdminError, Result};

/// RFC 3339 in UTC with whole seconds: `2026-01-02T03:04:05Z`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Parses RFC 3339 with any offset (`Z`, `+02:00`).
pub(crate) fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let t = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    let secs = u64::try_from(t.timestamp()).ok()?;
    Some(
        SystemTime::UNIX_EPOCH
            + std::time::Duration::from_secs(secs)
            + std::time::Duration::from_nanos(u64::from(t.timestamp_subsec_nanos())),
    )
}

/// A tenant ID from a path: a malformed one names no tenant (404).
pub(crate) fn path_tenant(id: &str) -> Result<TenantId> {
    TenantId::new(id).map_err(|_| no_tenant(id))
}

pub(crate) fn no_tenant(id: &str) -> AdminError {
    AdminError::NotFound(format!(
        "no tenant {:?}",
        id.chars().take(80).collect::<String>()
    ))
}

/// A tenant.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct TenantView {
    /// `[a-z0-9][a-z0-9_-]{2,63}`, immutable.
    pub(crate) id: String,
    pub(crate) display_name: String,
    /// `active`, `suspended` (ingest refused, reads allowed) or `deleting` (everything
    /// refused while its data is removed).
    pub(crate) status: String,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    /// Grows on every change of the tenant, its limits or generator settings: the `ETag`.
    pub(crate) version: u64,
}

impl From<&Tenant> for TenantView {
    fn from(t: &Tenant) -> Self {
        Self {
            id: t.id.to_string(),
            display_name: t.display_name.clone(),
            status: t.status.as_str().to_owned(),
            created_at: rfc3339(t.created_at),
            updated_at: rfc3339(t.updated_at),
            version: t.version,
        }
    }
}

/// A JSON value for the audit log (views always serialise).
pub(crate) fn json<T: Serialize>(view: &T) -> Option<serde_json::Value> {
    serde_json::to_value(view).ok()
}

/// An API key as listed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct KeyView {
    pub(crate) key_id: String,
    /// How the key starts (`sxt_<key id>`), to recognise it.
    pub(crate) prefix: String,
    pub(crate) tenant: String,
    pub(crate) name: String,
    /// `traces:write`, `traces:read`.
    pub(crate) scopes: Vec<String>,
    /// Further tenants this key may read (`a|b` queries).
    pub(crate) read_tenants: Vec<String>,
    pub(crate) created_at: String,
    pub(crate) expires_at: Option<String>,
    /// Written lazily: may lag the last use by a minute.
    pub(crate) last_used_at: Option<String>,
    pub(crate) revoked_at: Option<String>,
}

impl From<&ApiKey> for KeyView {
    fn from(k: &ApiKey) -> Self {
        let mut scopes = Vec::new();
        if k.scopes.write {
            scopes.push(sextant_tenancy::Scopes::WRITE.to_owned());
        }
        if k.scopes.read {
            scopes.push(sextant_tenancy::Scopes::READ.to_owned());
        }
        Self {
            key_id: k.key_id.clone(),
            prefix: format!("{}{}", sextant_tenancy::KEY_PREFIX, k.key_id),
            tenant: k.tenant.to_string(),
            name: k.description.clone(),
            scopes,
            read_tenants: k.read_tenants.iter().map(ToString::to_string).collect(),
            created_at: rfc3339(k.created_at),
            expires_at: k.expires_at.map(rfc3339),
            last_used_at: k.last_used_at.map(rfc3339),
            revoked_at: k.revoked_at.map(rfc3339),
        }
    }
}

/// A new key with its secret: the only time the secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedKey {
    #[serde(flatten)]
    pub(crate) key: KeyView,
    /// The whole key (`sxt_…`): for `Authorization: Bearer` or as the Basic password with the
    /// tenant ID as username. Shown once, never stored.
    pub(crate) secret: String,
}

/// A list of keys.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeyList {
    pub(crate) items: Vec<KeyView>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let t = parse_rfc3339("2026-03-01T12:00:00+02:00").unwrap();
        assert_eq!(rfc3339(t), "2026-03-01T10:00:00Z");
        assert!(parse_rfc3339("2026-03-01").is_none());
        assert!(parse_rfc3339("1960-01-01T00:00:00Z").is_none());
    }
}
