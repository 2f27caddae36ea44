//! The control-plane database: tenants, API keys, admin users and tokens, limits, quotas,
//! usage, the audit log, the block catalog and leases, on Postgres and on SQLite (the embedded default). The
//! only crate that speaks SQL; it implements the model's `TenantDirectory`, `Authenticator`,
//! `UsageMeter`, `BlockCatalog` and `Lease` ports. It must not reach for object storage, the
//! pipeline or the edge.
//!
//! Opening: [`Database::connect`] takes `sqlite://relative.db`, `sqlite:///absolute.db`,
//! `sqlite::memory:` or `postgres://…`/`postgresql://…` and yields a [`Database`] over a
//! [`SqliteStore`] (one file in WAL mode with a busy timeout, so a CLI process can write while
//! `serve` runs) or a [`PostgresStore`]. The schema comes from numbered migrations embedded
//! from `migrations/{sqlite,postgres}/`: with [`DatabaseOptions::migrate`] they are applied on
//! connect (on Postgres under an advisory lock, so processes starting together apply each
//! once); without, a schema behind this binary is refused ("run `sextant migrate`", which uses
//! [`Database::connect_unmigrated`] then [`Database::migrate`]). A database from a newer binary
//! is always refused. Statements are runtime-checked (`sqlx::query`, no compile-time macros),
//! so the workspace builds without a database.
//!
//! Stores: [`TenantStore`] (tenants, their [`LimitOverrides`] merged field by field over the
//! configured [`sextant_model::Limits`] and their [`sextant_model::GeneratorSettings`], each
//! with a version for optimistic concurrency ([`TenantStore::update_tenant`] with an expected
//! version, else [`Error::Stale`]), paged listing, and the purge of a `deleting` tenant with
//! its keys, catalog rows and leases; API keys `sxt_<12 base32 id>_<32 base62 secret><6
//! base62 CRC32>` of which only `HMAC-SHA-256(pepper, secret)` is kept), [`AdminStore`] (admin
//! users with Argon2id PHC passwords at OWASP's parameters, rehashed on sign-in when weaker;
//! admin tokens `sxa_…` or operator-supplied, kept as the HMAC of the whole string),
//! [`UsageStore`] (accepted bytes and spans, query requests and discards by reason, counted,
//! and stored bytes and blocks, a level set by [`UsageStore::record_storage`], per tenant and
//! [`UtcDay`]; kept when a tenant is purged) and [`AuditStore`] (the append-only log of admin
//! mutations, newest first by a cursor; triggers on both engines refuse changing it).
//! Every mutation of what a [`Snapshot`] holds (tenants, keys, admin tokens) bumps
//! [`TenantStore::revision`] in its transaction; on Postgres a trigger then NOTIFYs
//! `sextant_tenancy`. [`bootstrap`] turns an empty database into a usable one on a first start
//! (tenant `single-tenant`, a read+write key, an admin token), exactly once under races. Every
//! engine runs one conformance suite (`conformance`, public behind the `conformance` feature);
//! the Postgres tests need a server at `SEXTANT_TEST_POSTGRES_URL` (`./scripts/test.sh` starts
//! one and sets it; unset, they fail).
//!
//! Run time: [`ControlPlane`] serves authentication ([`authenticate`] for keys,
//! [`authenticate_admin`] for admin tokens), effective limits and quota reads from an in-memory
//! snapshot, with no database on the request path. It polls the revision (and LISTENs on
//! Postgres) to reload, keeps serving the last snapshot when the database is unreachable (fail
//! static, reported by [`ControlPlane::status`]), meters usage in memory and writes it and key
//! last-use times back in batches; [`ControlPlane::close`] stops it and flushes.

mod admin;
mod admin_sql;
mod audit;
mod audit_sql;
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
pub use audit::{AuditEntry, AuditHook, AuditQuery, AuditStore, Change, NewAuditEntry};
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
    ApiKey, KeyRecord, LimitOverrides, NewKey, Scopes, Snapshot, Tenant, TenantPage, TenantQuery,
    TenantStatus, TenantUpdate,
};
pub use usage::{StorageLevel, UsageRow, UsageStore, UtcDay};

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
