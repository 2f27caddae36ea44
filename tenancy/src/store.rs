//! The tenant store port: tenants, their limit overrides and API keys, implemented by every
//! engine and checked by the conformance suite.

use std::time::SystemTime;

use async_trait::async_trait;
use sextant_model::TenantId;

use crate::audit::AuditHook;
use crate::error::Result;
use crate::keys::Pepper;
use crate::tenant::{
    ApiKey, KeyRecord, LimitOverrides, NewKey, Snapshot, Tenant, TenantPage, TenantQuery,
    TenantStatus, TenantUpdate,
};

/// Tenants and API keys in the control-plane database. Every mutation except
/// [`TenantStore::touch_key`] bumps the store's revision in its own transaction.
#[async_trait]
pub trait TenantStore: Send + Sync + 'static {
    /// Creates an active tenant at version 1 without overrides and with the default generator
    /// settings; an existing ID (in any status, `deleting` included) is a conflict.
    async fn create_tenant(&self, id: &TenantId, display_name: &str) -> Result<Tenant>;

    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>>;

    /// Every tenant, ordered by ID.
    async fn list_tenants(&self) -> Result<Vec<Tenant>>;

    /// A page of tenants ordered by ID, after `query.after` (exclusive), at most
    /// `query.limit` (1 to [`TenantQuery::MAX_LIMIT`], else invalid), filtered by status.
    async fn list_tenants_page(&self, query: &TenantQuery) -> Result<TenantPage>;

    /// Sets a tenant's status (an [`TenantStore::update_tenant`] of the status alone); an
    /// unknown tenant is not found, a `deleting` one invalid.
    async fn set_status(&self, id: &TenantId, status: TenantStatus) -> Result<Tenant>;

    /// Replaces a tenant's limit overrides with `limits` (an [`TenantStore::update_tenant`] of
    /// the limits alone); overrides that do not validate are invalid.
    async fn set_limits(&self, id: &TenantId, limits: LimitOverrides) -> Result<Tenant>;

    /// Applies the set fields of `update` in one transaction and returns the tenant after it,
    /// its version bumped. With `expected_version`, a tenant at another version is refused
    /// with [`crate::Error::Stale`] and nothing changes. An unknown tenant is not found;
    /// setting the status of a `deleting` tenant is invalid (deleting is final); limits or
    /// generator settings that do not validate are invalid. An update without fields changes
    /// nothing (no version or revision bump) once the preconditions hold.
    async fn update_tenant(
        &self,
        id: &TenantId,
        update: TenantUpdate,
        expected_version: Option<u64>,
    ) -> Result<Tenant>;

    /// Removes a `deleting` tenant in one transaction: its row, its keys (and its ID from
    /// other keys' read tenants), its block-catalog rows and its leases `*/<tenant>`. Usage
    /// and audit rows stay (billing records). False for an unknown tenant; invalid when the
    /// tenant is not `deleting`. Afterwards the ID can be created again.
    async fn purge_tenant(&self, id: &TenantId) -> Result<bool>;

    /// Creates a key; returns it with the whole key string, which is never stored and cannot
    /// be shown again. The tenant and every read tenant must exist.
    async fn create_key(&self, key: NewKey, pepper: &Pepper) -> Result<(ApiKey, String)>;

    /// [`TenantStore::create_tenant`], appending `audit`'s entry in the same transaction.
    async fn create_tenant_audited(
        &self,
        id: &TenantId,
        display_name: &str,
        audit: AuditHook,
    ) -> Result<Tenant>;

    /// [`TenantStore::update_tenant`], appending `audit`'s entry in the same transaction (an
    /// update that changes nothing appends nothing).
    async fn update_tenant_audited(
        &self,
        id: &TenantId,
        update: TenantUpdate,
        expected_version: Option<u64>,
        audit: AuditHook,
    ) -> Result<Tenant>;

    /// [`TenantStore::create_key`], appending `audit`'s entry in the same transaction.
    async fn create_key_audited(
        &self,
        key: NewKey,
        pepper: &Pepper,
        audit: AuditHook,
    ) -> Result<(ApiKey, String)>;

    /// [`TenantStore::revoke_key`], appending `audit`'s entry in the same transaction.
    async fn revoke_key_audited(&self, key_id: &str, audit: AuditHook) -> Result<ApiKey>;

    /// The keys of one tenant, revoked ones included, ordered by creation then ID.
    async fn list_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKey>>;

    /// Revokes a key (revoking again keeps the first time); an unknown key is not found.
    async fn revoke_key(&self, key_id: &str) -> Result<ApiKey>;

    /// A key with its digest, for authentication.
    async fn find_key(&self, key_id: &str) -> Result<Option<KeyRecord>>;

    /// Records a use of a key at `at` (never moves backwards). Does not bump the revision:
    /// last-used times are not part of a snapshot.
    async fn touch_key(&self, key_id: &str, at: SystemTime) -> Result<()>;

    /// Every tenant and key, with the revision they were read at, in one transaction.
    async fn snapshot(&self) -> Result<Snapshot>;

    /// The current revision, cheap: a poller reloads the snapshot only when it moved.
    async fn revision(&self) -> Result<u64>;
}
