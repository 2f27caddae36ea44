//! The control plane as the edge sees it: who a credential belongs to, what state a tenant is in,
//! and how much a tenant has ingested. Implemented from in-memory snapshots (no database on the
//! request path) by `tenancy`; consumed by the gateway.

use std::time::SystemTime;

use crate::{DiscardReason, Result, TenantId};

/// Where a tenant is in its life (DESIGN.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TenantStatus {
    /// Everything allowed.
    Active,
    /// Ingest refused (403); reads allowed so the tenant can still export its data.
    Suspended,
    /// Everything refused while its data is removed.
    Deleting,
}

impl TenantStatus {
    pub const ALL: [TenantStatus; 3] = [Self::Active, Self::Suspended, Self::Deleting];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Deleting => "deleting",
        }
    }

    /// Parses `active`, `suspended` or `deleting`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// Whether spans may be written for a tenant in this state.
    pub fn allows_ingest(self) -> bool {
        self == Self::Active
    }

    /// Whether a tenant in this state may be read.
    pub fn allows_reads(self) -> bool {
        self != Self::Deleting
    }
}

impl std::fmt::Display for TenantStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API key that authenticated: whose it is and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyIdentity {
    /// The public part of the key (for logs and last-used bookkeeping).
    pub key_id: String,
    /// The tenant the key belongs to: the tenant of everything it writes.
    pub tenant: TenantId,
    /// That tenant's status when the snapshot was taken.
    pub status: TenantStatus,
    /// `traces:write`.
    pub write: bool,
    /// `traces:read`.
    pub read: bool,
    /// Further tenants this key may read (`a|b` federation), set by an admin.
    pub read_tenants: Vec<TenantId>,
}

impl KeyIdentity {
    /// Whether this key may read `tenant` (its own, or one of its extra read tenants).
    pub fn may_read(&self, tenant: &TenantId) -> bool {
        self.read && (&self.tenant == tenant || self.read_tenants.contains(tenant))
    }
}

/// Who presented a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A tenant's API key.
    Key(KeyIdentity),
    /// An operator (admin token or admin session): may act on any tenant it names in
    /// `X-Scope-OrgID`, and on the admin API.
    Admin {
        /// The token's or user's name, for the audit log and the access log.
        name: String,
    },
}

/// Checks credentials against an in-memory snapshot of the control plane.
///
/// Every failure (malformed, unknown, wrong secret, revoked, expired, unknown tenant) is an
/// [`ErrorKind::Unauthenticated`](crate::ErrorKind::Unauthenticated) error with the same
/// message, so a caller learns nothing about which part was wrong. When the database is
/// unreachable the last snapshot keeps answering (fail static): known keys still work and
/// unknown ones are still refused.
pub trait Authenticator: Send + Sync + 'static {
    /// The identity behind a presented secret: an API key (`sxt_…`) or an admin token.
    fn authenticate(&self, secret: &str) -> Result<Identity>;

    /// A tenant's status, or `None` when the tenant does not exist (used when an admin names a
    /// tenant in `X-Scope-OrgID`).
    fn tenant_status(&self, tenant: &TenantId) -> Option<TenantStatus>;
}

/// Decompressed bytes a tenant has had accepted in the current UTC day and month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeriodUsage {
    pub day_bytes: u64,
    pub month_bytes: u64,
}

/// What one request did to a tenant's usage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageDelta {
    /// Decompressed request bytes accepted (counted against quotas).
    pub accepted_bytes: u64,
    pub accepted_spans: u64,
    /// Query-API requests (trace by ID, search, tags, metrics, each streaming call).
    pub queries: u64,
    /// Spans discarded, by reason. Requests refused before decoding (rate limit, quota)
    /// count their bytes here with zero spans: their spans were never looked at.
    pub discarded: Vec<Discard>,
}

/// Spans and bytes discarded for one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Discard {
    pub reason: DiscardReason,
    pub spans: u64,
    pub bytes: u64,
}

/// Usage metering per tenant and UTC day: kept in memory, persisted periodically (at most a
/// persistence interval is lost in a crash), and the source of daily/monthly quota checks.
pub trait UsageMeter: Send + Sync + 'static {
    /// Adds one request's usage at `at` (its UTC day is the bucket).
    fn record(&self, tenant: &TenantId, at: SystemTime, delta: &UsageDelta);

    /// What `tenant` has had accepted so far in the UTC day and month containing `now`.
    fn usage(&self, tenant: &TenantId, now: SystemTime) -> PeriodUsage;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_gate() {
        for s in TenantStatus::ALL {
            assert_eq!(TenantStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(TenantStatus::parse("gone"), None);
        assert!(TenantStatus::Active.allows_ingest());
        assert!(!TenantStatus::Suspended.allows_ingest());
        assert!(TenantStatus::Suspended.allows_reads());
        assert!(!TenantStatus::Deleting.allows_reads());
    }

    #[test]
    fn a_key_reads_its_own_and_its_extra_tenants_only_with_the_read_scope() {
        let t = |s: &str| TenantId::new(s).unwrap();
        let mut key = KeyIdentity {
            key_id: "k".into(),
            tenant: t("aaa"),
            status: TenantStatus::Active,
            write: true,
            read: true,
            read_tenants: vec![t("bbb")],
        };
        assert!(key.may_read(&t("aaa")));
        assert!(key.may_read(&t("bbb")));
        assert!(!key.may_read(&t("ccc")));
        key.read = false;
        assert!(!key.may_read(&t("aaa")));
    }
}
