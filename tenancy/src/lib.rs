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
//! fail). The tenant directory comes with the tenancy issue.

mod clock;
mod config;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod error;
mod migrate;
mod postgres;
mod rows;
mod sqlite;

pub use clock::{Clock, ManualClock, system_clock};
pub use config::SqliteConfig;
pub use error::{Error, Result};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

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
