//! The append-only audit log of admin mutations: who did what to which tenant and object, with
//! the object's JSON before and after. The store offers no way to change or remove an entry,
//! and the schema refuses it too (triggers on both engines).

use std::time::SystemTime;

use async_trait::async_trait;
use sextant_model::TenantId;

use crate::error::Result;
use crate::tenant::{ApiKey, Tenant};

/// An entry to append; the store assigns its ID and time.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    /// The admin token's or user's name.
    pub actor: String,
    /// What was done, `<object>.<verb>`: `tenant.create`, `key.revoke`, ...
    pub action: String,
    /// The tenant acted on, if any.
    pub tenant: Option<TenantId>,
    /// The object acted on within it (a key ID, a token ID, a user name; empty for the
    /// tenant itself).
    pub target: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// What an audited mutation changed, handed to its [`AuditHook`] inside the mutation's own
/// transaction.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// A tenant created (`before` is `None`) or updated.
    Tenant {
        before: Option<&'a Tenant>,
        after: &'a Tenant,
    },
    /// A key created (`before` is `None`) or revoked.
    Key {
        before: Option<&'a ApiKey>,
        after: &'a ApiKey,
    },
}

/// Builds the audit entry of a mutation from what it changed. The store appends the entry in
/// the mutation's transaction: the change and its audit entry are stored together or not at
/// all. The hook must not put secrets into the entry.
pub type AuditHook = Box<dyn for<'a> FnOnce(Change<'a>) -> NewAuditEntry + Send>;

/// An entry as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Grows with every append.
    pub id: u64,
    /// When it was appended, to the millisecond.
    pub at: SystemTime,
    pub actor: String,
    pub action: String,
    pub tenant: Option<TenantId>,
    pub target: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Which entries [`AuditStore::list_audit`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only entries about this tenant; all when `None`.
    pub tenant: Option<TenantId>,
    /// Only entries older than this ID (the last ID of the previous page).
    pub before_id: Option<u64>,
    /// At most this many, 1 to [`AuditQuery::MAX_LIMIT`].
    pub limit: usize,
}

impl AuditQuery {
    pub const MAX_LIMIT: usize = 1000;
}

/// The audit log in the control-plane database: append and read, nothing else.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends an entry at the store's clock time and returns it as stored.
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry>;

    /// Entries newest first (by descending ID), filtered and paged by `query`; a `limit`
    /// outside 1 to [`AuditQuery::MAX_LIMIT`] is invalid.
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>>;
}
