//! One handle over either engine, chosen by URL, and the first-start bootstrap.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sextant_model::{BlockCatalog, BlockMeta, Lease, LeaseGuard, PeriodUsage, TenantId, TimeRange};
use sqlx::postgres::PgConnectOptions;

use crate::admin::{AdminStore, AdminToken, AdminUser, Bootstrap};
use crate::audit::{AuditEntry, AuditHook, AuditQuery, AuditStore, NewAuditEntry};
use crate::config::SqliteConfig;
use crate::error::{Error, Result};
use crate::keys::Pepper;
use crate::migrate::OnOpen;
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::store::TenantStore;
use crate::tenant::{
    ApiKey, KeyRecord, LimitOverrides, NewKey, Snapshot, Tenant, TenantPage, TenantQuery,
    TenantStatus, TenantUpdate,
};
use crate::usage::{StorageLevel, UsageRow, UsageStore, UtcDay};

/// How [`Database::connect`] opens the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseOptions {
    /// SQLite settings (busy timeout, pool); its `max_connections` applies to SQLite.
    pub sqlite: SqliteConfig,
    /// Connections in the Postgres pool.
    pub max_connections: u32,
    /// How long a Postgres caller waits for a connection (including reconnecting) before
    /// failing as unavailable.
    pub acquire_timeout: Duration,
    /// Apply missing migrations on connect; when false, a database whose schema is behind is
    /// refused with "run `sextant migrate`".
    pub migrate: bool,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        Self {
            sqlite: SqliteConfig::default(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(10),
            migrate: true,
        }
    }
}

/// The control-plane database: SQLite (embedded, one process) or Postgres (shared).
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

/// What a database URL names.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    SqliteMemory,
    SqliteFile(PathBuf),
    Postgres,
}

const SCHEMES: &str = "sqlite://<path> (sqlite:///<absolute path>), sqlite::memory:, \
    postgres:// or postgresql://";

fn target(url: &str) -> Result<Target> {
    if url == "sqlite::memory:" {
        return Ok(Target::SqliteMemory);
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(Error::Url(format!(
                "database URL {url:?} has no file path (sqlite://relative.db or \
                 sqlite:///absolute/path.db)"
            )));
        }
        return Ok(Target::SqliteFile(PathBuf::from(path)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target::Postgres);
    }
    // Never echo a URL that may hold a password; the scheme is enough.
    let scheme = url.split_once(':').map_or("", |(s, _)| s);
    Err(Error::Url(format!(
        "unsupported database URL scheme {scheme:?}: use {SCHEMES}"
    )))
}

impl Database {
    /// Opens the database `url` names: `sqlite://relative/path.db`,
    /// `sqlite:///absolute/path.db`, `sqlite::memory:` (tests), `postgres://…` or
    /// `postgresql://…`.
    /// With `options.migrate` the schema is brought up to date; without, a schema that is not
    /// exactly this binary's is refused.
    pub async fn connect(url: &str, options: &DatabaseOptions) -> Result<Database> {
        Self::open(url, options, OnOpen::from_flag(options.migrate)).await
    }

    /// Opens `url` without migrating or checking the schema, for `sextant migrate`, which calls
    /// [`Database::migrate`] next; nothing else should use such a handle.
    pub async fn connect_unmigrated(url: &str, options: &DatabaseOptions) -> Result<Database> {
        Self::open(url, options, OnOpen::Nothing).await
    }

    async fn open(url: &str, options: &DatabaseOptions, on_open: OnOpen) -> Result<Database> {
        match target(url)? {
            Target::SqliteMemory => {
                if on_open == OnOpen::Check {
                    return Err(Error::Url(
                        "an in-memory database starts empty: it must be migrated".into(),
                    ));
                }
                Ok(Database::Sqlite(SqliteStore::open_in_memory().await?))
            }
            Target::SqliteFile(path) => Ok(Database::Sqlite(
                SqliteStore::open_file_with(&path, &options.sqlite, on_open).await?,
            )),
            Target::Postgres => {
                let pg = PgConnectOptions::from_str(url).map_err(|e| {
                    Error::Url(format!("invalid postgres URL: {}", redact(&e.to_string())))
                })?;
                Ok(Database::Postgres(
                    PostgresStore::connect_mode(
                        pg,
                        options.max_connections,
                        options.acquire_timeout,
                        on_open,
                    )
                    .await?,
                ))
            }
        }
    }

    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres(_) => "postgres",
        }
    }

    /// Whether the database lives in this process (SQLite): split roles refuse it.
    pub fn is_embedded(&self) -> bool {
        matches!(self, Database::Sqlite(_))
    }

    /// Applies the migrations the database lacks; returns the names of those applied
    /// (`0003 admin users, tokens and usage`). On Postgres under an advisory lock, so
    /// processes migrating at once apply each migration once.
    pub async fn migrate(&self) -> Result<Vec<String>> {
        match self {
            Database::Sqlite(s) => s.migrate().await,
            Database::Postgres(p) => p.migrate().await,
        }
    }

    /// Closes every connection.
    pub async fn close(&self) {
        match self {
            Database::Sqlite(s) => s.close().await,
            Database::Postgres(p) => p.close().await,
        }
    }

    /// Every block, live and retired, of one tenant or of all (repair).
    pub async fn list_blocks(&self, tenant: Option<&TenantId>) -> Result<Vec<BlockMeta>> {
        match self {
            Database::Sqlite(s) => s.list_blocks(tenant).await,
            Database::Postgres(p) => p.list_blocks(tenant).await,
        }
    }

    /// Forgets a block whatever its state; whether it was there.
    pub async fn remove(&self, tenant: &TenantId, block_id: &str) -> Result<bool> {
        match self {
            Database::Sqlite(s) => s.remove(tenant, block_id).await,
            Database::Postgres(p) => p.remove(tenant, block_id).await,
        }
    }

    /// The tenants with at least one block.
    pub async fn tenants(&self) -> Result<Vec<TenantId>> {
        match self {
            Database::Sqlite(s) => s.tenants().await,
            Database::Postgres(p) => p.tenants().await,
        }
    }

    /// Blocks and bytes per tenant and state (metrics).
    pub async fn stats(&self) -> Result<Vec<crate::TenantStats>> {
        match self {
            Database::Sqlite(s) => s.stats().await,
            Database::Postgres(p) => p.stats().await,
        }
    }

    /// The IDs of every tenant in `status`, ordered (e.g. the `deleting` ones a purge job
    /// works through).
    pub async fn tenants_in_status(&self, status: TenantStatus) -> Result<Vec<TenantId>> {
        let mut ids = Vec::new();
        let mut after = None;
        loop {
            let query = TenantQuery {
                status: Some(status),
                after,
                limit: TenantQuery::MAX_LIMIT,
            };
            let page = self.list_tenants_page(&query).await?;
            ids.extend(page.tenants.into_iter().map(|t| t.id));
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(ids),
            }
        }
    }

    /// Runs one statement outside any store method: for the conformance cases that prove the
    /// schema itself refuses what no method offers (changing the audit log).
    #[cfg(any(test, feature = "conformance"))]
    pub(crate) async fn execute_raw(&self, statement: &str) -> Result<u64> {
        let statement = sqlx::AssertSqlSafe(statement.to_owned());
        let done = match self {
            Database::Sqlite(s) => sqlx::query(statement)
                .execute(&s.pool)
                .await
                .map(|d| d.rows_affected()),
            Database::Postgres(p) => sqlx::query(statement)
                .execute(&p.pool)
                .await
                .map(|d| d.rows_affected()),
        };
        done.map_err(Error::db("raw statement"))
    }

    pub(crate) async fn bootstrap_tx(
        &self,
        pepper: &Pepper,
        admin_token: Option<&str>,
    ) -> Result<Option<Bootstrap>> {
        match self {
            Database::Sqlite(s) => s.bootstrap_tx(pepper, admin_token).await,
            Database::Postgres(p) => p.bootstrap_tx(pepper, admin_token).await,
        }
    }
}

/// A driver message with anything after a `password` word cut, to be safe in logs.
fn redact(message: &str) -> String {
    match message.to_ascii_lowercase().find("password") {
        Some(at) => format!("{}…", &message[..at]),
        None => message.to_owned(),
    }
}

/// On a first start (an empty database: no tenant, admin token or admin user) creates, in one
/// transaction, the tenant `single-tenant`, a read+write key for it and an admin token —
/// `admin_token` when the operator supplied one (`SEXTANT_ADMIN_TOKEN`, at least 32
/// characters), else a generated `sxa_…` returned to be shown once. Returns `None` when the
/// database is not empty; of two processes racing, exactly one bootstraps.
pub async fn bootstrap(
    db: &Database,
    pepper: &Pepper,
    admin_token: Option<&str>,
) -> Result<Option<Bootstrap>> {
    if !db.is_empty().await? {
        return Ok(None);
    }
    db.bootstrap_tx(pepper, admin_token).await
}

/// Implements a trait for [`Database`] by forwarding each listed method to the engine's store.
macro_rules! delegate {
    ($trait:ident { $($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)* }) => {
        #[async_trait]
        impl $trait for Database {
            $(
                async fn $name(&self, $($arg: $ty),*) -> $ret {
                    match self {
                        Database::Sqlite(s) => s.$name($($arg),*).await,
                        Database::Postgres(p) => p.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

delegate!(TenantStore {
    create_tenant(id: &TenantId, display_name: &str) -> Result<Tenant>;
    get_tenant(id: &TenantId) -> Result<Option<Tenant>>;
    list_tenants() -> Result<Vec<Tenant>>;
    list_tenants_page(query: &TenantQuery) -> Result<TenantPage>;
    set_status(id: &TenantId, status: TenantStatus) -> Result<Tenant>;
    set_limits(id: &TenantId, limits: LimitOverrides) -> Result<Tenant>;
    update_tenant(id: &TenantId, update: TenantUpdate, expected_version: Option<u64>)
        -> Result<Tenant>;
    purge_tenant(id: &TenantId) -> Result<bool>;
    create_key(key: NewKey, pepper: &Pepper) -> Result<(ApiKey, String)>;
    create_tenant_audited(id: &TenantId, display_name: &str, audit: AuditHook) -> Result<Tenant>;
    update_tenant_audited(id: &TenantId, update: TenantUpdate, expected_version: Option<u64>,
        audit: AuditHook) -> Result<Tenant>;
    create_key_audited(key: NewKey, pepper: &Pepper, audit: AuditHook)
        -> Result<(ApiKey, String)>;
    revoke_key_audited(key_id: &str, audit: AuditHook) -> Result<ApiKey>;
    list_keys(tenant: &TenantId) -> Result<Vec<ApiKey>>;
    revoke_key(key_id: &str) -> Result<ApiKey>;
    find_key(key_id: &str) -> Result<Option<KeyRecord>>;
    touch_key(key_id: &str, at: SystemTime) -> Result<()>;
    snapshot() -> Result<Snapshot>;
    revision() -> Result<u64>;
});

delegate!(AdminStore {
    create_admin_user(name: &str, password: &str) -> Result<AdminUser>;
    list_admin_users() -> Result<Vec<AdminUser>>;
    verify_admin_password(name: &str, password: &str) -> Result<bool>;
    create_admin_token(name: &str, expires_at: Option<SystemTime>, pepper: &Pepper)
        -> Result<(AdminToken, String)>;
    insert_admin_token_secret(name: &str, secret: &str, pepper: &Pepper)
        -> Result<AdminToken>;
    list_admin_tokens() -> Result<Vec<AdminToken>>;
    revoke_admin_token(token_id: &str) -> Result<AdminToken>;
    is_empty() -> Result<bool>;
});

delegate!(UsageStore {
    add_usage(rows: &[UsageRow]) -> Result<()>;
    record_storage(rows: &[StorageLevel]) -> Result<()>;
    usage(tenant: &TenantId, from: UtcDay, to: UtcDay) -> Result<Vec<UsageRow>>;
    period_totals(tenant: &TenantId, day: UtcDay) -> Result<PeriodUsage>;
    all_period_totals(day: UtcDay) -> Result<Vec<(TenantId, PeriodUsage)>>;
});

delegate!(AuditStore {
    append_audit(entry: NewAuditEntry) -> Result<AuditEntry>;
    list_audit(query: &AuditQuery) -> Result<Vec<AuditEntry>>;
});

delegate!(BlockCatalog {
    register(block: BlockMeta) -> sextant_model::Result<()>;
    candidates(tenant: &TenantId, range: TimeRange) -> sextant_model::Result<Vec<BlockMeta>>;
    swap(tenant: &TenantId, inputs: &[String], outputs: Vec<BlockMeta>)
        -> sextant_model::Result<()>;
    live_blocks(tenant: &TenantId) -> sextant_model::Result<Vec<BlockMeta>>;
    retire(tenant: &TenantId, ids: &[String]) -> sextant_model::Result<u64>;
    retired(tenant: &TenantId, before: SystemTime) -> sextant_model::Result<Vec<BlockMeta>>;
    forget(tenant: &TenantId, block_id: &str) -> sextant_model::Result<bool>;
    is_forgotten(tenant: &TenantId, block_id: &str) -> sextant_model::Result<bool>;
    tenants_with_blocks() -> sextant_model::Result<Vec<TenantId>>;
});

delegate!(Lease {
    acquire(name: &str, holder: &str, ttl: Duration)
        -> sextant_model::Result<Option<LeaseGuard>>;
    renew(guard: &LeaseGuard, ttl: Duration) -> sextant_model::Result<bool>;
    release(guard: &LeaseGuard) -> sextant_model::Result<()>;
});

#[cfg(test)]
mod tests;
