//! Authentication of a presented key against a [`Snapshot`], in memory: no database on the
//! request path.

use std::time::SystemTime;

use sextant_model::TenantId;

use crate::admin::AdminToken;
use crate::error::{Error, Result};
use crate::keys::{self, KeyDigest, Pepper};
use crate::tenant::{Scopes, Snapshot, TenantStatus};

/// Who a request is, once its key is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant: TenantId,
    /// The tenant's status: the edge refuses ingest to a suspended tenant and everything to a
    /// deleting one (403), since the key itself is valid.
    pub status: TenantStatus,
    pub scopes: Scopes,
    pub read_tenants: Vec<TenantId>,
    pub key_id: String,
}

/// Checks `presented` against `snapshot` at `now`. A malformed, unknown, wrong, revoked or
/// expired key, or one of an unknown tenant, all fail alike with [`Error::Unauthenticated`].
/// The digest is computed before the lookup and compared in constant time.
pub fn authenticate(
    snapshot: &Snapshot,
    presented: &str,
    pepper: &Pepper,
    now: SystemTime,
) -> Result<Principal> {
    let parsed = keys::parse(presented)?;
    let digest = KeyDigest::compute(pepper, &parsed.secret);
    let record = snapshot
        .keys
        .get(&parsed.key_id)
        .ok_or(Error::Unauthenticated)?;
    if !record.digest.matches(&digest) {
        return Err(Error::Unauthenticated);
    }
    let key = &record.key;
    if key.revoked_at.is_some() || key.expires_at.is_some_and(|at| at <= now) {
        return Err(Error::Unauthenticated);
    }
    let tenant = snapshot
        .tenants
        .get(&key.tenant)
        .ok_or(Error::Unauthenticated)?;
    Ok(Principal {
        tenant: key.tenant.clone(),
        status: tenant.status,
        scopes: key.scopes,
        read_tenants: key.read_tenants.clone(),
        key_id: key.key_id.clone(),
    })
}

/// Checks a presented admin token against `snapshot` at `now`: its HMAC digest is looked up
/// (the map is keyed by a keyed digest, so the lookup's timing tells nothing). Unknown, revoked
/// and expired tokens all fail alike with [`Error::Unauthenticated`].
pub fn authenticate_admin(
    snapshot: &Snapshot,
    presented: &str,
    pepper: &Pepper,
    now: SystemTime,
) -> Result<AdminToken> {
    if presented.is_empty() {
        return Err(Error::Unauthenticated);
    }
    let digest = KeyDigest::compute(pepper, presented);
    match snapshot.admin_tokens.get(&digest.0) {
        Some(token) if token.is_valid_at(now) => Ok(token.clone()),
        _ => Err(Error::Unauthenticated),
    }
}

#[cfg(test)]
mod tests;
