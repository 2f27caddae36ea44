//! The control-plane database: tenants, API keys, users, limits, quotas, usage, audit, the block
//! catalog and leases, on Postgres and on SQLite (the embedded default). The only crate that
//! speaks SQL; it implements the model's `TenantDirectory`, `BlockCatalog` and `Lease` ports.
//!
//! Today it holds the block catalog and leases on SQLite ([`SqliteStore`]): one database file in
//! WAL mode, schema from numbered migrations embedded from `migrations/sqlite/` and applied in
//! one transaction on open (a database from a newer binary is refused). Statements are
//! runtime-checked (`sqlx::query`, no compile-time macros), so the workspace builds without a
//! database. Every implementation of the ports runs the same conformance suite
//! (`conformance`, public behind the `conformance` feature). The Postgres schema is in
//! `migrations/postgres/`, and [`PostgresStore`] implements the same ports (its tests need a
//! server at `SEXTANT_TEST_POSTGRES_URL`, which `./scripts/test.sh` starts and sets; unset, they
//! fail).
//!
//! Tenants, their limit overrides ([`LimitOverrides::apply`] merges field by field over the
//! configured [`sextant_model::Limits`]) and API keys live behind [`TenantStore`], implemented
//! by both stores. A key reads `sxt_<12 base32 id>_<32 base62 secret><6 base62 CRC32>`; only
//! `HMAC-SHA-256(pepper, secret)` is stored. [`TenantStore::snapshot`] reads every tenant and
//! key in one transaction, and [`authenticate`] checks a presented key against it in memory with
//! a constant-time comparison; every mutation bumps [`TenantStore::revision`], so a poller
//! reloads only on change. Wiring into the gateway, the CLI and `TenantDirectory` come later.

mod admin;
mod admin_sql;
mod auth;
mod clock;
mod config;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod control;
mod database;
mod error;
mod keys;
mod migrate;
mod postgres;
mod rows;
mod sqlite;
mod store;
mod tenant;
mod tenant_sql;
#[cfg(test)]
mod testing;
mod usage;

pub use admin::{
    AdminStore, AdminToken, AdminUser, Bootstrap, MIN_PASSWORD_LEN, MIN_SUPPLIED_TOKEN_LEN,
};
pub use auth::{Principal, authenticate, authenticate_admin};
pub use clock::{Clock, ManualClock, system_clock};
pub use config::SqliteConfig;
pub use control::{ControlPlane, ControlPlaneConfig, ControlPlaneStatus};
pub use database::{Database, DatabaseOptions, bootstrap};
pub use error::{Error, Result};
pub use keys::{
    ADMIN_TOKEN_PREFIX, KEY_LEN, KEY_PREFIX, KeyDigest, ParsedKey, Pepper,
    generate as generate_key, is_key_id, parse as parse_key,
};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use store::TenantStore;
pub use tenant::{
    ApiKey, KeyRecord, LimitOverrides, NewKey, Scopes, Snapshot, Tenant, TenantStatus,
};
pub use usage::{UsageRow, UsageStore, UtcDay};

use sextant_model::TenantId;

/// Blocks and bytes one tenant has in the catalog, by state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantStats {
    pub tenant: TenantId,
    pub live_blocks: u64,
    pub live_bytes: u64,
    pub retired_blocks: u64,
    pub retired_bytes: u64,
}

impl TenantStats {
    pub(crate) fn empty(tenant: TenantId) -> Self {
        Self {
            tenant,
            live_blocks: 0,
            live_bytes: 0,
            retired_blocks: 0,
            retired_bytes: 0,
        }
    }
}
